#!/usr/bin/env python3
"""Random-weight diffusers pipeline folders with the real architectures (issue 14).

Nothing can be downloaded here, so these stand in for the public checkpoints when
measuring speed and memory at the real size: every module is the real diffusers /
transformers class with the published architecture config (count_sd_flops.py) and
seeded random weights (make_diffusers_fixtures.seeded), saved in the
`save_pretrained` layout that scripts/export/export_diffusers.py reads. The pictures they
make are noise; their graphs, sizes and FLOPs are the real ones.

    python3 -m scripts.bench.make_real_size_pipelines runs/real [--only sd-turbo,taesd] [--verify]

Writes OUT_ROOT/NAME/ for each of

- sd-turbo   SD 2.1-base UNet (count_sd_flops.SD2_UNET, 865.9 M), OpenCLIP ViT-H text
             encoder as diffusers' SD 2.x text_encoder/config.json has it (CLIPTextModel,
             hidden 1024, 23 layers: SD 2.x drops the last of OpenCLIP-H's 24 and takes
             the penultimate output, 16 heads, MLP 4096, gelu, 77 positions, vocab 49408,
             projection 512), SD VAE (count_sd_flops.VAE, scaling 0.18215),
             EulerDiscreteScheduler "trailing" (epsilon), tokenizer padding with "!".
- lcm-sd15   SD 1.5 UNet (SD15_UNET) with time_cond_proj_dim = 256 (LCM-distilled, as
             LCM_Dreamshaper_v7), CLIP ViT-L/14 text encoder (768, 12 layers, 12 heads,
             MLP 3072, quick_gelu), SD VAE, LCMScheduler, LatentConsistencyModelPipeline,
             tokenizer padding with <|endoftext|>.
- sdxs-512   see SDXS below; the OpenCLIP-H text encoder of sd-turbo (same seed), an
             AutoencoderTiny (TAESD) as its vae/, DDIMScheduler "trailing"
             (set_alpha_to_one False: one step at t = 999, export_diffusers' documented
             estimate of what the checkpoint intends), tokenizer padding with "!".
- taesd      an AutoencoderTiny folder (diffusers defaults = the TAESD architecture,
             encoder + decoder, ~1.2 M parameters each), for --taesd.

SDXS-512: the SDXS paper (Song et al. 2024, "SDXS: Real-Time One-Step Latent Diffusion
Models with Image Conditions") describes SDXS-512 as SD 2.1-base distilled to one step,
with a UNet pruned by block-removal distillation to 319 M parameters (from 865 M) and
a tiny image decoder (~1.2 M parameters, TAESD-class) instead of the 49.5 M-parameter
VAE decoder. The checkpoint's unet/config.json could not be read here, so the UNet
below is the BK-SDM "tiny" block removal (one resnet + transformer per stage instead
of two, the innermost no-attention stage and the mid block removed: BK-SDM-Tiny is
323 M parameters for SD 1.5) applied to the SD 2.1-base UNet (linear projections,
head dims 5/10/20 i.e. 64 channels per head, cross-attention 1024). That gives
326.8 M parameters, 2.4 % above the published 319 M, and the same level structure
(3 resolutions, attention at all of them) as the block-removal family SDXS
distils from. It is a stand-in of the right size and shape class, not the
checkpoint's exact layout: speed and memory measured on it are estimates for
SDXS-512, within a few percent on FLOPs at most levels, not checked against the
real model.

Every module is built, seeded, saved and freed before the next, so the peak is one
module (the 865 M-parameter UNet: ~3.5 GB f32 plus its init); model_index.json is
written by hand in the layout DiffusionPipeline.save_pretrained writes. With
--verify each folder is loaded back with DiffusionPipeline.from_pretrained (all
modules at once). Seeds are fixed per module, so a rerun writes the same weights.
Folders are large (sd-turbo 5.2 GB, lcm-sd15 4.3 GB, sdxs-512 2.7 GB): write them
under runs/ (git-ignored), never commit them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import time

import torch

from scripts.fixtures import make_diffusers_fixtures as fx
from scripts.bench.count_sd_flops import SD2_UNET, SD15_UNET, VAE

SD_SCALING = 0.18215

# text encoders (transformers CLIPTextConfig kwargs), as the SD pipelines' text_encoder/config.json
OPENCLIP_H = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                  num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5,
                  projection_dim=512, bos_token_id=0, eos_token_id=2, pad_token_id=1)
CLIP_L = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
              num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
              projection_dim=768, bos_token_id=0, eos_token_id=2, pad_token_id=1)

# SDXS-512 stand-in: BK-SDM-Tiny block removal on the SD 2.1-base UNet (see the docstring).
SDXS_UNET = dict(sample_size=64, block_out_channels=(320, 640, 1280), layers_per_block=1,
                 down_block_types=("CrossAttnDownBlock2D",) * 3, up_block_types=("CrossAttnUpBlock2D",) * 3,
                 attention_head_dim=(5, 10, 20), cross_attention_dim=1024, use_linear_projection=True,
                 mid_block_type=None)

SEEDS = dict(text_encoder_h=101, text_encoder_l=102, unet_sd2=201, unet_sd15_lcm=202, unet_sdxs=203, vae=301,
             taesd=401)

PIPELINES = {
    # name: (pipeline class, text encoder, unet, vae, scheduler, pad)
    "sd-turbo": ("StableDiffusionPipeline", "h", "sd2", "vae", "euler-trailing", "!"),
    "lcm-sd15": ("LatentConsistencyModelPipeline", "l", "sd15-lcm", "vae", "lcm", "<|endoftext|>"),
    "sdxs-512": ("StableDiffusionPipeline", "h", "sdxs", "taesd", "ddim-trailing", "!"),
    "taesd": None,
}


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def params(m):
    return sum(p.numel() for p in m.parameters())


def build_text_encoder(kind):
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg, seed = (OPENCLIP_H, SEEDS["text_encoder_h"]) if kind == "h" else (CLIP_L, SEEDS["text_encoder_l"])
    return fx.seeded(CLIPTextModel(CLIPTextConfig(**cfg)), seed)


def build_unet(kind):
    from diffusers import UNet2DConditionModel

    if kind == "sd2":
        return fx.seeded(UNet2DConditionModel(**SD2_UNET), SEEDS["unet_sd2"])
    if kind == "sd15-lcm":
        return fx.seeded(UNet2DConditionModel(**SD15_UNET, time_cond_proj_dim=256), SEEDS["unet_sd15_lcm"])
    if kind == "sdxs":
        return fx.seeded(UNet2DConditionModel(**SDXS_UNET), SEEDS["unet_sdxs"])
    raise ValueError(kind)


def build_vae(kind):
    from diffusers import AutoencoderKL, AutoencoderTiny

    if kind == "vae":
        return fx.seeded(AutoencoderKL(**VAE, scaling_factor=SD_SCALING), SEEDS["vae"])
    # diffusers' AutoencoderTiny defaults are TAESD (scaling_factor 1.0, as madebyollin/taesd ships it)
    return fx.seeded(AutoencoderTiny(), SEEDS["taesd"])


def save_module(module, path):
    module.save_pretrained(path)
    n = params(module)
    del module
    gc.collect()
    return n


def make_pipeline(name, out_root):
    import diffusers
    import transformers

    cls, te_kind, unet_kind, vae_kind, sched_kind, pad = PIPELINES[name]
    out = os.path.join(out_root, name)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    info = {}
    t = time.time()
    info["text_encoder"] = save_module(build_text_encoder(te_kind), os.path.join(out, "text_encoder"))
    log(f"{name}: text_encoder {info['text_encoder'] / 1e6:.1f} M parameters ({time.time() - t:.0f} s)")
    t = time.time()
    info["unet"] = save_module(build_unet(unet_kind), os.path.join(out, "unet"))
    log(f"{name}: unet {info['unet'] / 1e6:.1f} M parameters ({time.time() - t:.0f} s)")
    t = time.time()
    info["vae"] = save_module(build_vae(vae_kind), os.path.join(out, "vae"))
    log(f"{name}: vae {info['vae'] / 1e6:.1f} M parameters ({time.time() - t:.0f} s)")
    sched = fx.scheduler(sched_kind)
    sched.save_pretrained(os.path.join(out, "scheduler"))
    tok = fx.tokenizer(pad)
    tok.save_pretrained(os.path.join(out, "tokenizer"))
    # the compact vocab.json the fixtures use (same content as save_pretrained's)
    shutil.copyfile(os.path.join(fx.HF_TOKENIZER, "vocab.json"), os.path.join(out, "tokenizer", "vocab.json"))
    index = {"_class_name": cls, "_diffusers_version": diffusers.__version__,
             "feature_extractor": [None, None], "requires_safety_checker": False, "safety_checker": [None, None],
             "scheduler": ["diffusers", type(sched).__name__], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL" if vae_kind == "vae" else "AutoencoderTiny"]}
    if cls == "LatentConsistencyModelPipeline":
        index["image_encoder"] = [None, None]
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2, sort_keys=True)
    info.update(pipeline=cls, scheduler=type(sched).__name__, pad=pad, transformers=transformers.__version__,
                seeds=SEEDS, random_weights=True)
    with open(os.path.join(out, "real_size.json"), "w") as f:
        json.dump(info, f, indent=1)
    return out


def make_taesd(out_root):
    out = os.path.join(out_root, "taesd")
    if os.path.exists(out):
        shutil.rmtree(out)
    n = save_module(build_vae("taesd"), out)
    log(f"taesd: AutoencoderTiny {n / 1e6:.2f} M parameters")
    return out


def verify(path):
    from diffusers import AutoencoderTiny, DiffusionPipeline

    t = time.time()
    if os.path.basename(os.path.normpath(path)) == "taesd":
        m = AutoencoderTiny.from_pretrained(path)
        with torch.no_grad():
            img = m.decode(torch.zeros(1, 4, 8, 8), return_dict=False)[0]
        log(f"verify {path}: AutoencoderTiny decodes 8x8 -> {tuple(img.shape)}")
        return
    pipe = DiffusionPipeline.from_pretrained(path)
    log(f"verify {path}: {type(pipe).__name__} loads ({time.time() - t:.0f} s): "
        + ", ".join(f"{k} {type(v).__name__}" for k, v in pipe.components.items() if v is not None))
    del pipe
    gc.collect()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("out_root")
    ap.add_argument("--only", help="comma-separated subset of " + ",".join(PIPELINES))
    ap.add_argument("--verify", action="store_true", help="load each folder back with diffusers")
    a = ap.parse_args(argv)
    names = a.only.split(",") if a.only else list(PIPELINES)
    for n in names:
        if n not in PIPELINES:
            raise SystemExit(f"unknown pipeline {n!r} (have {', '.join(PIPELINES)})")
    os.makedirs(a.out_root, exist_ok=True)
    torch.set_grad_enabled(False)
    for n in names:
        path = make_taesd(a.out_root) if n == "taesd" else make_pipeline(n, a.out_root)
        if a.verify:
            verify(path)


if __name__ == "__main__":
    main()
