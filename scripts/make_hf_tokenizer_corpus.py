#!/usr/bin/env python3
"""A >= 1,000-prompt corpus with the ids of transformers' CLIPTokenizer, the
tokenizer diffusers' Stable Diffusion pipelines load, for tests/tokenizer_hf_corpus.rs.

    python3 scripts/make_hf_tokenizer_corpus.py [--out tests/fixtures/tokenizer/hf_corpus.jsonl]

The tokenizer is built from tests/fixtures/tokenizer/hf/{vocab,merges} (the
openai CLIP vocabulary that open_clip ships, written in the HF layout by
scripts/make_tokenizer_fixture.py) with model_max_length 77, in the two pad
set-ups SD checkpoints ship: SD 1.x (pad "<|endoftext|>" = 49407) and SD 2.x /
SD-Turbo (pad "!" = 0, which HF also cuts out of prompts as a special token).
Each line: {"text", "sd15": ids, "sd2": ids}, ids as
`tokenizer(text, padding="max_length", max_length=77, truncation=True).input_ids`
with the trailing pad ids removed (padding back to 77 restores exactly these ids).

Prompts: every case of the open_clip golden fixture (tricky punctuation,
unicode, numbers, HTML, long prompts), generated scene prompts, prompts with
typed special tokens and "!" runs, long prompts around the 77-token limit and
seeded random character soup. Inputs that ftfy's fix_encoding (mojibake
repair, not ported to Rust) would change are left out, as in golden.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

import ftfy

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import make_tokenizer_fixture as otf  # noqa: E402

HF = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "hf")
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizer", "hf_corpus.jsonl")

EXTRA = [
    "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "a<|endoftext|>b", "<|STARTOFTEXT|> cat",
    "<|endoftext|><|endoftext|>", "<|endoftext", "<|end of text|>", "＜|endoftext|＞ fullwidth",
    "!", "!!", "!!!", "wow!", "wow!!!", "hello! world!", "!important", "a!b!c", "¡hola!", "！fullwidth",
    "&amp;", "&amp;amp;", "fish &amp; chips <b>", "&lt;|endoftext|&gt;", "&quot;quoted&quot;", "&#33;",
    "it's", "IT'S", "don’t", "we'RE", "rock 'n' roll", "'s'", "''''",
    "1girl, (masterpiece:1.2), ((best quality)), [worse quality], <lora:x:0.7>",
    "photo of a cat, 8k, uhd, dslr, soft lighting, high quality, film grain, Fujifilm XT3",
    "RAW photo, a close up portrait photo of 26 y.o woman in wastelander clothes, long haircut, pale skin",
    "ultra-realistic!!! photo of a 🦊 fox in the ❄️ snow — golden hour, f/1.8, 85mm",
    "tiếng việt, 中文, 日本語, 한국어, العربية, עברית, русский, ελληνικά",
    "\t tabs \n newlines \r\n crlf \u00a0nbsp \u3000ideographic space ",
    "",
    "   ",
]


def long_prompts(rng: random.Random, n: int) -> list[str]:
    """Prompts near and past 77 tokens (truncation keeps the end token last)."""
    words = [w for p in otf.SUBJECTS + otf.PLACES for w in p.split()]
    out = []
    for _ in range(n):
        k = rng.randint(50, 110)
        out.append(" ".join(rng.choice(words) for _ in range(k)) + rng.choice(["", "!", ", 8k", "..."]))
    return out


def bang_prompts(rng: random.Random, n: int) -> list[str]:
    """Scene prompts with "!" in many positions (a special token for SD 2.x tokenizers)."""
    out = []
    for _ in range(n):
        p = f"{rng.choice(otf.SUBJECTS)} {rng.choice(otf.PLACES)}"
        words = p.split()
        i = rng.randrange(len(words))
        words[i] = words[i] + "!" * rng.randint(1, 3)
        out.append(" ".join(words) + rng.choice(["", "!", " !", "!?", "?!"]))
    return out


def corpus() -> list[str]:
    rng = random.Random(2026)
    prompts = (list(otf.all_prompts()) + EXTRA + otf.scene_prompts(rng, 300) + long_prompts(rng, 60)
               + bang_prompts(rng, 120) + otf.fuzz_prompts(rng, 300))
    seen, out = set(), []
    for p in prompts:
        if p in seen:
            continue
        seen.add(p)
        # The Rust cleaning leaves out ftfy's fix_encoding (src/tokenizer/clean.rs).
        if ftfy.fix_text(p) != ftfy.fix_text(p, fix_encoding=False):
            continue
        out.append(p)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args(argv)
    from transformers import CLIPTokenizer

    toks = {name: CLIPTokenizer(os.path.join(HF, "vocab.json"), os.path.join(HF, "merges.txt"), pad_token=pad,
                                model_max_length=77)
            for name, pad in [("sd15", "<|endoftext|>"), ("sd2", "!")]}
    prompts = corpus()
    with open(a.out, "w", encoding="utf-8") as f:
        for p in prompts:
            row = {"text": p}
            for name, tok in toks.items():
                ids = tok(p, padding="max_length", max_length=77, truncation=True).input_ids
                while ids and ids[-1] == tok.pad_token_id:  # padding back to 77 restores them exactly
                    ids.pop()
                row[name] = ids
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(prompts)} prompts -> {a.out}")


if __name__ == "__main__":
    main()
