"""UNet attention computed a few heads at a time (exporter option --attention-slice).

Why: at 512x512 a UNet's self-attention at the 64x64 level has 4,096 tokens; the
score matrix of all heads at once (SD 2.1: 5 heads x 4096^2 f32 = 335 MB, then its
softmax) is the runtime's largest activation. Exported head by head, the runtime
holds one head's scores at a time. Measured on SD-Turbo's real int8 UNet with
`--low-memory` (README, "Real-size models"): peak during the step 1.64 -> 1.13 GB,
the step no slower, start-up about 20 s longer (tract optimizes more nodes).

diffusers' own SlicedAttnProcessor exports an empty baddbmm input per slice as a
4096^2 constant (2 GB for the UNet), so this processor uses plain matmul + softmax.
"""

from __future__ import annotations

import torch


class HeadSlicedAttention:
    """A diffusers attention processor: the same function as AttnProcessor, `heads`
    heads (of batch x heads) per slice. Only what SD-family UNets use: no attention
    mask, no spatial or group norm on the input."""

    def __init__(self, heads: int = 1):
        if heads < 1:
            raise ValueError("heads per slice must be at least 1")
        self.heads = heads

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None,
                 *args, **kwargs):
        if attention_mask is not None or attn.spatial_norm is not None or attn.group_norm is not None:
            raise ValueError("sliced attention supports UNet attention only (no mask, no input norm)")
        residual = hidden_states
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        outs = []
        for i in range(0, query.shape[0], self.heads):
            scores = torch.matmul(query[i:i + self.heads], key[i:i + self.heads].transpose(1, 2)) * attn.scale
            outs.append(torch.matmul(scores.softmax(-1), value[i:i + self.heads]))
        hidden_states = attn.batch_to_head_dim(torch.cat(outs, 0))
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(b, c, h, w)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor
