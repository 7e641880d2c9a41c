"""ONNX rewrites that keep a graph's function and make it cheaper to run in
tract (measured with `edgepaint bench`, README "Performance").

upsample_conv_to_phases: a nearest 2x upsampling (exported as
Reshape/Expand/Reshape) followed by a 3x3 convolution (stride 1, pad 1) is
the same as four 2x2 convolutions on the small input, one per output phase
(even/odd row x even/odd column), interleaved by DepthToSpace. It does 4/9
of the multiply-adds and never materialises the upsampled input, which tract
runs as a broadcast copy (a fifth of the decoder's time).

  python3 -m scripts.factory.graph_rewrite SRC.onnx DST.onnx

Only numpy + onnx; checked against onnxruntime by scripts/tests/test_graph_rewrite.py."""
import argparse

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

# For output phase a (row 2i+a), which taps of a 3-tap kernel fall on each of
# the two input rows the phase reads, and the padding before/after.
PHASE_TAPS = {0: np.array([[1, 0, 0], [0, 1, 1]], np.float32), 1: np.array([[1, 1, 0], [0, 0, 1]], np.float32)}
PHASE_PADS = {0: (1, 0), 1: (0, 1)}


def phase_kernels(w):
    """[Co, Ci, 3, 3] -> {(a, b): [Co, Ci, 2, 2]}: the kernels of the four phases."""
    return {(a, b): np.einsum("ik,ockl,jl->ocij", PHASE_TAPS[a], w, PHASE_TAPS[b]).astype(w.dtype)
            for a in (0, 1) for b in (0, 1)}


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _shapes(model):
    inferred = shape_inference.infer_shapes(model)
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else None for d in vi.type.tensor_type.shape.dim]
        out[vi.name] = dims
    return out


def _upsample_source(name, producers, shapes):
    """If tensor `name` is a nearest 2x upsampling of some x (Reshape to
    [B,C,H,1,W,1], Expand to [B,C,H,2,W,2], Reshape to [B,C,2H,2W]),
    return (x, [nodes of the pattern]); else None."""
    r2 = producers.get(name)
    if r2 is None or r2.op_type != "Reshape":
        return None
    ex = producers.get(r2.input[0])
    if ex is None or ex.op_type != "Expand":
        return None
    r1 = producers.get(ex.input[0])
    if r1 is None or r1.op_type != "Reshape":
        return None
    x = r1.input[0]
    sx, s1, se, s2 = (shapes.get(n) for n in (x, r1.output[0], ex.output[0], r2.output[0]))
    if not all(s and None not in s for s in (sx, s1, s2)) or len(sx) != 4:
        return None
    b, c, h, w = sx
    # shape inference often leaves the Expand's dims open (its shape is
    # computed); known dims must fit, and the caller checks the result
    expanded = [b, c, h, 2, w, 2]
    if not se or len(se) != 6 or any(d is not None and d != e for d, e in zip(se, expanded)):
        return None
    if s1 != [b, c, h, 1, w, 1] or s2 != [b, c, 2 * h, 2 * w]:
        return None
    return x, [r1, ex, r2]


def upsample_conv_to_phases(src, dst):
    with open(src, "rb") as fh:
        original = fh.read()  # kept for the check: dst may be src
    m = onnx.load_from_string(original)
    g = m.graph
    shapes = _shapes(m)
    inits = {i.name: i for i in g.initializer}
    producers = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    rewritten = 0
    for conv in list(g.node):
        if conv.op_type != "Conv" or conv.input[1] not in inits:
            continue
        at = _attrs(conv)
        if (at.get("kernel_shape") != [3, 3] or at.get("pads", [0] * 4) != [1, 1, 1, 1]
                or at.get("strides", [1, 1]) != [1, 1] or at.get("dilations", [1, 1]) != [1, 1]
                or at.get("group", 1) != 1 or at.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")):
            continue
        found = _upsample_source(conv.input[0], producers, shapes)
        if found is None:
            continue
        x, pattern = found
        w = numpy_helper.to_array(inits[conv.input[1]])
        bias = conv.input[2:3]
        base = conv.name or conv.output[0]
        phases = []
        new = []
        for (a, b), k in phase_kernels(w).items():
            kname = f"{conv.input[1]}_phase{a}{b}"
            g.initializer.append(numpy_helper.from_array(k, kname))
            out = f"{base}_phase{a}{b}"
            (top, bottom), (left, right) = PHASE_PADS[a], PHASE_PADS[b]
            new.append(helper.make_node("Conv", [x, kname] + list(bias), [out], name=out,
                                        kernel_shape=[2, 2], pads=[top, left, bottom, right]))
            phases.append(out)
        cat = f"{base}_phases"
        # DCR order: channel (2a + b) * Co + c goes to pixel (2i + a, 2j + b)
        new.append(helper.make_node("Concat", phases, [cat], name=cat, axis=1))
        new.append(helper.make_node("DepthToSpace", [cat], [conv.output[0]], name=f"{base}_d2s",
                                    blocksize=2, mode="DCR"))
        at_index = list(g.node).index(conv)
        g.node.remove(conv)
        for i, nd in enumerate(new):
            g.node.insert(at_index + i, nd)
        # drop the upsampling when nothing else reads it
        up_out = pattern[-1].output[0]
        if all(c is conv for c in consumers.get(up_out, [])):
            for nd in pattern:
                g.node.remove(nd)
        rewritten += 1
    # initializers and Constant nodes no longer read by anything
    used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
    for init in list(g.initializer):
        if init.name not in used:
            g.initializer.remove(init)
    changed = True
    while changed:
        changed = False
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        for nd in list(g.node):
            if all(o not in used for o in nd.output):
                g.node.remove(nd)
                changed = True
    del g.value_info[:]
    onnx.checker.check_model(m)
    onnx.save(m, dst)
    diff = check_same_function(original, dst)
    return dict(upsample_convs=rewritten, max_abs_diff=diff)


def check_same_function(original, dst, tol=1e-4):
    """Run the original graph (bytes) and the rewritten one (path) in
    onnxruntime on the same random inputs; refuse (ValueError) a rewrite
    whose outputs differ by more than float rounding."""
    import onnxruntime as ort
    sa, sb = (ort.InferenceSession(m, providers=["CPUExecutionProvider"]) for m in (original, dst))
    rng = np.random.default_rng(0)
    feeds = {}
    for i in sa.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in i.shape]
        feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    ra, rb = sa.run(None, feeds)[0], sb.run(None, feeds)[0]
    diff = float(np.abs(ra - rb).max())
    if not diff <= tol * max(1.0, float(np.abs(ra).max())):
        raise ValueError(f"{dst}: the rewritten graph differs from the original by {diff}")
    return diff


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src")
    ap.add_argument("dst")
    a = ap.parse_args()
    print(upsample_conv_to_phases(a.src, a.dst))
