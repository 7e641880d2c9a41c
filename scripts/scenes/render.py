"""Numpy renderer of the scenes world (docs/scenes.md): 128x128 RGB uint8.

Geometry (rows counted from the top, 0..127; a pixel row r covers [r, r+1)):
  horizon row hz in [72, 82]   (ground = rows >= hz; 56.3 % .. 64.1 % of height)
  top 30 %  = rows 0..38       (sky, clouds, disc, stars only)
  mountains: peak rows >= 40, every peak >= 20 rows (15.6 %) above the horizon
  hills: bumps 8..17 rows (6.3 % .. 13.3 %) above the horizon
  objects: rows 52..111 only (40 % .. 88 %)
  bottom 12 % = rows 113..127 (bare ground)
  sun/moon: diameter 14..24 px, centre row 12..36, centre x in the
            middle / left / right third (with a margin)
  object centre x: left 40 % -> [14, 46], right 40 % -> [82, 114]

Night multiplies the ground by 0.6..0.7 and drawn things by 0.7..0.9 (docs/scenes.md:
dims by at most half, same hue). Random draws never depend on `time`, so the
same rng state rendered at day and at night gives the same layout (used by the
tests to check the dimming rule).

`render_info` returns the image plus the geometry and masks of everything drawn
(used by the tests); `render` returns only the image.
"""

import numpy as np

from .attributes import sample_attributes, validate
from .canvas import H, W, _ARANGE_W, _NOISE, _XX, _YY, _U, _blend, _fill, _jitter, _lerp
from .palette import GROUND_RGB, MOUNTAIN_RGB, OBJECT_RGB, _CLOUDS, _GROUND_T, _SKY_VALS, _SKY_W


