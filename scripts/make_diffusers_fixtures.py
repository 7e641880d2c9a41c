#!/usr/bin/env python3
"""Tiny-random diffusers pipelines of each supported family, exported with
scripts/export_diffusers.py, and diffusers' own outputs as golden vectors for
tests/diffusers_parity.rs.

    python3 scripts/make_diffusers_fixtures.py [--out tests/fixtures/diffusers] [--keep-pipelines DIR]

For each family a pipeline is built from the real classes (CLIPTextModel,
UNet2DConditionModel with cross-attention, AutoencoderKL or AutoencoderTiny, the
family's scheduler) with tiny configs and seeded random weights, saved with
`save_pretrained`, exported by `export_diffusers.export` (f32 + int8), and run
by diffusers' own pipeline (StableDiffusionPipeline / LatentConsistencyModelPipeline)
from fixed latents. Hooks record, per family, in OUT/FAMILY/reference/:

- ids.npy                 CLIPTokenizer ids of the prompt (and uncond_ids.npy with guidance)
- text.npy                text encoder output for the prompt (uncond_text.npy with guidance)
- latents.npy             the N(0,1) latents handed to the pipeline (`latents=`)
- step{i}_sample.npy      latents entering step i
- step{i}_model_input.npy what the UNet got (scale_model_input of the sample)
- step{i}_unet.npy        the UNet output for the prompt (step{i}_unet_uncond.npy with guidance)
- step{i}_noise.npy       the noise LCMScheduler injected at step i (if any)
- step{i}_prev.npy        scheduler.step's prev_sample
- final.npy               the latents the pipeline decodes
- decoded.npy             vae.decode(final / scaling_factor) ([-1, 1], NCHW)
- image.npy               the pipeline's output_type="np" picture (HWC, 0..1)
- ort_int8_*.npy          onnxruntime on the int8 graphs: text, step-0 UNet call, decoder
- tile_latents.npy, tile_decoded_untiled.npy   a larger latent for the tiled-decode test
- meta.json               prompt, steps, timesteps, guidance, family
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import export_diffusers  # noqa: E402

OUT = os.path.join(ROOT, "tests", "fixtures", "diffusers")
HF_TOKENIZER = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "hf")
PROMPT = "a photo of a red fox in the snow, 35mm, golden hour"
L = 77
HIDDEN = 8          # text hidden size: the 49408-token embedding dominates the fixture size
LATENT = 8          # latent side; the factor-8 decoders make 64x64 pictures
# A random UNet's prediction is far from the true noise, so its "clean" latents are
# ~15x too large; this scaling brings the decoder's input to a real VAE's range
# instead of saturating it (the export reads it from the config like any other).
DECODER_SCALING = 5.0

FAMILIES = {
    # family: (unet style, decoder, scheduler, steps run, guidance, pad token)
    "sd-turbo": dict(unet="sd2", decoder="vae", scheduler="euler-trailing", steps=4, guidance=0.0, pad="!"),
    "sdxs": dict(unet="sd2", decoder="taesd", scheduler="ddim-trailing", steps=1, guidance=0.0, pad="!"),
    "lcm": dict(unet="lcm", decoder="vae", scheduler="lcm", steps=4, guidance=8.5, pad="<|endoftext|>"),
    "bk-sdm-tiny-lcm": dict(unet="bk-tiny", decoder="taesd", scheduler="lcm", steps=2, guidance=1.5,
                            pad="<|endoftext|>"),
    # sd-turbo's networks with Euler "leading" (SD 1.x/2.x scheduler configs): other
    # timesteps and a larger initial noise (sqrt(sigma_max^2 + 1)).
    "euler-leading": dict(unet="sd2", decoder="vae", scheduler="euler-leading", steps=4, guidance=0.0, pad="!"),
}
EXPORT_FAMILY = {"sd-turbo": "sd-turbo", "sdxs": "sdxs", "lcm": "lcm", "bk-sdm-tiny-lcm": "lcm-lora",
                 "euler-leading": "sd-turbo"}


def seeded(module, seed):
    """Re-draw every parameter from a seeded generator (deterministic across runs and
    big enough that no layer is a near no-op)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            if p.ndim == 1:
                if "norm" in name and name.endswith("weight"):
                    p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.05 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
    return module.eval()


