"""Stage 1: render the training set with the scenes package into a uint8
memmap cache (resumable, chunked), tokenize its captions, and build the
compact text vocabulary (CLIP id -> compact id table).

  python3 -m scripts.factory.data --out runs/scenes --n 60000
Files under OUT/data/: images.u8 [N,128,128,3], tokens.npy [N,K,32] int64,
captions.jsonl, meta.json (n_done), vocab.json (CLIP ids kept)."""
import argparse
import inspect
import json
import os
import time

import numpy as np

from scripts.factory import common as C

CHUNK = 500
# Every word docs/scenes.md allows, tokenized one by one as a safety net for the
# compact vocabulary (CLIP BPE splits on words, so this covers any caption).
SCENES_WORDS = """day daytime noon sunny sunset dusk evening night nighttime midnight grass meadow
green field grassland desert sand dunes snow snowy winter sea ocean lake water sun moon full
in the middle center on left right mountains mountain peaks hills hill clear cloudy clouds house
cabin cottage tree boat sailboat red blue yellow white black orange purple a with at and over by
of picture scene view under an , . ; : - ! ?""".split()


def paths(out):
    d = os.path.join(out, "data")
    os.makedirs(d, exist_ok=True)
    return dict(dir=d, images=os.path.join(d, "images.u8"), tokens=os.path.join(d, "tokens.npy"),
                captions=os.path.join(d, "captions.jsonl"), meta=os.path.join(d, "meta.json"),
                vocab=os.path.join(d, "vocab.json"))


def open_images(out, n, mode="r"):
    return np.memmap(paths(out)["images"], dtype=np.uint8, mode=mode, shape=(n, 128, 128, 3))


def _extra_captions(attrs, k, seed):
    """k-1 more captions of the same attributes (synonyms, word order)."""
    S = C.scenes()
    try:
        params = list(inspect.signature(S.caption).parameters)
    except (TypeError, ValueError):
        return [[] for _ in attrs]
    if k <= 1 or len(params) < 2:
        return [[] for _ in attrs]
    rng = np.random.default_rng(seed)
    return [[S.caption(a, rng) for _ in range(k - 1)] for a in attrs]


def _jsonable(a):
    return {k: (v if isinstance(v, (str, int, float, bool, type(None))) else str(v)) for k, v in dict(a).items()}


def build(out, n, k=2, seed=1234, log=None):
    P = paths(out)
    meta = C.read_json(P["meta"], {"n": n, "k": k, "n_done": 0, "seed": seed})
    if meta["n"] != n or meta["k"] != k:
        if meta["n_done"] and meta["k"] == k and n > meta["n"]:
            # grow: copy the old memmap into a bigger one
            old = np.array(open_images(out, meta["n"]))
            os.remove(P["images"])
            im = open_images(out, n, "w+")
            im[: meta["n"]] = old
            im.flush()
            del im, old
            tok = np.load(P["tokens"])
            t2 = np.zeros((n, k, C.MAX_LEN), np.int64)
            t2[: meta["n"]] = tok
            np.save(P["tokens"], t2)
            meta["n"] = n
        else:
            meta = {"n": n, "k": k, "n_done": 0, "seed": seed}
            for f in ("images", "tokens", "captions"):
                if os.path.exists(P[f]):
                    os.remove(P[f])
    if meta["n_done"] >= n:
        return meta
    S = C.scenes()
    if not os.path.exists(P["images"]):
        open_images(out, n, "w+").flush()
    tokens = np.load(P["tokens"]) if os.path.exists(P["tokens"]) else np.zeros((n, k, C.MAX_LEN), np.int64)
    im = open_images(out, n, "r+")
    t0 = time.time()
    while meta["n_done"] < n:
        i = meta["n_done"]
        m = min(CHUNK, n - i)
        s = seed + i // CHUNK
        imgs, attrs, caps = S.render_batch(m, s, split="train")
        assert not any(S.is_heldout(a) for a in attrs), "held-out combination in the train split"
        extra = _extra_captions(attrs, k, s + 10_000_000)
        allcaps = [[c] + e for c, e in zip(caps, extra)]
        allcaps = [(cs + [cs[0]] * k)[:k] for cs in allcaps]
        flat = [c for cs in allcaps for c in cs]
        tokens[i:i + m] = C.tokenize(flat).reshape(m, k, C.MAX_LEN)
        im[i:i + m] = imgs
        with open(P["captions"], "a") as f:
            for a, cs in zip(attrs, allcaps):
                f.write(json.dumps({"attrs": _jsonable(a), "captions": cs}) + "\n")
        im.flush()
        np.save(P["tokens"] + ".tmp.npy", tokens)
        os.replace(P["tokens"] + ".tmp.npy", P["tokens"])
        meta["n_done"] = i + m
        C.write_json(P["meta"], meta)
        C.log(log, stage="data", done=meta["n_done"], of=n, s=round(time.time() - t0, 1))
    return meta


def build_vocab(out, n_sample=20000, seed=99):
    """Compact vocabulary: CLIP ids in the cached captions, in captions of
    both splits sampled from the grammar, and in every docs/scenes.md word."""
    P = paths(out)
    S = C.scenes()
    ids = set(np.unique(np.load(P["tokens"])).tolist())
    texts = list(SCENES_WORDS)
    rng = np.random.default_rng(seed)
    for split in ("train", "heldout"):
        try:
            sa = inspect.signature(S.sample_attributes).parameters
            for j in range(n_sample // 3):
                a = S.sample_attributes(rng, split) if len(sa) >= 2 else S.sample_attributes(rng)
                texts.append(S.caption(a, rng))
        except Exception as e:  # the grammar sampler may differ: the cache + word list still cover it
            C.log(None, stage="vocab", note=f"split {split}: {e!r}")
    ids |= set(np.unique(C.tokenize(texts)).tolist())
    ids -= {C.PAD_ID, C.SOT_ID, C.EOT_ID}
    ids = sorted(ids)
    C.write_json(P["vocab"], {"clip_ids": ids})
    return ids


def remap_table(clip_ids):
    """int32 [49408]: 0 pad, 1 unk, 2 sot, 3 eot, 4+i the i-th kept id."""
    t = np.ones(C.CLIP_VOCAB, np.int32)
    t[C.PAD_ID] = 0
    t[C.SOT_ID] = 2
    t[C.EOT_ID] = 3
    for i, c in enumerate(clip_ids):
        t[c] = 4 + i
    return t, 4 + len(clip_ids)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--k", type=int, default=2)
    a = ap.parse_args()
    build(a.out, a.n, a.k, log=os.path.join(a.out, "log.jsonl"))
    print(len(build_vocab(a.out)), "kept CLIP ids")
