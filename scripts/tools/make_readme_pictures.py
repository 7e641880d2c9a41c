#!/usr/bin/env python3
"""The pictures in the README and the model card, made by the current binary
with the shipped model:

    docs/pictures/samples.png      six prompts (scenes vocabulary, fixed seeds),
                                   1 step in the top row, 4 steps below
    docs/pictures/kiosk-320x240.png  the Pi Zero 2 board's 320x240 screen, as
                                   the kiosk draws it (png display back-end),
                                   after one prompt from stdin
    docs/pictures/best-of.png      `generate --best-of 4`: per prompt (row) the
                                   four candidates with their scores, the kept
                                   one framed in green

    cargo build --release && python3 -m scripts.tools.make_readme_pictures

Run it again after changing the model or the kiosk's screen. Needs numpy and
pillow (scripts/requirements.txt).
"""

import argparse
import json
import os
import subprocess
import tempfile

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "docs", "pictures")

# (prompt, seed): every attribute kind of the scenes world (docs/scenes.md) at least once.
SAMPLES = [
    ("a red house on a snowy field at night", 7),
    ("a yellow boat on the sea at sunset", 3),
    ("a tree on a green meadow at noon with the sun on the left", 11),
    ("daytime desert with mountains and the sun on the right", 5),
    ("a white boat on the lake at dusk with clouds", 2),
    ("night in the dunes with hills and a full moon on the left", 9),
]
KIOSK_PROMPT = "a red house on a snowy field at night"
BEST_OF = [
    ("a tree on a green meadow at noon with the sun on the left", 11),
    ("daytime desert with mountains and the sun on the right", 5),
    ("a red house on the right in the snow at night with the moon on the left", 21),
]


def generate(binary, model, prompt, seed, steps, path):
    out = subprocess.run([binary, "generate", prompt, "--seed", str(seed), "--steps", str(steps),
                          "--model", model, "--output", path, "--json"],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def sample_grid(binary, model, tmp):
    rows = []
    for steps in (1, 4):
        row = []
        for i, (prompt, seed) in enumerate(SAMPLES):
            path = os.path.join(tmp, f"s{steps}-{i}.png")
            generate(binary, model, prompt, seed, steps, path)
            row.append(np.asarray(Image.open(path).convert("RGB")))
        rows.append(np.concatenate(row, axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def best_of_grid(binary, model, tmp, n=4, steps=1):
    """Each prompt's candidates (as `generate --best-of` makes them, by seed) with their
    scores under them; the one `--best-of` kept framed in green."""
    from PIL import ImageDraw

    rows = []
    for i, (prompt, seed) in enumerate(BEST_OF):
        best = subprocess.run([binary, "generate", prompt, "--seed", str(seed), "--steps", str(steps), "--best-of",
                               str(n), "--model", model, "--output", os.path.join(tmp, f"best-{i}.png"), "--json"],
                              check=True, capture_output=True, text=True)
        result = json.loads(best.stdout)
        cells = []
        for c in result["best_of"]["candidates"]:
            path = os.path.join(tmp, f"cand-{i}-{c['seed']}.png")
            generate(binary, model, prompt, c["seed"], steps, path)
            cell = Image.new("RGB", (136, 152), (255, 255, 255))
            if c["seed"] == result["seed"]:
                ImageDraw.Draw(cell).rectangle([0, 0, 135, 135], fill=(40, 170, 60))
            cell.paste(Image.open(path).convert("RGB"), (4, 4))
            ImageDraw.Draw(cell).text((4, 138), f"seed {c['seed']}: {c['score']:.3f}", fill=(0, 0, 0))
            cells.append(np.asarray(cell))
        rows.append(np.concatenate(cells, axis=1))
    return Image.fromarray(np.concatenate(rows, axis=0))


def kiosk_frame(binary, model, tmp):
    frames, pictures = os.path.join(tmp, "frames"), os.path.join(tmp, "kiosk-out")
    subprocess.run([binary, "kiosk", "--board", os.path.join(REPO, "board", "pizero2w-ili9341-320x240.toml"),
                    "--model", model, "--stdin", "--no-serial", "--no-buttons",
                    "--display", f"png:{frames}", "--output", pictures],
                   input=f"/seed 7\n{KIOSK_PROMPT}\n", check=True, capture_output=True, text=True)
    names = sorted(f for f in os.listdir(frames) if f.endswith(".png"))
    if not names:
        raise SystemExit(f"the kiosk wrote no frame into {frames}")
    # The last frame: the finished picture with its prompt and status line.
    return Image.open(os.path.join(frames, names[-1])).convert("RGB")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "edgepaint"))
    ap.add_argument("--model", default=os.path.join(REPO, "models", "scenes"))
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sample_grid(a.binary, a.model, tmp).save(os.path.join(a.out, "samples.png"), optimize=True)
        kiosk_frame(a.binary, a.model, tmp).save(os.path.join(a.out, "kiosk-320x240.png"), optimize=True)
        best_of_grid(a.binary, a.model, tmp).save(os.path.join(a.out, "best-of.png"), optimize=True)
    print(f"wrote {a.out}/samples.png, kiosk-320x240.png and best-of.png")


if __name__ == "__main__":
    main()
