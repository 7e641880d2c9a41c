"""The scenes world (docs/scenes.md): attribute sampling, a fast numpy
renderer and captions. Numpy only.

    from scripts.scenes import sample_attributes, render, caption, render_batch, ATTRIBUTES, is_heldout
"""

from .attributes import (ATTRIBUTES, ATTRIBUTE_NAMES, HELDOUT_RULES, OBJECT_COLORS, heldout_rules,
                         is_heldout, sample_attributes, validate)
from .captions import VOCABULARY, CaptionError, caption, parse_caption, tokenize
from .render import H, W, render, render_batch, render_info

__all__ = [
    "ATTRIBUTES", "ATTRIBUTE_NAMES", "HELDOUT_RULES", "OBJECT_COLORS", "heldout_rules", "is_heldout",
    "sample_attributes", "validate", "VOCABULARY", "CaptionError", "caption", "parse_caption", "tokenize",
    "H", "W", "render", "render_batch", "render_info",
]
