"""Dynamic int8 quantization of an exported f32 graph, holding one f32 copy of it in memory (real-size UNets)."""

from __future__ import annotations

import contextlib
import os
import tempfile

import numpy as np
import onnx

from scripts.export import int8_rewrite
from scripts.export.memory import release_memory
from scripts.export.onnx_data import inline_copy


def quantize_gather_tables(path: str, min_size: int = 1 << 16, report: dict | None = None) -> int:
    """Store big Gather tables (the 49408-token embedding: 152 MB f32 in CLIP-L) as int8
    with one scale per row, gathered as int8 and scaled after the Gather, so the
    runtime keeps the int8 table in memory (a DequantizeLinear in front of the
    Gather would be folded back into an f32 constant at load time).

    With `report`, also drops the value_info the quantizer's shape inference left (see
    quantize_int8) and sets report["dropped_value_info"] if there was any."""
    from onnx import helper, numpy_helper

    m = onnx.load(path)
    inits = {i.name: i for i in m.graph.initializer}
    done = 0
    for node in list(m.graph.node):
        if node.op_type != "Gather" or node.input[0] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[0]])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        if w.dtype != np.float32 or w.ndim != 2 or w.size < min_size or axis != 0:
            continue
        scale = np.maximum(np.abs(w).max(axis=1), 1e-12) / 127.0
        q = np.clip(np.round(w / scale[:, None]), -127, 127).astype(np.int8)
        base = node.input[0]
        m.graph.initializer.remove(inits[base])
        m.graph.initializer.extend([numpy_helper.from_array(q, base + "_int8"),
                                    numpy_helper.from_array(scale.astype(np.float32)[:, None], base + "_row_scale")])
        ids, out = node.input[1], node.output[0]
        new = [helper.make_node("Gather", [base + "_int8", ids], [out + "_q"], axis=0),
               helper.make_node("Cast", [out + "_q"], [out + "_qf"], to=onnx.TensorProto.FLOAT),
               helper.make_node("Gather", [base + "_row_scale", ids], [out + "_s"], axis=0),
               helper.make_node("Mul", [out + "_qf", out + "_s"], [out])]
        at = list(m.graph.node).index(node)
        m.graph.node.remove(node)
        for k, n in enumerate(new):
            m.graph.node.insert(at + k, n)
        done += 1
    if report is not None and m.graph.value_info:
        del m.graph.value_info[:]
        report["dropped_value_info"] = True
    onnx.checker.check_model(m)
    onnx.save(m, path)
    del m, inits
    release_memory()
    return done


def _external_locations(model: onnx.ModelProto) -> set[str]:
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    return {e.value for t in _get_all_tensors(model) if uses_external_data(t) for e in t.external_data
            if e.key == "location"}


def _load_for_quantizer(src: str) -> onnx.ModelProto:
    """onnxruntime's quant_utils.load_model_with_shape_infer(src) (shape inference, then
    the inferred model with the quantizer's metadata mark), except that external data
    stays on disk: only the Gemm weights, which ONNXQuantizer transposes before it
    reloads the model (onnx_model.replace_gemm_with_matmul), are read in."""
    from pathlib import Path

    from onnx.external_data_helper import load_external_data_for_tensor, uses_external_data
    from onnxruntime.quantization.quant_utils import add_infer_metadata, generate_identified_filename

    inferred = generate_identified_filename(Path(src), "-inferred")
    onnx.shape_inference.infer_shapes_path(src, str(inferred))
    try:
        model = onnx.load(str(inferred), load_external_data=False)
    finally:
        inferred.unlink()
    gemm_inputs = {i for n in model.graph.node if n.op_type == "Gemm" for i in n.input}
    folder = os.path.dirname(os.path.abspath(src))
    for t in model.graph.initializer:
        if t.name in gemm_inputs and uses_external_data(t):
            load_external_data_for_tensor(t, folder)
            t.data_location = onnx.TensorProto.DEFAULT
            del t.external_data[:]
    add_infer_metadata(model)
    return model