def text_encoder():
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = CLIPTextConfig(vocab_size=49408, hidden_size=HIDDEN, intermediate_size=16, num_hidden_layers=2,
                         num_attention_heads=2, max_position_embeddings=L, hidden_act="quick_gelu",
                         bos_token_id=49406, eos_token_id=49407, pad_token_id=1, projection_dim=HIDDEN)
    return seeded(CLIPTextModel(cfg), 11)


def tokenizer(pad):
    from transformers import CLIPTokenizer

    return CLIPTokenizer(os.path.join(HF_TOKENIZER, "vocab.json"), os.path.join(HF_TOKENIZER, "merges.txt"),
                         pad_token=pad, model_max_length=L)


def unet(style):
    from diffusers import UNet2DConditionModel

    common = dict(sample_size=LATENT, in_channels=4, out_channels=4, layers_per_block=1, norm_num_groups=4,
                  cross_attention_dim=HIDDEN)
    if style == "sd2":  # SD 2.x / SD-Turbo: linear projections, per-block head dims
        cfg = dict(block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=(2, 4),
                   use_linear_projection=True)
    elif style == "lcm":  # SD 1.5 + LCM distillation: conv projections, guidance embedding
        cfg = dict(block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                   up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4,
                   time_cond_proj_dim=16)
    elif style == "bk-tiny":  # BK-SDM-Tiny: no mid block
        cfg = dict(block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                   up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), attention_head_dim=4, mid_block_type=None)
    else:
        raise ValueError(style)
    return seeded(UNet2DConditionModel(**common, **cfg), 21 + len(style))


def decoder(kind):
    from diffusers import AutoencoderKL, AutoencoderTiny

    if kind == "vae":
        vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                            up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=4,
                            layers_per_block=1, sample_size=LATENT * 8, scaling_factor=DECODER_SCALING)
        return seeded(vae, 31)
    vae = AutoencoderTiny(encoder_block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
                          num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1), latent_channels=4,
                          scaling_factor=DECODER_SCALING)
    return seeded(vae, 41)


def scheduler(kind):
    from diffusers import DDIMScheduler, EulerDiscreteScheduler, LCMScheduler

    sd = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
    if kind == "euler-trailing":
        return EulerDiscreteScheduler(**sd, timestep_spacing="trailing", prediction_type="epsilon")
    if kind == "euler-leading":
        return EulerDiscreteScheduler(**sd, timestep_spacing="leading", steps_offset=1, prediction_type="epsilon")
    if kind == "ddim-trailing":
        return DDIMScheduler(**sd, timestep_spacing="trailing", set_alpha_to_one=False, clip_sample=False)
    return LCMScheduler(**sd, set_alpha_to_one=True, clip_sample=False, timestep_scaling=10.0,
                        original_inference_steps=50)


def build_pipeline(family):
    from diffusers import LatentConsistencyModelPipeline, StableDiffusionPipeline

    f = FAMILIES[family]
    parts = dict(vae=decoder(f["decoder"]), text_encoder=text_encoder(), tokenizer=tokenizer(f["pad"]),
                 unet=unet(f["unet"]), scheduler=scheduler(f["scheduler"]), safety_checker=None,
                 feature_extractor=None, requires_safety_checker=False)
    cls = LatentConsistencyModelPipeline if family == "lcm" else StableDiffusionPipeline
    return cls(**parts)


