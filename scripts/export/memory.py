"""Memory bounds the export steps share: freed heap back to the OS, a module's config without its weights."""

from __future__ import annotations

import contextlib
import gc


def release_memory() -> None:
    """Drop freed Python objects and hand freed heap pages back to the OS (glibc), so the
    next stage starts from what is really live."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def module_config(cls, pipeline_dir: str, subfolder: str):
    """`cls.from_pretrained(pipeline_dir, subfolder=...).config` without the weights: the
    module is built on the meta device (accelerate), or, without accelerate, built with
    random weights and dropped at once."""
    cfg = cls.load_config(pipeline_dir, subfolder=subfolder)
    try:
        from accelerate import init_empty_weights
    except ImportError:
        init_empty_weights = contextlib.nullcontext
    with init_empty_weights():
        module = cls.from_config(cfg)
    config = module.config
    del module
    release_memory()
    return config
