#!/usr/bin/env python3
"""A bundle for measuring the decoder's memory at the real SD size: the tiny
random text encoder and UNet of scripts/fixtures/make_diffusers_fixtures.py (sd-turbo
style, at a 64x64 latent) with a random-weight AutoencoderKL of the real SD
VAE architecture (49.5M-parameter decoder, 512x512 output). Not committed
(~250 MB); used for the README's peak-RSS table:

    python3 -m scripts.bench.make_rss_bundle /tmp/rss-bundle
    /usr/bin/time -v target/debug/edgepaint generate "a fox" --model /tmp/rss-bundle --output /tmp/o.png
    # the same with decoder tiles: add `tile = 32` and `tile_overlap = 8` under [decoder] in model.toml
"""

import argparse
import shutil
import tempfile

import torch

from scripts.export import export_diffusers
from scripts.fixtures import make_diffusers_fixtures as fx
from scripts.bench.count_sd_flops import VAE


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    a = ap.parse_args()
    from diffusers import AutoencoderKL, StableDiffusionPipeline

    fx.LATENT = 64
    vae = fx.seeded(AutoencoderKL(**VAE, scaling_factor=0.18215), 31)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=fx.text_encoder(), tokenizer=fx.tokenizer("!"),
                                   unet=fx.unet("sd2"), scheduler=fx.scheduler("euler-trailing"), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    tmp = tempfile.mkdtemp()
    try:
        pipe.save_pretrained(tmp)
        export_diffusers.export(tmp, a.out, "sd-turbo", name="rss-real-vae")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    with torch.no_grad():
        main()
