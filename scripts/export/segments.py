"""Split a graph into segments run one after another (streaming, docs/bundle.md).

Why: in `--low-memory` mode the runtime loads one segment, runs it, frees it
and loads the next, so the peak is the largest segment plus the activations
handed on, not the whole graph. SD-Turbo's int8 UNet is 867 MB of weights: in
8 segments each holds about 110 MB.

How: the nodes of an ONNX graph are in topological order. The cuts fall where
the weights read so far pass k/K of the total; each cut moves a little to the
nearby position (within a few % of the nodes) where the fewest activation
bytes cross it, and only to a position where every tensor crossing it is a
float activation: a quantized tensor, its zero point, an integer product
before its rescale or a shape handed to a later segment leaves tract unable
to fuse the int8 chain or to fix the shapes at load, and such a segment ran
tens of times slower than the whole graph (the SD-Turbo UNet cut by weight
alone: minutes per step instead of seconds). A segment's inputs are the graph inputs and earlier
segments' tensors it reads; its outputs are the tensors later segments (or
the graph's outputs) read. Weights and constants are copied into every
segment that uses them. The runtime keeps every handed-on tensor by name until
the last segment has run, so a UNet skip connection needs no pass-through.

The segments are written as `GRAPH.seg1.onnx` ... `GRAPH.segK.onnx`; the
manifest names the first as the section's `file` and lists the others in
`then` (docs/bundle.md). The unsplit graph is removed once no manifest of the
folder names it any more.
Needs only `onnx` (and onnxruntime for the self-check in the tests).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tomllib
from typing import NamedTuple

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

from scripts.export.onnx_data import store_weights_apart
from scripts.hashing import sha256


class SegmentError(Exception):
    pass


def _const_nodes_to_initializers(graph: onnx.GraphProto) -> None:
    """Constant nodes become initializers, so a segment copies what it reads
    instead of receiving shape constants from an earlier segment."""
    keep = []
    for node in graph.node:
        if node.op_type == "Constant" and len(node.attribute) == 1 and node.attribute[0].name == "value":
            t = onnx.TensorProto()
            t.CopyFrom(node.attribute[0].t)
            t.name = node.output[0]
            graph.initializer.append(t)
        else:
            keep.append(node)
    del graph.node[:]
    graph.node.extend(keep)


def prepare(model: onnx.ModelProto) -> onnx.ModelProto:
    """Constant nodes as initializers (in place); the graph must fit protobuf's 2 GB."""
    if model.ByteSize() >= 2 << 30:
        raise SegmentError("graphs over 2 GB cannot be split (split the int8 graph, not the f32 one)")
    _const_nodes_to_initializers(model.graph)
    return model


def _tensor_bytes(vi: onnx.ValueInfoProto) -> int:
    tt = vi.type.tensor_type
    dims = [d.dim_value for d in tt.shape.dim]
    if not dims or any(d <= 0 for d in dims):
        return 0
    itemsize = np.dtype(helper.tensor_dtype_to_np_dtype(tt.elem_type)).itemsize
    return int(np.prod(dims)) * itemsize


def _init_bytes(t: onnx.TensorProto) -> int:
    n = int(np.prod(t.dims)) if len(t.dims) else 1
    return n * np.dtype(helper.tensor_dtype_to_np_dtype(t.data_type)).itemsize


def _constant_nodes(g: onnx.GraphProto) -> set[int]:
    """Indices of the nodes computed from weights alone (e.g. a bias reshaped):
    copied into each segment that reads them instead of being handed on."""
    known = {t.name for t in g.initializer}
    const = set()
    for ix, n in enumerate(g.node):
        if all(i == "" or i in known for i in n.input):
            const.add(ix)
            known.update(n.output)
    return const


class Facts(NamedTuple):
    """What planning and splitting need to know of a prepared graph, worked
    out once (shape inference copies the whole model: seconds and hundreds
    of MB at real size)."""
    value_info: dict  # name -> ValueInfoProto: every inferred tensor, the graph's inputs and outputs
    const: set  # indices of the nodes computed from weights alone
    body: list  # indices of the other nodes, the ones cut into segments


_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}


def _is_float(vi: onnx.ValueInfoProto | None) -> bool:
    return vi is not None and vi.type.tensor_type.elem_type in _FLOATS


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """The model with every tensor's type and shape. onnxruntime's symbolic
    shape inference fixes the shapes onnx's own leaves open (40 % of the tiny
    int8 UNet's tensors: Reshape targets computed by Shape, quantized
    tensors), which weighing a cut needs; onnx's is the fallback."""
    try:
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)
    except Exception:  # an operator it does not know: fewer shapes, same cuts rule
        return shape_inference.infer_shapes(model)


def analyse(model: onnx.ModelProto) -> Facts:
    g = model.graph
    inferred = _infer_shapes(model)
    value_info = {vi.name: vi for vi in [*inferred.graph.value_info, *g.input, *g.output]}
    const = _constant_nodes(g)
    return Facts(value_info, const, [ix for ix in range(len(g.node)) if ix not in const])


