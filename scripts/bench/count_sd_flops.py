#!/usr/bin/env python3
"""FLOPs and parameter counts of real-size SD-family components, for the README's
estimates ("Bring your own model"). Models are built on torch's meta device from
their published architecture configs (no weights, nothing computed), and
torch.utils.flop_counter counts one forward pass (matmul/conv FLOPs, 2 per MAC).

    python3 -m scripts.bench.count_sd_flops            # prints a markdown table

The configs below are the diffusers configs of the public checkpoints as far as
the architecture goes (sizes, heads, blocks); they are written out here since
nothing can be downloaded.
"""

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

SD2_UNET = dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                attention_head_dim=(5, 10, 20, 20), cross_attention_dim=1024, use_linear_projection=True)
SD15_UNET = dict(sample_size=64, block_out_channels=(320, 640, 1280, 1280), layers_per_block=2,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
                 attention_head_dim=8, cross_attention_dim=768)
# BK-SDM-Tiny: SD 1.5 with one resnet/attention per down block, no mid block and the
# innermost (no-attention) blocks removed.
BK_TINY_UNET = dict(sample_size=64, block_out_channels=(320, 640, 1280), layers_per_block=1,
                    down_block_types=("CrossAttnDownBlock2D",) * 3, up_block_types=("CrossAttnUpBlock2D",) * 3,
                    attention_head_dim=8, cross_attention_dim=768, mid_block_type=None)
VAE = dict(block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
           up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, layers_per_block=2, sample_size=512)


def count(module, *args, **kw):
    with FlopCounterMode(display=False) as fc:
        module(*args, **kw)
    return fc.get_total_flops()


def params(m):
    return sum(p.numel() for p in m.parameters())


def main():
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    from diffusers import AutoencoderKL, AutoencoderTiny, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    rows = []
    with torch.device("meta"):
        for name, cfg, ctx in [("UNet SD 2.x / SD-Turbo", SD2_UNET, 1024), ("UNet SD 1.5 (LCM)", SD15_UNET, 768),
                               ("UNet BK-SDM-Tiny", BK_TINY_UNET, 768)]:
            u = UNet2DConditionModel(**cfg).eval()
            f = count(u, torch.zeros(1, 4, 64, 64), torch.tensor([999.0]), torch.zeros(1, 77, ctx))
            rows.append((name + ", 64x64 latent", params(u), f))
        for name, hidden, layers, heads, inter in [("text encoder CLIP ViT-L (SD 1.5)", 768, 12, 12, 3072),
                                                   ("text encoder OpenCLIP ViT-H (SD 2.x)", 1024, 23, 16, 4096)]:
            te = CLIPTextModel(CLIPTextConfig(vocab_size=49408, hidden_size=hidden, num_hidden_layers=layers,
                                              num_attention_heads=heads, intermediate_size=inter,
                                              max_position_embeddings=77)).eval()
            rows.append((name, params(te), count(te, torch.zeros(1, 77, dtype=torch.long))))
        vae = AutoencoderKL(**VAE).eval()
        dec = sum(p.numel() for n, p in vae.named_parameters() if n.startswith(("decoder", "post_quant")))
        rows.append(("VAE decoder, 512x512", dec, count(lambda z: vae.decode(z), torch.zeros(1, 4, 64, 64))))
        tiny = AutoencoderTiny().eval()
        dec = sum(p.numel() for n, p in tiny.named_parameters() if n.startswith("decoder"))
        rows.append(("TAESD decoder, 512x512", dec, count(lambda z: tiny.decode(z), torch.zeros(1, 4, 64, 64))))
    print("| component | parameters | GFLOP per call |")
    print("|---|---|---|")
    for name, p, f in rows:
        print(f"| {name} | {p / 1e6:.1f} M | {f / 1e9:.0f} |")


if __name__ == "__main__":
    main()