def _render(attrs, rng):
    """Core renderer: returns (float CHW image before noise/quantization, info, noise params).

    info holds geometry and, under "parts", local masks: name -> (y0, x0, bool mask).
    """
    u = _U(rng)
    time, ground = attrs["time"], attrs["ground"]
    night = time == "night"
    info = {}
    parts = {}

    # ---- global random choices (fixed draw order, independent of time) ----
    hz = u.int(72, 82)
    info["horizon"] = hz
    noise_amp = u(0.006, 0.018)
    nox, noy = u.int(0, 2 * W - 1), u.int(0, 2 * H - 1)
    _dg = u(0.6, 0.7)
    _do = u(0.7, 0.9)
    dim_ground = _dg if night else 1.0
    dim_obj = _do if night else 1.0
    info["dim_ground"], info["dim_obj"] = dim_ground, dim_obj

    img = np.empty((3, H, W), np.float32)

    # ---- sky ----
    stops = _SKY_VALS[time]  # (3, n_stops)
    jscale = 0.08 * (0.4 if night else 1.0)
    jit = rng.random((3, 3))[:, :stops.shape[1]]  # fixed draw size (independent of time)
    vals = stops + (jit - 0.5) * jscale
    np.clip(vals, 0.0, 1.0, out=vals)
    vals = vals.astype(np.float32)
    sky = vals @ _SKY_W[time][hz]  # (3, hz)
    img[:, :hz, :] = sky[:, :, None]
    info["sky_rows"] = sky.T

    # ---- stars (drawn always from rng, shown only at night) ----
    n_stars = u.int(15, 40)
    star_xy = rng.random((40, 3))
    if night:
        sy = (star_xy[:n_stars, 0] * (hz - 6)).astype(np.int64)
        sx = (star_xy[:n_stars, 1] * W).astype(np.int64)
        br = (0.55 + 0.45 * star_xy[:n_stars, 2]).astype(np.float32)
        img[0, sy, sx] = br
        img[1, sy, sx] = br
        img[2, sy, sx] = br * 0.92
        m = np.zeros((hz, W), bool)
        m[sy, sx] = True
        parts["stars"] = (0, 0, m)

    # ---- ground ----
    gbase = _jitter(GROUND_RGB[ground], u, 0.035)
    gtop = u(0.88, 0.96)  # shade at the horizon (farther = a bit darker)
    shade = np.float32(gtop) + np.float32(1.04 - gtop) * _GROUND_T[hz]
    grows = np.minimum(shade[:, None] * np.asarray(gbase, np.float32), 1.0) * np.float32(dim_ground)
    img[:, hz:, :] = grows.T[:, :, None]
    info["ground_rows"] = grows
    ground_col_hz = grows[0]

    # ---- body (sun / moon) geometry ----
    body = attrs["body"]
    d = u(14.0, 24.0)
    r = d / 2
    cy = u(12.0, 36.0)
    place = attrs["body_place"]
    cxu = u()
    if place == "left":
        cx = _lerp(8.0, 34.0, cxu)
    elif place == "right":
        cx = _lerp(94.0, 120.0, cxu)
    else:
        cx = _lerp(52.0, 76.0, cxu)
    cx = max(r + 1.0, min(W - r - 1.0, cx))
    body_col_u = [u(), u()]
    craters = [(u(-0.5, 0.5), u(-0.5, 0.5), u(0.12, 0.25)) for _ in range(3)]
    body_box = (cy - r - 2, cy + r + 2, cx - r - 2, cx + r + 2) if body != "none" else None
    info["body"] = None if body == "none" else {"cx": cx, "cy": cy, "r": r}

    # ---- clouds (sprites from a bank, placed avoiding each other and the body) ----
    cloudy = attrs["weather"] == "cloudy"
    n_clouds = u.int(2, 4)
    cloud_grey = u(0.82, 1.0)
    n_clouds = n_clouds if cloudy else 0
    cand = rng.random((n_clouds, 30, 3))
    cparts = []
    if cloudy:
        placed = [body_box] if body_box else []
        grey = np.float32(cloud_grey * (1.0 if time == "day" else 0.92 if time == "sunset" else 0.55))
        nb = len(_CLOUDS)
        for k in range(n_clouds):
            for c in cand[k].tolist():
                m, shade = _CLOUDS[int(c[0] * nb)]
                ch, cw = m.shape
                x0 = int(c[1] * (W - cw - 2)) + 1
                y0 = 3 + int(c[2] * (36 - ch))
                box = (y0 - 1, y0 + ch + 1, x0 - 1, x0 + cw + 1)
                if all(not (box[0] < b_[1] and b_[0] < box[1] and box[2] < b_[3] and b_[2] < box[3])
                       for b_ in placed):
                    placed.append(box)
                    if c[0] * nb % 1.0 < 0.5:  # mirror half of the time
                        m, shade = m[:, ::-1], shade[:, ::-1]
                    np.copyto(img[:, y0:y0 + ch, x0:x0 + cw], (grey * shade)[None], where=m[None])
                    cparts.append((y0, x0, m))
                    break
        parts["clouds"] = cparts
    info["n_clouds"] = len(cparts)

    # ---- paint the body ----
    if body != "none":
        y0, y1 = max(0, int(cy - r - 1)), min(H, int(np.ceil(cy + r + 1)))
        x0, x1 = max(0, int(cx - r - 1)), min(W, int(np.ceil(cx + r + 1)))
        yy = _YY[y0:y1, x0:x1]
        xx = _XX[y0:y1, x0:x1]
        dist = np.sqrt((xx - cx) ** 2 + (yy - cy) ** 2)
        alpha = np.clip(r - dist + 0.5, 0.0, 1.0)
        if body == "sun":
            col = [1.0, _lerp(0.90, 0.98, body_col_u[0]), _lerp(0.45, 0.75, body_col_u[1])]
            _blend(img, y0, x0, alpha, col)
        else:
            g = _lerp(0.84, 0.92, body_col_u[0])
            col = np.array([g, g, g * _lerp(0.93, 0.98, body_col_u[1])], np.float32)
            _blend(img, y0, x0, alpha, col)
            inner = dist <= r - 1.0
            for (ox, oy, crr) in craters:
                m = ((xx - (cx + ox * r)) ** 2 + (yy - (cy + oy * r)) ** 2 <= (crr * r) ** 2) & inner
                _fill(img, y0, x0, m, col * 0.9)
        parts["body"] = (y0, x0, alpha > 0.0)  # every pixel the disc touches

    # ---- landform ----
    land = attrs["land"]
    n_peaks = u.int(2, 4)
    peaks = [(u(4.0, W - 4.0), u(), u(0.55, 1.25)) for _ in range(4)][:n_peaks]
    mcol = _jitter(MOUNTAIN_RGB[u.int(0, 2)], u, 0.03)
    hills = [(u(0.0, W), u(8.0, 17.0), u(22.0, 45.0)) for _ in range(4)][:n_peaks]
    hshade = u(0.70, 0.82)
    info["land_top"] = None
    xs = _XX[0]
    if land == "mountains":
        # every peak top in rows [40, hz-20]
        pk = np.asarray(peaks, np.float32)  # (k, 3): centre, top fraction, slope
        tops_a = 40.0 + (hz - 60.0) * pk[:, 1]
        tops = tops_a.tolist()
        yk = tops_a[:, None] + pk[:, 2:3] * np.abs(xs[None, :] - pk[:, 0:1])
        own = yk.argmin(0)
        prof = yk[own, _ARANGE_W]
        side = xs > pk[own, 0]
        r0 = int(prof.min())
        yy = _YY[r0:hz]
        m = yy >= prof[None, :]
        base = np.asarray(mcol, np.float32) * np.float32(dim_obj)
        colx = np.where(side[None, :], base[:, None] * 0.82, np.minimum(base[:, None] * 1.08, 1.0))  # (3, W)
        fade = 1.0 + 0.10 * (yy - r0) / max(1, hz - r0)  # slight haze towards the horizon
        np.copyto(img[:, r0:hz, :], colx[:, None, :] * fade[None], where=m[None])
        parts["land"] = (r0, 0, m)
        info["land_top"] = float(prof.min())
        info["peak_tops"] = tops
        info["land_color"] = base
    elif land == "hills":
        hl = np.asarray(hills, np.float32)  # (k, 3): centre, height, half width
        t = np.maximum(1.0 - ((xs[None, :] - hl[:, 0:1]) / hl[:, 2:3]) ** 2, 0.0)
        prof = hz - (hl[:, 1:2] * np.sqrt(t)).max(0)
        r0 = int(prof.min())
        m = _YY[r0:hz] >= prof[None, :]
        col = ground_col_hz * np.float32(hshade)
        _fill(img, r0, 0, m, col)
        parts["land"] = (r0, 0, m)
        info["land_top"] = float(prof.min())
        info["hill_heights"] = [hh for (_, hh, _) in hills]
        info["land_color"] = col

    # ---- object ----
    obj = attrs["obj"]
    ou = [u() for _ in range(8)]
    ocol_base = _jitter(OBJECT_RGB.get(attrs["color"], (0.5, 0.5, 0.5)), u, 0.04)
    info["obj"] = None
    if obj != "none":
        side = attrs["obj_place"]
        ocx = _lerp(14.0, 46.0, ou[0]) if side == "left" else _lerp(82.0, 114.0, ou[0])
        ocol = np.asarray(ocol_base, np.float32) * np.float32(dim_obj)
        if obj == "house":
            b = hz + 2 + int(ou[1] * 7)  # base row (exclusive)
            ww = int(_lerp(16, 25, ou[2]))
            hw_ = int(_lerp(10, 15, ou[3]))
            hr = min(int(_lerp(6, 10, ou[4])), b - hw_ - 52)
            x0 = int(round(ocx - ww / 2))
            x1 = x0 + ww
            wy0 = b - hw_
            walls = np.ones((hw_, ww), bool)
            # door
            dw = 3 + int(ou[5] * 2)
            dh = max(4, int(hw_ * 0.55))
            dx0 = int(round(ww / 2 - dw / 2 + (ou[6] - 0.5) * (ww - dw - 4)))
            door = np.zeros((hw_, ww), bool)
            door[hw_ - dh:, dx0:dx0 + dw] = True
            walls &= ~door
            # roof: triangle with 2 px overhang
            ry0 = wy0 - hr
            yy = _YY[ry0:wy0, x0 - 2:x1 + 2]
            xx = _XX[ry0:wy0, x0 - 2:x1 + 2]
            roof = np.abs(xx - (x0 + x1) / 2) <= (ww / 2 + 2) * (yy - ry0) / hr + 0.5
            _fill(img, wy0, x0, walls, ocol)
            _fill(img, wy0, x0, door, np.array([0.30, 0.20, 0.12], np.float32) * np.float32(dim_obj)
                  * (0.5 if attrs["color"] == "black" else 1.0))
            _fill(img, ry0, x0 - 2, roof, ocol * 0.5)
            parts["obj"] = {"walls": (wy0, x0, walls), "door": (wy0, x0, door), "roof": (ry0, x0 - 2, roof)}
        elif obj == "tree":
            b = hz + 2 + int(ou[1] * 7)
            tw = 3 + int(ou[2] * 2)
            th = int(_lerp(6, 11, ou[3]))
            cr = _lerp(6.0, 10.0, ou[4])
            ccy = b - th - cr * 0.75
            if ccy - cr < 52.0:
                ccy = 52.0 + cr
            ty0 = int(ccy)
            tx0 = int(round(ocx - tw / 2))
            trunk = np.ones((b - ty0, tw), bool)
            y0, y1 = int(ccy - cr), int(np.ceil(ccy + cr))
            x0, x1 = int(ocx - cr), int(np.ceil(ocx + cr))
            yy = _YY[y0:y1, x0:x1]
            xx = _XX[y0:y1, x0:x1]
            crown = (xx - ocx) ** 2 + (yy - ccy) ** 2 <= cr * cr
            light = ((xx - (ocx - cr * 0.3)) ** 2 + (yy - (ccy - cr * 0.3)) ** 2 <= (cr * 0.5) ** 2) & crown
            # trunk pixels hidden by the crown
            oy0, ox0 = max(ty0, y0), max(tx0, x0)
            oy1, ox1 = min(b, y1), min(tx0 + tw, x1)
            if oy1 > oy0 and ox1 > ox0:
                trunk[oy0 - ty0:oy1 - ty0, ox0 - tx0:ox1 - tx0] &= ~crown[oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0]
            green = np.array([_lerp(0.08, 0.2, ou[5]), _lerp(0.42, 0.58, ou[6]), _lerp(0.08, 0.18, ou[7])],
                             np.float32) * np.float32(dim_obj)
            _fill(img, ty0, tx0, trunk, np.array([0.42, 0.27, 0.12], np.float32) * np.float32(dim_obj))
            _fill(img, y0, x0, crown, green)
            _fill(img, y0, x0, light, np.minimum(green * 1.18, 1.0))
            parts["obj"] = {"crown": (y0, x0, crown), "trunk": (ty0, tx0, trunk)}
        else:  # boat
            hh = 4 + int(ou[2] * 3)
            wl = hz + hh + 1 + int(ou[1] * 13)  # water line row (hull bottom, exclusive), hull below horizon
            hwid = _lerp(18, 26, ou[3])
            hs = min(int(_lerp(10, 17, ou[4])), wl - hh - 52)
            y0 = wl - hh
            x0, x1 = int(ocx - hwid / 2) - 1, int(np.ceil(ocx + hwid / 2)) + 1
            yy = _YY[y0:wl, x0:x1]
            xx = _XX[y0:wl, x0:x1]
            hull = np.abs(xx - ocx) <= hwid / 2 - (yy - y0)
            mx = int(ocx)
            mast = np.ones((hs, 1), bool)
            sdir = 1 if ou[5] < 0.5 else -1
            sw = _lerp(7.0, 11.0, ou[6])
            sy0, sy1 = y0 - hs + 1, y0 - 1
            sx0 = mx + 1 if sdir > 0 else mx - int(sw) - 1
            yy = _YY[sy0:sy1, sx0:sx0 + int(sw) + 2]
            xx = _XX[sy0:sy1, sx0:sx0 + int(sw) + 2]
            rel = (xx - (mx + 0.5)) * sdir
            sail = (rel >= 0.5) & (rel <= sw * (yy - sy0) / max(1, sy1 - sy0) + 0.5)
            _fill(img, y0, x0, hull, ocol)
            _fill(img, y0 - hs, mx, mast, np.array([0.30, 0.22, 0.15], np.float32) * np.float32(dim_obj))
            _fill(img, sy0, sx0, sail, np.array([0.96, 0.96, 0.94], np.float32) * np.float32(dim_obj))
            parts["obj"] = {"hull": (y0, x0, hull), "sail": (sy0, sx0, sail), "mast": (y0 - hs, mx, mast)}
        info["obj"] = {"cx": ocx, "color": ocol}
    info["parts"] = parts
    return img, info, (noise_amp, nox, noy)


