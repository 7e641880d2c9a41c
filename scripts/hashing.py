"""A file's sha256 as model.toml records it: the one hash function every room uses
(exporter, factory, fixtures, evaluation, benchmarks). Standard library only."""

import hashlib


def sha256(path) -> str:
    """Read in 1 MiB chunks, so a multi-GB weight file is not held in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