class Recorder:
    """Hooks on a pipeline's text encoder, UNet, scheduler and VAE decode."""

    def __init__(self, pipe):
        self.text, self.unet_calls, self.steps, self.decoded, self.noise = [], [], [], [], []
        pipe.text_encoder.register_forward_hook(lambda m, a, o: self.text.append((a[0].clone(), o[0].detach().clone())))

        def unet_hook(m, args, kwargs, out):
            self.unet_calls.append((args[0].detach().clone(), args[1], out[0].detach().clone()))
        pipe.unet.register_forward_hook(unet_hook, with_kwargs=True)
        step = pipe.scheduler.step

        def record_step(model_output, timestep, sample, *a, **kw):
            res = step(model_output, timestep, sample, *a, **kw)
            prev = res[0] if isinstance(res, tuple) else res.prev_sample
            denoised = res[1] if isinstance(res, tuple) and len(res) > 1 else getattr(res, "denoised", None)
            self.steps.append(dict(t=float(timestep), model_output=model_output.detach().clone(),
                                   sample=sample.detach().clone(), prev=prev.detach().clone(),
                                   denoised=None if denoised is None else denoised.detach().clone()))
            return res
        pipe.scheduler.step = record_step
        decode = pipe.vae.decode

        def record_decode(z, *a, **kw):
            res = decode(z, *a, **kw)
            self.decoded.append((z.detach().clone(), (res[0] if isinstance(res, tuple) else res.sample).detach().clone()))
            return res
        pipe.vae.decode = record_decode
        import diffusers.schedulers.scheduling_lcm as lcm_mod
        randn = lcm_mod.randn_tensor

        def record_randn(*a, **kw):
            n = randn(*a, **kw)
            self.noise.append((len(self.steps), n.clone()))
            return n
        lcm_mod.randn_tensor = record_randn


