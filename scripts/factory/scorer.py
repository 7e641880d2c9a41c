"""The self-check scorer of the scenes world (issue 16, lever 2): a small
image-text contrastive model, CLIP's idea at the scale of this world.

Two towers, each exported to its own ONNX graph (docs/bundle.md `[scorer]`):
  * the image tower: `pixel_values` [1, 3, 128, 128] (RGB in [0, 1], then
    (x - 0.5) / 0.5) -> `image_embeds` [1, 128];
  * the text tower: `input_ids` [1, 32] (the bundle's CLIP BPE ids, padded
    with 0) -> `text_embeds` [1, 128].
The score of a picture against a prompt is the cosine of the two embeddings.

The image tower keeps where things are: two coordinate channels go in with
the picture and the last feature map is flattened, not pooled, so "the sun
on the left" and "on the right" embed apart. Training (train_scorer.py)
pairs each render with its caption and with captions that change one
attribute of it (hard negatives: the other side, another colour, no object,
another time of day), so the score is sensitive to exactly the mistakes a
generator makes. It is trained on renders only, never on the generator's
pictures, and is a different model from the evaluation's classifier.
"""

import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from scripts.factory import common as C
from scripts.factory import nets

EMBED_DIM = 128
IMAGE_SIZE = 128
MEAN = [0.5, 0.5, 0.5]
STD = [0.5, 0.5, 0.5]


def _block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class ImageTower(nn.Module):
    """[n, 3, 128, 128] normalised RGB -> [n, EMBED_DIM]. The picture enters
    as 4x4 patches (one strided convolution): the scenes world's things are
    several patches wide, and the tower's cost stays a small share of a
    1-step picture (README "Best of N")."""

    def __init__(self, width=24):
        super().__init__()
        w = width
        patchify = nn.Sequential(nn.Conv2d(5, w, 4, stride=4, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True))
        same = nn.Sequential(nn.Conv2d(4 * w, 3 * w, 3, padding=1, bias=False), nn.BatchNorm2d(3 * w),
                             nn.ReLU(inplace=True))
        self.body = nn.Sequential(patchify, _block(w, 2 * w), _block(2 * w, 4 * w), same)   # 32, 16, 8, 8
        self.squeeze = nn.Sequential(nn.Conv2d(3 * w, 16, 1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(16 * 8 * 8, EMBED_DIM)
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, IMAGE_SIZE), torch.linspace(-1, 1, IMAGE_SIZE), indexing="ij")
        self.register_buffer("coords", torch.stack([xs, ys])[None], persistent=False)

    def forward(self, pixel_values):
        x = torch.cat([pixel_values, self.coords.expand(pixel_values.shape[0], -1, -1, -1)], 1)
        return self.fc(torch.flatten(self.squeeze(self.body(x)), 1))


class TextTower(nn.Module):
    """CLIP ids [n, 32] -> [n, EMBED_DIM]: the factory's text encoder (its own
    weights), averaged over the non-padding tokens."""

    def __init__(self, remap, n_vocab, dim=96, layers=2):
        super().__init__()
        self.encoder = nets.TextEncoder(remap, n_vocab, dim=dim, layers=layers, heads=4, max_len=C.MAX_LEN)
        self.proj = nn.Linear(dim, EMBED_DIM)

    def forward(self, input_ids):
        states = self.encoder(input_ids)
        mask = (input_ids != C.PAD_ID).to(states.dtype).unsqueeze(-1)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.proj(pooled)


class Scorer(nn.Module):
    def __init__(self, remap, n_vocab):
        super().__init__()
        self.image = ImageTower()
        self.text = TextTower(remap, n_vocab)
        self.logit_scale = nn.Parameter(torch.tensor(float(np.log(1 / 0.07))))

    def embed(self, pixel_values, input_ids):
        return F.normalize(self.image(pixel_values), dim=-1), F.normalize(self.text(input_ids), dim=-1)