def plan_cuts(model: onnx.ModelProto, segments: int, facts: Facts | None = None) -> list[int]:
    """Positions in the body (see `Facts`) where segments 2..K start (weights
    balanced, small cuts). `model` has been through `prepare`."""
    g = model.graph
    facts = facts or analyse(model)
    outputs = {o.name for o in g.output}
    sizes = {name: _tensor_bytes(vi) for name, vi in facts.value_info.items() if name not in outputs}
    sizes.update({t.name: _init_bytes(t) for t in g.initializer})
    const, body = facts.const, facts.body
    const_out = {o for ix in const for o in g.node[ix].output} | {t.name for t in g.initializer}
    weights = [sum(sizes.get(i, 0) for i in g.node[ix].input if i in const_out) for ix in body]
    total = sum(weights)
    if segments < 2 or total == 0:
        return []
    producer = {o: pos for pos, ix in enumerate(body) for o in g.node[ix].output}
    last_use = {}
    for pos, ix in enumerate(body):
        for i in g.node[ix].input:
            last_use[i] = pos
    for o in g.output:
        last_use[o.name] = len(body)

    # Per position: the bytes handed on by a cut before it, and how many of
    # the tensors crossing it are not floats (sums over each tensor's span).
    handed = np.zeros(len(body) + 2, np.int64)
    not_float = np.zeros(len(body) + 2, np.int64)
    for name, p in producer.items():
        u = last_use.get(name, -1)
        if u > p:
            handed[p + 1] += sizes.get(name, 0)
            handed[u + 1] -= sizes.get(name, 0)
            if not _is_float(facts.value_info.get(name)):
                not_float[p + 1] += 1
                not_float[u + 1] -= 1
    handed, not_float = np.cumsum(handed), np.cumsum(not_float)

    cuts, acc, k = [], 0, 1
    window = max(2, len(body) // (segments * 20))
    for pos, w in enumerate(weights):
        if acc >= total * k / segments and k < segments:
            lo = (cuts[-1] + 1) if cuts else 1
            near = [p for p in range(max(pos - window, lo), min(pos + window, len(body))) if not_float[p] == 0]
            if near:  # the cheapest nearby cut
                cuts.append(min(near, key=lambda p: (handed[p], abs(p - pos))))
            else:  # else the nearest one that hands on floats only
                anywhere = [p for p in range(lo, len(body)) if not_float[p] == 0]
                if anywhere:
                    cuts.append(min(anywhere, key=lambda p: (abs(p - pos), handed[p])))
            k += 1
        acc += w
    return sorted(set(cuts))


def split(model: onnx.ModelProto, cuts: list[int], facts: Facts | None = None) -> list[onnx.ModelProto]:
    """The segments of `model` (weights loaded, through `prepare`) whose body
    nodes start at the positions `cuts`."""
    g = model.graph
    facts = facts or analyse(model)
    inits = {t.name: t for t in g.initializer}
    graph_inputs = {i.name: i for i in g.input}
    infos = facts.value_info
    const, body = facts.const, facts.body
    const_producer = {o: ix for ix in const for o in g.node[ix].output}
    bounds = [0, *cuts, len(body)]
    parts = [body[a:b] for a, b in zip(bounds, bounds[1:])]
    read_later = [set() for _ in parts]  # names read by later segments (or graph outputs)
    wanted = {o.name for o in g.output}
    for k in range(len(parts) - 1, -1, -1):
        read_later[k] = set(wanted)
        for ix in parts[k]:
            wanted.update(g.node[ix].input)
    out_models = []
    for k, part in enumerate(parts):
        # The constant nodes this segment reads, with the constants they read.
        todo = [i for ix in part for i in g.node[ix].input if i in const_producer]
        consts = set()
        while todo:
            ix = const_producer[todo.pop()]
            if ix not in consts:
                consts.add(ix)
                todo.extend(i for i in g.node[ix].input if i in const_producer)
        nodes = [g.node[ix] for ix in sorted(consts)] + [g.node[ix] for ix in part]
        produced = [o for n in nodes for o in n.output if o]
        reads = [i for n in nodes for i in n.input if i]
        seg_inits = [inits[i] for i in dict.fromkeys(reads) if i in inits]
        local = set(produced) | {t.name for t in seg_inits}
        inputs = []
        for name in dict.fromkeys(reads):
            if name in local:
                continue
            if name in graph_inputs:
                inputs.append(graph_inputs[name])
            elif name in infos:
                inputs.append(infos[name])
            else:
                raise SegmentError(f"segment {k + 1}: no type for the input `{name}` (shape inference failed)")
        outputs = []
        for ix in part:
            for name in g.node[ix].output:
                if name and name in read_later[k]:
                    if name not in infos:
                        raise SegmentError(f"segment {k + 1}: no type for the output `{name}`")
                    outputs.append(infos[name])
        graph = helper.make_graph(nodes, f"{g.name}_segment{k + 1}", inputs, outputs, seg_inits)
        m = helper.make_model(graph, opset_imports=model.opset_import, producer_name="edgepaint-segments")
        m.ir_version = model.ir_version
        out_models.append(m)
    return out_models


def segment_file(first: str, k: int) -> str:
    """`denoiser.int8.onnx` -> `denoiser.int8.seg2.onnx` for segment k (1-based)."""
    stem = first[: -len(".onnx")] if first.endswith(".onnx") else first
    return f"{stem}.seg{k}.onnx"


def split_file(folder: str, file: str, segments: int) -> list[dict]:
    """Split `folder/file` in place into `segments` files; returns, per segment,
    its file, sha256 and (when stored apart) data file and sha256."""
    path = os.path.join(folder, file)
    model = prepare(onnx.load(path))
    facts = analyse(model)
    cuts = plan_cuts(model, segments, facts)
    if len(cuts) + 1 != segments:
        raise SegmentError(f"{file}: cannot be cut into {segments} segments (got {len(cuts) + 1})")
    entries = []
    for k, seg in enumerate(split(model, cuts, facts), start=1):
        name = segment_file(file, k)
        seg_path = os.path.join(folder, name)
        onnx.save_model(seg, seg_path)
        data = store_weights_apart(seg_path)
        entry = {"file": name, "sha256": sha256(seg_path)}
        if data:
            entry["data"] = data
            entry["data_sha256"] = sha256(os.path.join(folder, data))
        entries.append(entry)
    return entries


def _toml_entry(section: str, e: dict) -> str:
    lines = [f"[[{section}.then]]"] + [f'{k} = "{v}"' for k, v in e.items()]
    return "\n".join(lines) + "\n"


def rewrite_manifest(text: str, section: str, entries: list[dict]) -> str:
    """The manifest with `section`'s file/sha256/data lines for segment 1 and a
    `[[section.then]]` table per further segment (placed after the section)."""
    head = re.search(rf"^\[{section}\]\n", text, re.M)
    if not head:
        raise SegmentError(f"the manifest has no [{section}] section")
    start = head.end()
    nxt = re.search(r"^\[", text[start:], re.M)
    end = start + nxt.start() if nxt else len(text)
    body = text[start:end]
    if f"[[{section}.then]]" in text:
        raise SegmentError(f"[{section}] is split already")
    body = re.sub(r'^(data|data_sha256) = .*\n', "", body, flags=re.M)
    first = entries[0]
    body = re.sub(r'^file = ".*"$', f'file = "{first["file"]}"', body, count=1, flags=re.M)
    body = re.sub(r'^sha256 = ".*"$', f'sha256 = "{first["sha256"]}"', body, count=1, flags=re.M)
    if "data" in first:
        body = re.sub(r'^(sha256 = ".*"\n)', rf'\1data = "{first["data"]}"\ndata_sha256 = "{first["data_sha256"]}"\n',
                      body, count=1, flags=re.M)
    if not body.endswith("\n\n"):
        body = body.rstrip("\n") + "\n\n"
    tables = "\n".join(_toml_entry(section, e) for e in entries[1:])
    return text[:start] + body + tables + "\n" + text[end:]


def _named_files(folder: str) -> set[str]:
    """Every file the manifests (*.toml) of `folder` name."""
    named = set()
    for name in os.listdir(folder):
        if name.endswith(".toml"):
            with open(os.path.join(folder, name)) as f:
                named.update(re.findall(r'^(?:file|data) = "([^"]+)"', f.read(), re.M))
    return named


def split_bundle_graph(bundle: str, manifest: str, section: str, segments: int, out_manifest: str | None = None) -> list[dict]:
    """Split the graph `section` of `bundle/manifest` into segments and write
    the manifest naming them to `out_manifest` (default: over `manifest`)."""
    mpath = os.path.join(bundle, manifest)
    with open(mpath) as f:
        text = f.read()
    table = tomllib.loads(text).get(section)
    if not table or "file" not in table:
        raise SegmentError(f"{mpath}: no file in [{section}]")
    if table.get("then"):
        raise SegmentError(f"{mpath}: [{section}] is split already")
    original, data = table["file"], table.get("data")
    entries = split_file(bundle, original, segments)
    new = rewrite_manifest(text, section, entries)
    opath = os.path.join(bundle, out_manifest or manifest)
    with open(opath + ".part", "w") as f:
        f.write(new)
    os.replace(opath + ".part", opath)
    named = _named_files(bundle)
    for old in [original] + ([data] if data else []):
        if old not in named and os.path.exists(os.path.join(bundle, old)):
            os.remove(os.path.join(bundle, old))
    return entries


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="split a bundle's graph into segments for streaming (--low-memory)")
    ap.add_argument("bundle", help="bundle folder")
    ap.add_argument("--manifest", default="model.toml")
    ap.add_argument("--graph", default="denoiser", choices=["text_encoder", "denoiser", "decoder"])
    ap.add_argument("--segments", type=int, required=True)
    ap.add_argument("--out-manifest", help="write the new manifest here (default: over --manifest)")
    a = ap.parse_args(argv)
    try:
        entries = split_bundle_graph(a.bundle, a.manifest, a.graph, a.segments, a.out_manifest)
    except (SegmentError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for e in entries:
        print(e["file"], e.get("data", ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