@contextlib.contextmanager
def _quantizer_without_copies(src: str):
    """quantize_dynamic as onnxruntime runs it holds three copies of an f32 graph: the
    model it loads, a deep copy that ONNXQuantizer saves to refresh value_info
    (save_and_reload_model_with_shape_infer), and the model it reloads from that copy
    and works on (9-10 GB at once for a real-size UNet; a Python protobuf message
    keeps its memory until the whole message is gone). Here the weights stay on disk:

    - the first model is read without its external data (`_load_for_quantizer`);
    - the refresh saves it as it is, its external tensors found through links to
      SRC's data files in a temporary folder, and reloads it without external data;
    - the quantizer reads a weight (quant_utils.tensor_proto_to_array) from that
      folder into a temporary tensor, not into the model;
    - before the quantized model is saved, the external tensors it still uses (the
      ones not quantized: biases, norms) are read into it.

    The saved file is byte for byte what quantize_dynamic writes (checked on the
    real-size SD-Turbo UNet and the fixtures); the f32 weights are never all in memory."""
    import importlib
    from pathlib import Path

    from onnx.external_data_helper import load_external_data_for_model, uses_external_data

    qu = importlib.import_module("onnxruntime.quantization.quant_utils")
    onnx_quantizer = importlib.import_module("onnxruntime.quantization.onnx_quantizer")
    base_quantizer = importlib.import_module("onnxruntime.quantization.base_quantizer")
    onnx_model = importlib.import_module("onnxruntime.quantization.onnx_model")
    ort_quantize = importlib.import_module("onnxruntime.quantization.quantize")  # the module, not the function

    folder = os.path.dirname(os.path.abspath(src))
    to_array = qu.tensor_proto_to_array
    save_model_to_file = onnx_model.ONNXModel.save_model_to_file
    with tempfile.TemporaryDirectory(prefix="ort.quant.") as tmp:

        def load_with_shape_infer(path):
            if os.path.abspath(str(path)) != os.path.abspath(src):
                return qu.load_model_with_shape_infer(path)
            return _load_for_quantizer(src)

        def save_and_reload(model):
            for name in os.listdir(tmp):
                os.remove(os.path.join(tmp, name))
            for loc in _external_locations(model):
                os.symlink(os.path.join(folder, loc), os.path.join(tmp, loc))
            path = Path(tmp).joinpath("model.onnx")
            onnx.save_model(model, path.as_posix(), save_as_external_data=True)
            inferred = qu.generate_identified_filename(path, "-inferred")
            onnx.shape_inference.infer_shapes_path(str(path), str(inferred))
            reloaded = onnx.load(inferred.as_posix(), load_external_data=False)
            qu.add_infer_metadata(reloaded)
            inferred.unlink()
            return reloaded

        def tensor_proto_to_array(initializer):
            if not uses_external_data(initializer):
                return to_array(initializer)
            return to_array(inline_copy(initializer, tmp))

        def save_with_weights(self, output_path, use_external_data_format=False):
            load_external_data_for_model(self.model, tmp)
            return save_model_to_file(self, output_path, use_external_data_format)

        patched = [(ort_quantize, "load_model_with_shape_infer", load_with_shape_infer),
                   (onnx_quantizer, "save_and_reload_model_with_shape_infer", save_and_reload),
                   (qu, "tensor_proto_to_array", tensor_proto_to_array),
                   (base_quantizer, "tensor_proto_to_array", tensor_proto_to_array),
                   (onnx_quantizer, "tensor_proto_to_array", tensor_proto_to_array),
                   (onnx_model.ONNXModel, "save_model_to_file", save_with_weights)]
        originals = [(obj, name, getattr(obj, name)) for obj, name, _ in patched]
        for obj, name, fn in patched:
            setattr(obj, name, fn)
        try:
            yield
        finally:
            for obj, name, fn in originals:
                setattr(obj, name, fn)


def quantize_dynamic_int8(src: str, dst: str) -> dict:
    """scripts/factory/quantize.py `dynamic` (the same quantize_dynamic call, the same
    file) with one f32 copy of the graph in memory: the node selection reads the graph
    without its weights, and the quantizer makes no copies (above)."""
    from scripts.factory import quantize  # the project's int8 choice
    from onnxruntime.quantization import QuantType, quantize_dynamic

    keep, skip = quantize._const_weight_matmuls(onnx.load(src, load_external_data=False))
    release_memory()
    with _quantizer_without_copies(src):
        quantize_dynamic(src, dst, op_types_to_quantize=["MatMul", "Conv", "Gemm"], nodes_to_exclude=skip,
                         weight_type=QuantType.QUInt8, per_channel=False, reduce_range=False,
                         extra_options={"MatMulConstBOnly": True})
    release_memory()
    return dict(quantized_matmuls=len(keep), excluded_matmuls=len(skip))


def quantize_int8(src: str, dst: str, rewrite: bool = True) -> dict:
    info = quantize_dynamic_int8(src, dst)
    # The quantizer's shape inference leaves value_info with the symbolic
    # decoder sizes ("h", "w"); tract would hold them against the concrete
    # input shape it is given ("Impossible to unify Sym(h) with Val(8)"):
    # dropped here (the rewrites below keep what they are given).
    dropped = {}
    info["int8_gather_tables"] = quantize_gather_tables(dst, report=dropped)
    # tract 0.23.9 re-sums int8 weights of more than 1 Mi elements at every
    # call (int8_rewrite.py): split them into blocks it folds at load (bit-exact;
    # the real text encoder 4.5x faster per call). DynamicQuantizeLinear stays
    # as it is: the runtime has its own vectorised operator with an NNEF form
    # (src/runtime/dynamic_quantize.rs), so start-up stays short.
    # rewrite=False (--no-int8-rewrite) keeps onnxruntime's graphs as they are.
    if rewrite:
        info.update(int8_rewrite.split_wide_matmulinteger(dst, dst))
    release_memory()
    info.update(dropped)
    return info
