"""Shared helpers for the model factory: paths, the scenes world and the CLIP
tokenizer (scripts.scenes, scripts.fixtures.clip_tokenizer; imported on first
use), threads, atomic checkpoints, logging."""
import json
import os
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.dirname(HERE)
REPO = os.path.dirname(SCRIPTS)
MAX_LEN = 32
PAD_ID = 0
SOT_ID = 49406
EOT_ID = 49407
CLIP_VOCAB = 49408


def detail_weight(x, alpha, window):
    """Per-cell loss weight 1 + alpha * (local detail, normalised to mean 1
    over the batch, at most 4), local detail being |x - its window x window
    mean| averaged over channels; None when alpha <= 0 (plain loss). Used by
    the teacher on latents (window 3) and the autoencoder on pixels (9)."""
    if alpha <= 0:
        return None
    pad = window // 2
    mean = torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (pad,) * 4, mode="replicate"), window, 1)
    d = (x - mean).abs().mean(1, keepdim=True)
    return 1 + alpha * (d / (d.mean() + 1e-6)).clamp(max=4.0)


def scenes():
    from scripts import scenes as s
    return s


def tokenizer():
    from scripts.fixtures import clip_tokenizer as t
    return t


def tokenize(texts):
    return np.asarray(tokenizer().tokenize(list(texts), MAX_LEN), dtype=np.int64)


def setup(device="cpu", threads=None, seed=0):
    # FACTORY_THREADS overrides: on a CPU shared with other jobs 1 thread can
    # beat 2 (OpenMP threads spin-waiting on each other when oversubscribed).
    threads = threads or int(os.environ.get("FACTORY_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed)
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    return torch.device(device)


def save_ckpt(path, obj):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_ckpt(path):
    if not os.path.exists(path):
        return None
    return torch.load(path, map_location="cpu", weights_only=False)


def log(path, **kw):
    kw["time"] = time.strftime("%H:%M:%S")
    line = json.dumps(kw)
    print(line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1)
    os.replace(tmp, path)


def read_json(path, default=None):
    if not os.path.exists(path):
        return default
    with open(path) as f:
        return json.load(f)


def count_params(m):
    return sum(p.numel() for p in m.parameters())


class EMA:
    def __init__(self, model, decay=0.999):
        self.decay = decay
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model, step=None):
        d = self.decay if step is None else min(self.decay, (1 + step) / (10 + step))
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(d).add_(v.detach().float(), alpha=1 - d)
            else:
                self.shadow[k].copy_(v)

    def state_dict(self):
        return self.shadow

    def load_state_dict(self, sd):
        self.shadow = {k: v.clone() for k, v in sd.items()}
