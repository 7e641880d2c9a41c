"""What the renderer paints with: the world's colours, sky and ground gradients, cloud sprites (computed once)."""

import numpy as np

from .canvas import _HZ_RANGE, H

OBJECT_RGB = {
    "red": (0.85, 0.10, 0.10),
    "blue": (0.12, 0.22, 0.92),
    "yellow": (0.95, 0.85, 0.12),
    "white": (0.95, 0.95, 0.95),
    "black": (0.08, 0.08, 0.08),
    "orange": (0.98, 0.50, 0.06),
    "purple": (0.55, 0.15, 0.70),
    "green": (0.10, 0.72, 0.15),
}

GROUND_RGB = {
    "grass": (0.30, 0.62, 0.22),
    "desert": (0.86, 0.72, 0.46),
    "snow": (0.93, 0.94, 0.97),
    "sea": (0.10, 0.38, 0.68),
}

MOUNTAIN_RGB = [
    (0.50, 0.50, 0.52),  # grey
    (0.48, 0.38, 0.30),  # brown
    (0.50, 0.44, 0.54),  # purple-grey
]

# Sky gradient stops: (position 0 = top row .. 1 = horizon row, rgb)
SKY_STOPS = {
    "day": [(0.0, (0.25, 0.50, 0.90)), (1.0, (0.62, 0.80, 0.97))],
    "sunset": [(0.0, (0.62, 0.28, 0.46)), (0.5, (0.92, 0.45, 0.45)), (1.0, (0.99, 0.64, 0.28))],
    "night": [(0.0, (0.01, 0.02, 0.06)), (1.0, (0.06, 0.08, 0.20))],
}


def _make_clouds(n=96, seed=777):
    """Bank of cloud sprites: (mask bool [h,w], shade float32 [h,w]); widths 18..34, heights 7..12."""
    rng = np.random.default_rng(seed)
    bank = []
    for _ in range(n):
        cw = float(rng.integers(18, 35))
        ch = float(rng.integers(7, 13))
        h, w = int(ch), int(cw)
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
        ccx, ccy = w / 2, h / 2
        # base ellipse + 2..3 round lumps on top, flat bottom
        m = ((xx - ccx) * (2.0 / cw)) ** 2 + ((yy - (ccy + ch * 0.15)) / (ch * 0.36)) ** 2 <= 1.0
        for j in range(2 + int(rng.integers(0, 2))):
            lx = ccx + (rng.random() - 0.5) * cw * 0.55
            lrad = ch * (0.32 + 0.18 * rng.random())
            ly = ccy + ch * 0.15 - lrad * 0.6
            m |= ((xx - lx) ** 2 + (yy - ly) ** 2) <= lrad * lrad
        shade = (1.0 - 0.18 * yy / ch).astype(np.float32)
        bank.append((m, shade))
    return bank


_CLOUDS = _make_clouds()


def _stop_weights(stops, n):
    """Linear-interpolation weights [n_stops, n] of a gradient with n rows."""
    pos = np.linspace(0.0, 1.0, n)
    sp = [p for p, _ in stops]
    wts = np.zeros((len(stops), n), np.float32)
    for k in range(len(stops)):
        e = np.zeros(len(stops))
        e[k] = 1.0
        wts[k] = np.interp(pos, sp, e)
    return wts


_SKY_W = {t: {hz: _stop_weights(st, hz) for hz in _HZ_RANGE} for t, st in SKY_STOPS.items()}
_SKY_VALS = {t: np.asarray([c for _, c in st], np.float64).T.copy() for t, st in SKY_STOPS.items()}
_GROUND_T = {hz: np.linspace(0.0, 1.0, H - hz, dtype=np.float32) for hz in _HZ_RANGE}
