"""Counting what a picture shows, for the count check of the evaluation:
how many suns or moons and how many objects (0, 1, or 2 and more).

Renders never hold two of either, so the classifier's count heads are
trained on composites: a render with the sky body (or the object) of a
second render of the same attributes, placed elsewhere, pasted in. The
shipped model drew two suns for "daytime desert with mountains and the sun
on the right"; the check catches that.

    imgs, attrs, counts = render_counted(n, seed, split)   # counts: int [n, 2] (body, object)
    expected_counts(attrs)                                  # int [n, 2] a prompt asks for
"""
import numpy as np

from scripts.scenes import sample_attributes
from scripts.scenes.render import render_info

COUNT_HEADS = ("body_count", "obj_count")
COUNT_VALUES = 3  # 0, 1, 2 or more
# Share of the training pictures that get a second body or object.
SECOND_SHARE = 0.35

_OTHER_BODY_PLACE = {"left": ("center", "right"), "center": ("left", "right"), "right": ("left", "center")}
_OTHER_OBJ_PLACE = {"left": ("right",), "right": ("left",)}


def expected_counts(attrs_list):
    """What each prompt asks for: 1 where it names a body / an object, 0
    where it names none, -1 where it leaves it open (not counted)."""
    def one(a, key):
        v = a.get(key)
        return -1 if v is None else int(v != "none")
    return np.array([[one(a, "body"), one(a, "obj")] for a in attrs_list], np.int64)


def _paste(img, mask, src):
    out = img.copy()
    out[mask] = src[mask]
    return out


def render_counted(n, seed, split="any", second_share=SECOND_SHARE):
    """n renders, some with a second body or object pasted in: (imgs uint8
    [n,128,128,3], attrs, counts int [n, 2]). An image with a pasted second
    body keeps its attrs, but its body_place no longer holds (likewise the
    object's place and colour); `counts` says which."""
    rng = np.random.default_rng(seed)
    imgs = np.empty((n, 128, 128, 3), np.uint8)
    attrs_list, counts = [], np.zeros((n, 2), np.int64)
    for i in range(n):
        a = sample_attributes(rng, split)
        img, info = render_info(a, rng)
        counts[i] = [int(a["body"] != "none"), int(a["obj"] != "none")]
        if rng.random() < second_share:
            kinds = [k for k, c in zip(("body", "obj"), counts[i]) if c]
            if kinds:
                kind = kinds[rng.integers(len(kinds))]
                b = dict(a)
                if kind == "body":
                    b["body_place"] = str(rng.choice(_OTHER_BODY_PLACE[a["body_place"]]))
                else:
                    b["obj_place"] = str(rng.choice(_OTHER_OBJ_PLACE[a["obj_place"]]))
                other, other_info = render_info(b, rng)
                mask = other_info["masks"][kind] & ~info["masks"][kind]
                img = _paste(img, mask, other)
                counts[i, 0 if kind == "body" else 1] = 2
        imgs[i] = img
        attrs_list.append(a)
    return imgs, attrs_list, counts