def _finish(img, noise):
    amp, nox, noy = noise
    img *= np.float32(255.0)
    img += _NOISE[noy:noy + H, nox:nox + W] * np.float32(amp * 255.0) + np.float32(0.5)
    np.clip(img, 0.0, 255.0, out=img)
    c = img.astype(np.uint8)
    return np.stack((c[0], c[1], c[2]), axis=-1)


def _full(part):
    y0, x0, m = part
    out = np.zeros((H, W), bool)
    h, w = m.shape
    out[y0:y0 + h, x0:x0 + w] = m
    return out


def render_info(attrs, rng):
    """Render and also return geometry and full-size masks (for tests and analysis).

    info["masks"]: name -> bool [128,128] for "stars", "clouds", "body", "land",
    "obj" and the object parts ("walls", "roof", "door", "crown", "trunk",
    "hull", "sail", "mast"); "drawn" is their union.
    """
    validate(attrs)
    img, info, noise = _render(attrs, rng)
    masks = {}
    parts = info.pop("parts")
    for name, p in parts.items():
        if name == "clouds":
            m = np.zeros((H, W), bool)
            for q in p:
                m |= _full(q)
            masks[name] = m
        elif name == "obj":
            m = np.zeros((H, W), bool)
            for k, q in p.items():
                masks[k] = _full(q)
                m |= masks[k]
            masks[name] = m
        else:
            masks[name] = _full(p)
    drawn = np.zeros((H, W), bool)
    for k in ("stars", "clouds", "body", "land", "obj"):
        if k in masks:
            drawn |= masks[k]
        else:
            masks[k] = np.zeros((H, W), bool)
    masks["drawn"] = drawn
    info["masks"] = masks
    return _finish(img, noise), info


def render(attrs, rng):
    """Render attrs (full dict) to a uint8 [128, 128, 3] image."""
    validate(attrs)
    img, _, noise = _render(attrs, rng)
    return _finish(img, noise)


def render_batch(n, seed, split="train"):
    """n random scenes: (imgs uint8 [n,128,128,3], attrs_list, captions)."""
    from .captions import caption

    rng = np.random.default_rng(seed)
    imgs = np.empty((n, H, W, 3), np.uint8)
    attrs_list, caps = [], []
    for i in range(n):
        a = sample_attributes(rng, split)
        img, _, noise = _render(a, rng)
        imgs[i] = _finish(img, noise)
        attrs_list.append(a)
        caps.append(caption(a, rng))
    return imgs, attrs_list, caps
