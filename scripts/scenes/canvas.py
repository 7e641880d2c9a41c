"""The renderer's canvas: the 128x128 grid, the horizon rows, film grain, the draw block and the paint helpers."""

import numpy as np

H = W = 128
_YY, _XX = np.mgrid[0:H, 0:W].astype(np.float32)
_YY += 0.5  # pixel centres
_XX += 0.5

# Luminance-only noise bank; each image takes a random crop (cheap "film grain").
_NOISE = np.random.default_rng(12345).standard_normal((H * 3, W * 3)).astype(np.float32)

_HZ_RANGE = range(72, 83)
_ARANGE_W = np.arange(W)


def _lerp(a, b, t):
    return a + (b - a) * t


class _U:
    """Scalar uniforms from one block draw (fast scalar access)."""

    __slots__ = ("v", "i")

    def __init__(self, rng, n=160):
        self.v = rng.random(n).tolist()
        self.i = 0

    def __call__(self, lo=0.0, hi=1.0):
        x = self.v[self.i]
        self.i += 1
        return lo + (hi - lo) * x

    def int(self, lo, hi):  # inclusive
        x = self.v[self.i]
        self.i += 1
        return lo + min(int(x * (hi - lo + 1)), hi - lo)


def _jitter(rgb, u, amt):
    return [min(1.0, max(0.0, c + u(-amt, amt))) for c in rgb]


def _f3(c):
    return np.asarray(c, np.float32).reshape(3, 1, 1)


def _fill(img, y0, x0, m, col):
    """Paint a local bool mask m (top-left at y0, x0) with colour col (3,) in a CHW image."""
    h, w = m.shape
    np.copyto(img[:, y0:y0 + h, x0:x0 + w], _f3(col), where=m[None])


def _blend(img, y0, x0, alpha, col):
    h, w = alpha.shape
    sub = img[:, y0:y0 + h, x0:x0 + w]
    sub *= 1.0 - alpha
    sub += alpha * _f3(col)
