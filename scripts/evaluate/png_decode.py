"""PNG reading for the report's Rust rows: PIL when present, else a numpy + zlib decoder (CI has numpy only)."""

import zlib

import numpy as np


def read_png(path):
    """uint8 [H, W, 3] from an 8-bit RGB/RGBA PNG (PIL when present, else a small zlib decoder)."""
    try:
        from PIL import Image
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except ImportError:
        pass
    with open(path, "rb") as f:
        return decode_png(f.read(), path)


def decode_png(data, name="PNG"):
    """uint8 [H, W, 3] from the bytes of an 8-bit RGB/RGBA non-interlaced PNG (numpy + zlib only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{name}: not a PNG"
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        ln = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + ln]
        if kind == b"IHDR":
            hdr = (int.from_bytes(body[0:4], "big"), int.from_bytes(body[4:8], "big"), body[8], body[9], body[12])
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + ln
    w, h, depth, ctype, interlace = hdr
    assert depth == 8 and ctype in (2, 6) and interlace == 0, f"{name}: unsupported PNG {hdr}"
    bpp = 3 if ctype == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * bpp)
    out = np.zeros((h, w * bpp), np.int32)
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        ft, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 2:
            cur = (line + prev) & 255
        else:  # 1 sub, 3 average, 4 paeth: sequential along the row
            cur = np.zeros_like(line)
            for x in range(w * bpp):
                a = cur[x - bpp] if x >= bpp else 0
                b = prev[x]
                c = prev[x - bpp] if x >= bpp else 0
                if ft == 1:
                    p = a
                elif ft == 3:
                    p = (a + b) // 2
                else:
                    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                    p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                cur[x] = (line[x] + p) & 255
        out[y] = cur
        prev = cur
    return out.reshape(h, w, bpp)[:, :, :3].astype(np.uint8)
