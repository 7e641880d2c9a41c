"""open_clip's CLIP tokenizer, loaded without open_clip's heavy package ``__init__``.

Install (the package's own dependencies - timm, huggingface_hub, ... - are not
needed for the tokenizer, hence ``--no-deps``):

    pip install --no-deps open_clip_torch==3.2.0

The tokenizer module itself needs ftfy, regex, numpy and torch (see
scripts/requirements.txt).

This is the reference the Rust runtime (src/tokenizer/) is tested against
(tests/fixtures/tokenizer/golden.json), so training code that tokenizes
captions with :func:`tokenize` gets exactly the ids the runtime produces.

    from clip_tokenizer import tokenize, vocab_path
    ids = tokenize(["a red house on a snowy field at night"], 77)  # (1, 77) int64
"""

from __future__ import annotations

import importlib.util
import os
import sys
from functools import lru_cache
from types import ModuleType

import numpy as np

OPEN_CLIP_VERSION = "3.2.0"
DEFAULT_CONTEXT_LENGTH = 77
_MODULE_NAME = "_edgepaint_open_clip_tokenizer"


def _tokenizer_file() -> str:
    # find_spec on a top-level package locates it WITHOUT executing its
    # __init__ (which would import timm, torchvision, huggingface_hub, ...).
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "open_clip is not installed: pip install --no-deps "
            f"open_clip_torch=={OPEN_CLIP_VERSION}"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "tokenizer.py")
    if not os.path.isfile(path):
        raise ImportError(f"open_clip tokenizer not found at {path}")
    return path


@lru_cache(maxsize=None)
def module() -> ModuleType:
    """open_clip/tokenizer.py, loaded as a standalone module."""
    try:
        from importlib.metadata import version

        found = version("open_clip_torch")
        if found != OPEN_CLIP_VERSION:
            print(
                f"warning: open_clip_torch {found} installed, "
                f"{OPEN_CLIP_VERSION} expected",
                file=sys.stderr,
            )
    except Exception:  # metadata missing: not fatal
        pass
    path = _tokenizer_file()
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_MODULE_NAME] = mod
    spec.loader.exec_module(mod)
    return mod


@lru_cache(maxsize=None)
def tokenizer():
    """The open_clip ``SimpleTokenizer`` (default vocab, 'lower' cleaning)."""
    return module().SimpleTokenizer()


def vocab_path() -> str:
    """Path of open_clip's ``bpe_simple_vocab_16e6.txt.gz``."""
    return module().default_bpe()


def tokenize(texts: list[str] | str, context_length: int = DEFAULT_CONTEXT_LENGTH) -> np.ndarray:
    """Token ids, shape (len(texts), context_length), int64.

    Start token 49406, BPE ids, end token 49407, zero padding; prompts that
    overflow are cut to ``context_length`` with 49407 as the last id.
    """
    if isinstance(texts, str):
        texts = [texts]
    out = tokenizer()(list(texts), context_length=context_length)
    return out.numpy().astype(np.int64)


def encode(text: str) -> list[int]:
    """BPE ids of one text, without start/end tokens or padding."""
    return list(tokenizer().encode(text))


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("text", nargs="+")
    ap.add_argument("--context-length", type=int, default=DEFAULT_CONTEXT_LENGTH)
    args = ap.parse_args()
    for row in tokenize(args.text, args.context_length):
        print(" ".join(str(int(x)) for x in row))