def ort_run(path, feeds):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def make(family, out_root, pipelines_root, log=print):
    f = FAMILIES[family]
    torch.manual_seed(0)
    pipe = build_pipeline(family)
    pdir = os.path.join(pipelines_root, family)
    pipe.save_pretrained(pdir)
    # save_pretrained pretty-prints vocab.json; the compact original has the same
    # content and is already committed (git stores it once).
    shutil.copyfile(os.path.join(HF_TOKENIZER, "vocab.json"), os.path.join(pdir, "tokenizer", "vocab.json"))
    bdir = os.path.join(out_root, family)
    if os.path.exists(bdir):
        shutil.rmtree(bdir)
    export_diffusers.export(pdir, bdir, EXPORT_FAMILY[family], guidance=max(f["guidance"], 1.0),
                            scheduler=None, name=f"tiny-{family}",
                            log=log)
    for junk in ("export.json",):
        os.remove(os.path.join(bdir, junk))
    # Reload from the saved folder: the reference runs exactly what was exported.
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(pdir).to(torch.float32)
    rec = Recorder(pipe)
    ref = os.path.join(bdir, "reference")
    os.makedirs(ref)

    def save(name, x):
        a = x.detach().numpy() if torch.is_tensor(x) else np.asarray(x)
        np.save(os.path.join(ref, name + ".npy"), a.astype(np.int64 if a.dtype.kind in "iu" else np.float32))

    g = torch.Generator().manual_seed(1234)
    latents = torch.randn(1, 4, LATENT, LATENT, generator=g)
    kw = dict(num_inference_steps=f["steps"], guidance_scale=f["guidance"], latents=latents.clone(),
              output_type="np", generator=torch.Generator().manual_seed(99))
    with torch.no_grad():
        image = pipe(PROMPT, **kw).images
    cfg = f["guidance"] > 1.0 and family != "lcm"
    save("latents", latents)
    # Text: the pipeline encodes the prompt first, then (with CFG) the empty prompt.
    save("ids", rec.text[0][0])
    save("text", rec.text[0][1])
    if cfg:
        save("uncond_ids", rec.text[1][0])
        save("uncond_text", rec.text[1][1])
    noise_at = {i: n for i, n in rec.noise}
    for i, s in enumerate(rec.steps):
        x_in, t, out = rec.unet_calls[i]
        save(f"step{i}_sample", s["sample"])
        if cfg:  # diffusers batches [uncond, cond]
            save(f"step{i}_model_input", x_in[1:])
            save(f"step{i}_unet", out[1:])
            save(f"step{i}_unet_uncond", out[:1])
        else:
            save(f"step{i}_model_input", x_in)
            save(f"step{i}_unet", out)
        save(f"step{i}_guided", s["model_output"])
        save(f"step{i}_prev", s["prev"])
        if i in noise_at:
            save(f"step{i}_noise", noise_at[i])
    z, dec = rec.decoded[-1]
    scaling = pipe.vae.config.scaling_factor
    save("final", z * scaling)
    save("decoded", dec)
    save("image", image[0])

    # onnxruntime on the int8 graphs (tract must match these closely).
    ids = rec.text[0][0].numpy().astype(np.int64)
    save("ort_int8_text", ort_run(os.path.join(bdir, "text_encoder.int8.onnx"), {"input_ids": ids}))
    x0, t0, _ = rec.unet_calls[0]
    x0 = (x0[1:] if cfg else x0).numpy()
    feeds = {"sample": x0, "timestep": np.array([float(t0)], np.float32),
             "encoder_hidden_states": rec.text[0][1].numpy()}
    save("ort_int8_unet0", ort_run(os.path.join(bdir, "denoiser.int8.onnx"), feeds))
    save("ort_int8_decoded", ort_run(os.path.join(bdir, "decoder.int8.onnx"), {"latents": z.numpy()}))
    save("ort_f32_unet0", ort_run(os.path.join(bdir, "denoiser.onnx"), feeds))

    # Tiled decode: a latent larger than the tile, decoded whole by diffusers' decoder.
    tl = torch.randn(1, 4, 12, 10, generator=g)
    with torch.no_grad():
        whole = pipe.vae.decode(tl, return_dict=False)[0]
    save("tile_latents", tl)
    save("tile_decoded_untiled", whole)

    meta = dict(family=family, export_family=EXPORT_FAMILY[family], prompt=PROMPT, steps=f["steps"],
                guidance=f["guidance"], cfg=cfg, timesteps=[s["t"] for s in rec.steps],
                scaling_factor=scaling, pipeline=type(pipe).__name__, scheduler=type(pipe.scheduler).__name__,
                decoder=type(pipe.vae).__name__)
    with open(os.path.join(ref, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=1)
    log(f"{family}: {meta['pipeline']} + {meta['scheduler']} + {meta['decoder']}, timesteps {meta['timesteps']}")


def pointwise_decoder(path):
    """A decoder whose output pixel depends on one latent pixel only (1x1 conv, nearest
    8x upsampling, tanh): tiling must reproduce it exactly, which isolates the tiling
    and blending arithmetic of src/pipeline/tiled_decode.rs from receptive-field effects."""

    class Pointwise(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 3, 1)

        def forward(self, latents):
            return torch.tanh(torch.nn.functional.interpolate(self.conv(latents), scale_factor=8.0, mode="nearest"))

    torch.manual_seed(5)
    torch.onnx.export(Pointwise().eval(), (torch.zeros(1, 4, 8, 8),), path, opset_version=17, dynamo=False,
                      input_names=["latents"], output_names=["image"],
                      dynamic_axes={"latents": {2: "h", 3: "w"}, "image": {2: "H", 3: "W"}})


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--keep-pipelines", help="save the tiny pipelines here (default: a temporary folder)")
    ap.add_argument("--family", action="append", choices=sorted(FAMILIES), help="only these (default: all)")
    a = ap.parse_args(argv)
    tmp = a.keep_pipelines or tempfile.mkdtemp(prefix="edgepaint-tiny-pipelines-")
    os.makedirs(a.out, exist_ok=True)
    for fam in a.family or FAMILIES:
        make(fam, a.out, tmp)
    pointwise_decoder(os.path.join(a.out, "pointwise_decoder.onnx"))
    if not a.keep_pipelines:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
