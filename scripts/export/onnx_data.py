"""ONNX external data for bundles: one hashed file per graph.

An ONNX file cannot exceed 2 GB (protobuf), so torch writes the weights of a
real-size f32 UNet as "external data": by default one loose file per tensor
(384 files for SD 2.1's UNet). A bundle lists every file it runs with its
sha256 (docs/bundle.md), so the exporter packs a graph's external data into
ONE file, `GRAPH.onnx.data`, named in model.toml as `data` / `data_sha256`.
The runtime refuses a graph that references any other external file.

Packing streams tensor by tensor (the graph is loaded without its weights),
so it needs no more memory than the largest tensor. Needs only `onnx`.
"""

from __future__ import annotations

import os

import onnx
from onnx import TensorProto

ALIGN = 64  # offsets aligned like onnx's own writer, so a reader may mmap


def _tensors(graph: onnx.GraphProto):
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _external(t: TensorProto) -> dict | None:
    if t.data_location != TensorProto.EXTERNAL:
        return None
    return {e.key: e.value for e in t.external_data}


def inline_copy(t: TensorProto, folder: str) -> TensorProto:
    """A copy of `t` with its external data (in `folder`) read in; `t` itself
    stays as it is. Read into `t`, the weights would stay in its model's memory
    even after `t` is removed (a protobuf message frees its parts only when the
    whole message goes): the quantizers read tensor by tensor through this."""
    copy = TensorProto()
    copy.CopyFrom(t)  # the metadata only: the weights are not read yet
    info = _external(t)
    if info is None:
        return copy
    with open(os.path.join(folder, info["location"]), "rb") as f:
        f.seek(int(info.get("offset", 0)))
        length = info.get("length")
        copy.raw_data = f.read(int(length)) if length is not None else f.read()
    del copy.external_data[:]
    copy.data_location = TensorProto.DEFAULT
    return copy


def append_external(out, t: TensorProto, location: str, blob: bytes) -> None:
    """Write `blob` at the end of the open data file `out` (aligned) and point
    `t` at it: its external data becomes (location, offset, length)."""
    out.write(b"\0" * ((-out.tell()) % ALIGN))
    offset = out.tell()
    out.write(blob)
    t.data_location = TensorProto.EXTERNAL
    del t.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(len(blob)))):
        entry = t.external_data.add()
        entry.key, entry.value = key, value


def external_files(path: str) -> set[str]:
    """The external-data locations the ONNX file at `path` references."""
    m = onnx.load(path, load_external_data=False)
    return {info["location"] for t in _tensors(m.graph) if (info := _external(t)) is not None}


def pack_external_data(path: str) -> str | None:
    """Rewrite the ONNX file at `path` so all its external data is in one file
    `basename(path) + ".data"` beside it; remove the loose files it used.
    Returns the data file's name, or None when the graph has no external data."""
    folder = os.path.dirname(os.path.abspath(path))
    m = onnx.load(path, load_external_data=False)
    tensors = [(t, info) for t in _tensors(m.graph) if (info := _external(t)) is not None]
    if not tensors:
        return None
    data_name = os.path.basename(path) + ".data"
    if all(info["location"] == data_name for _, info in tensors):
        return data_name  # written packed already (graphs.attach_weights_apart)
    tmp = os.path.join(folder, data_name + ".part")
    old = set()
    with open(tmp, "wb") as out:
        for t, info in tensors:
            src = os.path.join(folder, info["location"])
            old.add(src)
            with open(src, "rb") as f:
                f.seek(int(info.get("offset", 0)))
                length = info.get("length")
                blob = f.read(int(length)) if length is not None else f.read()
            append_external(out, t, data_name, blob)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, os.path.join(folder, data_name))
    with open(path + ".part", "wb") as f:
        f.write(m.SerializeToString())
    os.replace(path + ".part", path)
    for src in old - {os.path.join(folder, data_name)}:
        os.remove(src)
    return data_name


# A graph file above this size gets its weights stored apart (see store_weights_apart).
APART_BYTES = 32 << 20


def store_weights_apart(path: str, min_bytes: int = APART_BYTES) -> str | None:
    """Move the weights of the ONNX file at `path` into `basename(path) + ".data"`
    when the file is larger than min_bytes; returns the data file's name or None.

    Why: tract parses an inline graph while holding the whole protobuf, so the
    weights are in memory twice at load; with external data it reads them
    tensor by tensor. Measured on SD-Turbo's int8 UNet (869 MB) in
    `--low-memory` mode: the load peak 1.58 -> 1.02 GB, the same output."""
    data_name = os.path.basename(path) + ".data"
    stale = os.path.join(os.path.dirname(os.path.abspath(path)), data_name)
    if os.path.exists(stale):  # from an earlier export into the same folder
        os.remove(stale)
    if os.path.getsize(path) <= min_bytes:
        return None
    m = onnx.load(path)
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data_name, size_threshold=1024)
    return data_name
