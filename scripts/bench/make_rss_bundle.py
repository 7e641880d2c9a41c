#!/usr/bin/env python3
"""A bundle for measuring the decoder's memory at the real SD size: the tiny
random text encoder and UNet of scripts/make_diffusers_fixtures.py (sd-turbo
style, at a 64x64 latent) with a random-weight AutoencoderKL of the real SD
VAE architecture (49.5M-parameter decoder, 512x512 output). Not committed
(~250 MB); used for the README's peak-RSS table:

    python3 scripts/make_rss_bundle.py /tmp/rss-bundle
    /usr/bin/time -v target/debug/edgepaint generate "a fox" --model /tmp/rss-bundle --output /tmp/o.png
    # the same with decoder tiles: add `tile = 32` and `tile_overlap = 8` under [decoder] in model.toml
"""

import argparse
import os
import shutil
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_diffusers  # noqa: E402
import make_diffusers_fixtures as fx  # noqa: E402
from count_sd_flops import VAE  # noqa: E402


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