def normalise(images_u8, device="cpu"):
    """uint8 [n, H, W, 3] -> the image tower's input [n, 3, H, W]."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - MEAN[0]) / STD[0]


def vocabulary(n_sample=6000, seed=99):
    """(remap table, compact vocabulary size) over every CLIP id the scenes
    grammar can produce (its word list and sampled captions of both splits)."""
    from scripts.factory import data
    S = C.scenes()
    rng = np.random.default_rng(seed)
    texts = list(data.SCENES_WORDS)
    for split in ("train", "heldout"):
        texts += [S.caption(S.sample_attributes(rng, split), rng) for _ in range(n_sample // 2)]
    ids = set(np.unique(C.tokenize(texts)).tolist()) - {C.PAD_ID, C.SOT_ID, C.EOT_ID}
    return data.remap_table(sorted(ids))


# ---------------------------------------------------------------- hard negatives
# One attribute changed at a time, to a value the world allows with the rest.
_SWAPS = {"left": "right", "right": "left"}


def _changes(a):
    """Candidate edits of attrs `a`: (name, new attrs) before validation."""
    S = C.scenes()
    out = []

    def edit(name, **kw):
        b = dict(a)
        b.update(kw)
        out.append((name, b))

    if a["body"] != "none":
        bp = a["body_place"]
        for p in ("left", "right", "center"):
            if p != bp:
                edit("body_place", body_place=p)
        edit("body_count", body="none", body_place="none")
    else:
        body = "moon" if a["time"] == "night" else "sun"
        for p in ("left", "right", "center"):
            edit("body_count", body=body, body_place=p)
    if a["obj"] != "none" and a["body_place"] in _SWAPS:
        # Both sides swapped: the same words, bound to the other things (a
        # bag of words cannot tell these apart; CLIP's classic failure).
        edit("mirror", obj_place=_SWAPS[a["obj_place"]], body_place=_SWAPS[a["body_place"]])
    if a["obj"] != "none":
        edit("obj_place", obj_place=_SWAPS[a["obj_place"]])
        edit("obj_count", obj="none", color="none", obj_place="none")
        for o in ("house", "tree", "boat"):
            if o != a["obj"]:
                color = "none" if o == "tree" else (a["color"] if a["color"] != "none" else "red")
                edit("obj", obj=o, color=color)
        if a["color"] != "none":
            for c in S.OBJECT_COLORS:
                if c != a["color"]:
                    edit("color", color=c)
    else:
        for o in ("house", "tree", "boat"):
            edit("obj_count", obj=o, color="none" if o == "tree" else "red", obj_place="left")
    for t in ("day", "sunset", "night"):
        if t != a["time"]:
            body = a["body"]
            if body != "none":
                body = "moon" if t == "night" else "sun"
            edit("time", time=t, body=body)
    for g in ("grass", "desert", "snow", "sea"):
        if g != a["ground"]:
            edit("ground", ground=g)
    for land in ("none", "mountains", "hills"):
        if land != a["land"]:
            edit("land", land=land)
    edit("weather", weather="cloudy" if a["weather"] == "clear" else "clear")
    return out


def edits(a):
    """(kind, attrs) for every edit of attrs `a` the world allows, in a fixed order."""
    S = C.scenes()
    out = []
    for name, b in _changes(a):
        try:
            S.validate(b)
        except ValueError:
            continue
        out.append((name, b))
    return out


def hard_negatives(a, rng, k):
    """`k` attrs dicts that differ from `a` in one attribute each (valid in
    the world), kinds drawn evenly so placements and counts are frequent."""
    by_kind = {}
    for name, b in edits(a):
        by_kind.setdefault(name, []).append(b)
    kinds = sorted(by_kind)
    out = []
    for _ in range(k):
        options = by_kind[kinds[int(rng.integers(len(kinds)))]]
        out.append(options[int(rng.integers(len(options)))])
    return out


class CaptionTokens:
    """Tokenize captions with a memo (the Python BPE is the slow part of a step)."""

    def __init__(self):
        self.memo = {}

    def __call__(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.memo]
        if missing:
            for t, ids in zip(missing, C.tokenize(missing)):
                self.memo[t] = ids
        return np.stack([self.memo[t] for t in texts])


# ---------------------------------------------------------------- export
def export(model, image_path, text_path):
    """Write the two towers as ONNX (opset 17, batch 1, fixed shapes) and
    check each against torch with onnxruntime; returns the largest difference."""
    import onnx
    import onnxruntime as ort
    model = model.eval()
    pixels = torch.rand(1, 3, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1
    ids = torch.as_tensor(C.tokenize(["a red house on the left at sunset on the grass"]), dtype=torch.int64)
    worst = 0.0
    # Each tower in eval mode before export: torch.onnx.export restores the
    # mode it found, and a tower left in train mode would switch BatchNorm
    # back to batch statistics (and update them) afterwards.
    for mod, arg, path, name_in, name_out in ((model.image.eval(), pixels, image_path, "pixel_values", "image_embeds"),
                                              (model.text.eval(), ids, text_path, "input_ids", "text_embeds")):
        with torch.no_grad():
            want = mod(arg).numpy()
        nets.EXPORT = True
        try:
            torch.onnx.export(mod, (arg,), path, opset_version=17, dynamo=False, do_constant_folding=True,
                              input_names=[name_in], output_names=[name_out])
        finally:
            nets.EXPORT = False
        onnx.checker.check_model(onnx.load(path))
        got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {name_in: arg.numpy()})[0]
        worst = max(worst, float(np.abs(got - want).max()))
    return worst


def install(bundle_dir, image_onnx, text_onnx):
    """Put the exported towers into the bundle and a [scorer] (replacing an
    older one) into each of its manifests; returns the manifests written."""
    import glob
    import shutil
    from scripts.export import scorer_clip
    from scripts.hashing import sha256

    files = {}
    for name, src in (("image", image_onnx), ("text", text_onnx)):
        dest = os.path.join(bundle_dir, f"scorer_{name}.onnx")
        if os.path.abspath(src) != os.path.abspath(dest):
            shutil.copyfile(src, dest)
        files[name] = dict(file=os.path.basename(dest), sha256=sha256(dest))
    fields = dict(image_size=[IMAGE_SIZE, IMAGE_SIZE], mean=MEAN, std=STD, embed_dim=EMBED_DIM, **files)
    written = []
    for path in sorted(glob.glob(os.path.join(bundle_dir, "*.toml"))):
        with open(path) as f:
            text = f.read()
        if "[text_encoder]" not in text:
            continue
        # [scorer] and its two sub-tables are written last: drop an older one.
        text = text.split("\n[scorer]\n")[0].rstrip("\n") + "\n"
        with open(path, "w") as f:
            f.write(text + scorer_clip.section(fields))
        written.append(path)
    return written
