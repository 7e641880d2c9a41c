#!/usr/bin/env python3
"""Export a local diffusers Stable-Diffusion-family pipeline folder to an edgepaint bundle.

Nothing is downloaded: PIPELINE is a folder the user fetched elsewhere
(`StableDiffusionPipeline.save_pretrained` layout: tokenizer/, text_encoder/,
unet/, vae/, scheduler/, model_index.json).

    python3 -m scripts.export.export_diffusers PIPELINE OUT --family sd-turbo [--taesd TAESD_DIR]

Writes OUT/ with
- text_encoder.onnx, denoiser.onnx, decoder.onnx      f32, opset 17, fixed shapes, batch 1
- *.int8.onnx                                         dynamic int8 (DynamicQuantizeLinear +
                                                      MatMulInteger / ConvInteger), the
                                                      variant scripts/factory/quantize.py found
                                                      exact in tract
- vocab.json, merges.txt                              the pipeline's CLIP tokenizer (HF layout)
- model.toml (int8 graphs), model-f32.toml (f32 graphs), README.md, export.json

Families (defaults; every value is read from the folder's configs where it has one):
- sd-turbo   EulerDiscreteScheduler, timestep_spacing "trailing", 1-4 steps, no guidance
- sdxs       one step, no guidance; scheduler from the folder (see README "Bring your own model")
- lcm        LCM-distilled SD 1.5 (UNet with time_cond_proj_dim: the guidance embedding of
             --guidance is baked into the exported denoiser), LCMScheduler, 1-4 steps
- lcm-lora   an SD 1.5 / BK-SDM-Tiny UNet with LCM-LoRA merged, LCMScheduler, 1-4 steps,
             classifier-free guidance --guidance (1 = off)

The decoder is the pipeline's VAE decoder (AutoencoderKL), or with --taesd DIR an
AutoencoderTiny (TAESD) folder, or the pipeline's own vae/ when it is an AutoencoderTiny.
Graph rewrites for tract are applied by `rewrite_for_tract` (see README "Op coverage").

Memory: one torch module is in memory at a time (loaded just before its graph is
exported, freed right after; the manifest values come from the configs), and the int8
quantization holds one copy of the f32 graph, not three (`quantize_dynamic_int8`), so
a real-size SD 2.x export fits a machine with 8 GB (runs/real/TABLE.md).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import shutil
import tempfile

import numpy as np
import onnx
import torch

from scripts.export import int8_rewrite
from scripts.export.onnx_data import pack_external_data, sha256

OPSET = 17

FAMILIES = {
    "sd-turbo": dict(steps=[1, 2, 4], default_steps=1, guidance=1.0, scheduler="EulerDiscreteScheduler"),
    "sdxs": dict(steps=[1], default_steps=1, guidance=1.0, scheduler=None),
    "lcm": dict(steps=[1, 2, 4], default_steps=4, guidance=8.5, scheduler="LCMScheduler"),
    "lcm-lora": dict(steps=[1, 2, 4], default_steps=4, guidance=1.0, scheduler="LCMScheduler"),
}

# diffusers prediction_type -> model.toml prediction
PREDICTION = {"epsilon": "epsilon", "v_prediction": "v", "sample": "x0"}


class ExportError(Exception):
    """A pipeline folder this script cannot turn into a bundle (the message says why)."""


def release_memory() -> None:
    """Drop freed Python objects and hand freed heap pages back to the OS (glibc), so the
    next stage starts from what is really live."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def module_config(cls, pipeline_dir: str, subfolder: str):
    """`cls.from_pretrained(pipeline_dir, subfolder=...).config` without the weights: the
    module is built on the meta device (accelerate), or, without accelerate, built with
    random weights and dropped at once."""
    cfg = cls.load_config(pipeline_dir, subfolder=subfolder)
    try:
        from accelerate import init_empty_weights
    except ImportError:
        init_empty_weights = contextlib.nullcontext
    with init_empty_weights():
        module = cls.from_config(cfg)
    config = module.config
    del module
    release_memory()
    return config


# ----------------------------------------------------------------------------- wrappers


class TextEncoderGraph(torch.nn.Module):
    """input_ids int64 [1, L] -> last_hidden_state [1, L, hidden] (what SD pipelines feed the UNet)."""

    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids):
        return self.te(input_ids, return_dict=False)[0]


class DenoiserGraph(torch.nn.Module):
    """(sample, timestep f32 [1], encoder_hidden_states) -> UNet output.

    An LCM-distilled UNet (time_cond_proj_dim set) also takes the guidance-scale
    embedding; the guidance is fixed per bundle, so the embedding is a constant."""

    def __init__(self, unet, timestep_cond=None):
        super().__init__()
        self.unet = unet
        self.has_cond = timestep_cond is not None
        if self.has_cond:
            self.register_buffer("timestep_cond", timestep_cond, persistent=False)

    def forward(self, sample, timestep, encoder_hidden_states):
        kw = {"timestep_cond": self.timestep_cond} if self.has_cond else {}
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False, **kw)[0]


class DecoderGraph(torch.nn.Module):
    """latents / scaling_factor + shift_factor -> image in [-1, 1] (AutoencoderKL or AutoencoderTiny)."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latents):
        return self.vae.decode(latents, return_dict=False)[0]


def guidance_embedding(w: float, dim: int) -> torch.Tensor:
    """LatentConsistencyModelPipeline.get_guidance_scale_embedding for w = guidance - 1."""
    from diffusers import LatentConsistencyModelPipeline

    return LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, torch.tensor([w]), embedding_dim=dim)


# ----------------------------------------------------------------------------- graph rewrites


def rewrite_for_tract(path: str) -> dict:
    """Rewrites that tract 0.23 needs; returns what was changed (recorded in export.json).

    So far every op of these exports loads and matches onnxruntime in tract as
    exported (tests/diffusers_parity.rs), so this only strips the unused
    graph outputs some exporters leave and re-checks the model."""
    m = onnx.load(path, load_external_data=False)
    changed = {}
    if len(m.graph.output) > 1:
        keep = m.graph.output[0]
        del m.graph.output[:]
        m.graph.output.append(keep)
        changed["dropped_outputs"] = True
    if changed:
        onnx.save(m, path)  # external data stays where it is (not loaded, not rewritten)
    onnx.checker.check_model(path)
    return changed


@contextlib.contextmanager
def _no_onnxscript_pass():
    """torch.onnx.export (TorchScript) ends by parsing the whole serialized model once
    more (onnx_proto_utils._add_onnxscript_fn: 1.4 GB for a real-size text encoder) only
    to append onnx-script functions of custom-domain ops; these graphs have none
    (`_check_standard_domains` checks every exported graph), so the bytes pass
    through unchanged without the parse."""
    try:
        from torch.onnx._internal import onnx_proto_utils
    except ImportError:
        yield
        return
    original = getattr(onnx_proto_utils, "_add_onnxscript_fn", None)
    if original is None:
        yield
        return
    onnx_proto_utils._add_onnxscript_fn = lambda model_bytes, custom_opsets: model_bytes
    try:
        yield
    finally:
        onnx_proto_utils._add_onnxscript_fn = original


def _check_standard_domains(path: str) -> None:
    m = onnx.load(path, load_external_data=False)
    custom = sorted({n.domain for n in m.graph.node if n.domain not in ("", "ai.onnx")})
    if custom:
        raise ExportError(f"{os.path.basename(path)}: ops of custom domains {custom} (not supported)")


@contextlib.contextmanager
def _weights_dropped_after_tracing(module):
    """torch.onnx.export (TorchScript) traces the module into a graph and a dict of the
    weights it keeps (constant folding makes new tensors, e.g. every Linear weight
    transposed for MatMul), then serializes the graph: while it does, the module's own
    weights that folding replaced are dead but still held by the module. They are
    released after tracing (the module's parameters are emptied: the caller drops the
    module right after the export). The serialization itself still holds the weights
    three times (torch's C++ ModelProto, its string and the Python bytes: 3 x 1.36 GB
    for a real-size text encoder, the export's peak); a graph over 2 GB (the UNet)
    goes to external data instead and does not."""
    try:
        from torch.onnx import utils as onnx_utils
    except ImportError:
        yield
        return
    original = getattr(onnx_utils, "_model_to_graph", None)
    if original is None:
        yield
        return

    def model_to_graph(*args, **kwargs):
        graph, params_dict, torch_out = original(*args, **kwargs)
        kept = {t.untyped_storage().data_ptr() for t in params_dict.values() if isinstance(t, torch.Tensor)}
        with torch.no_grad():
            for t in module.parameters():  # traced as graph inputs, never as constants
                if t.untyped_storage().data_ptr() not in kept:
                    t.data = torch.empty(0, dtype=t.dtype)
        release_memory()
        return graph, params_dict, torch_out

    onnx_utils._model_to_graph = model_to_graph
    try:
        yield
    finally:
        onnx_utils._model_to_graph = original


def torch_export(module, args, path, input_names, output_name, dynamic_axes=None, consume=False) -> None:
    """The torch.onnx.export call. With consume=True the module's weights are released
    during the export (the module is unusable afterwards); finish_graph does the rest."""
    drop = _weights_dropped_after_tracing(module) if consume else contextlib.nullcontext()
    with torch.no_grad(), _no_onnxscript_pass(), drop:
        torch.onnx.export(module, args, path, opset_version=OPSET, dynamo=False, do_constant_folding=True,
                          input_names=input_names, output_names=[output_name], dynamic_axes=dynamic_axes)


def finish_graph(path: str) -> dict:
    """Pack external data, apply rewrite_for_tract; returns the rewrites."""
    # Over 2 GB (a real-size f32 UNet) torch writes one loose file per weight:
    # packed into one GRAPH.onnx.data that model.toml hashes (onnx_data.py).
    packed = pack_external_data(path)
    release_memory()
    _check_standard_domains(path)
    rewrites = rewrite_for_tract(path)
    release_memory()
    if packed:
        rewrites["external_data"] = packed
    return rewrites


def export_graph(module, args, path, input_names, output_name, dynamic_axes=None):
    torch_export(module, args, path, input_names, output_name, dynamic_axes)
    return finish_graph(path)


def graph_bytes(path: str) -> int:
    """Size of a graph file with its external data, if any."""
    data = path + ".data"
    return os.path.getsize(path) + (os.path.getsize(data) if os.path.exists(data) else 0)


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

    from onnx.external_data_helper import ExternalDataInfo, load_external_data_for_model, uses_external_data

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
            info = ExternalDataInfo(initializer)
            with open(os.path.join(tmp, info.location), "rb") as f:
                f.seek(info.offset or 0)
                data = f.read(info.length) if info.length else f.read()
            t = onnx.TensorProto()
            t.CopyFrom(initializer)
            del t.external_data[:]
            t.data_location = onnx.TensorProto.DEFAULT
            t.raw_data = data
            return to_array(t)

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
    # tract 0.23.9 re-sums big int8 weights at every call and runs a scalar
    # DynamicQuantizeLinear: split the weights and expand DQL (int8_rewrite.py).
    # Measured on SD-Turbo's real architecture: the text encoder 4.5x faster per
    # call and a UNet step 1.3x, but loading 2.4-3.4x slower (tract optimizes
    # many more nodes), and the graphs then have an NNEF form (board builds).
    # rewrite=False (--no-int8-rewrite) keeps onnxruntime's graphs as they are.
    if rewrite:
        info.update(int8_rewrite.split_then_expand_dql(dst, dst))
    release_memory()
    info.update(dropped)
    return info


# ----------------------------------------------------------------------------- scheduler


def scheduler_section(sched, family: str, steps: list[int]) -> tuple[dict, dict]:
    """model.toml [scheduler] and denoiser prediction from a diffusers scheduler; timesteps
    come from diffusers' own set_timesteps for each step count."""
    cfg = dict(sched.config)
    name = type(sched).__name__
    want = FAMILIES[family]["scheduler"]
    if want and name != want:
        raise ExportError(f"scheduler/ is {name}, the {family} family needs {want} (use --scheduler to replace it)")
    pred = PREDICTION.get(cfg.get("prediction_type", "epsilon"))
    if pred is None:
        raise ExportError(f"scheduler prediction_type {cfg.get('prediction_type')!r} is not supported")
    if cfg.get("trained_betas") is not None:
        raise ExportError("trained_betas are not supported (only linear / scaled_linear schedules)")
    if cfg.get("beta_schedule") not in ("linear", "scaled_linear"):
        raise ExportError(f"beta_schedule {cfg.get('beta_schedule')!r} is not supported")
    if cfg.get("thresholding") or cfg.get("clip_sample"):
        raise ExportError("thresholding / clip_sample are not supported")
    if name == "EulerDiscreteScheduler":
        kind = "euler"
        bad = {k: cfg.get(k) for k, ok in [("use_karras_sigmas", False), ("use_exponential_sigmas", False),
                                           ("use_beta_sigmas", False), ("interpolation_type", "linear"),
                                           ("final_sigmas_type", "zero"), ("rescale_betas_zero_snr", False)]
               if cfg.get(k, ok) != ok}
        if bad:
            raise ExportError(f"EulerDiscreteScheduler options not supported: {bad}")
        spacing = cfg.get("timestep_spacing", "linspace")
        if spacing not in ("linspace", "leading", "trailing"):
            raise ExportError(f"EulerDiscreteScheduler timestep_spacing {spacing!r} is not supported")
    elif name == "LCMScheduler":
        kind = "lcm"
        if cfg.get("timestep_scaling", 10.0) != 10.0:
            raise ExportError("LCMScheduler timestep_scaling must be 10")
    elif name == "DDIMScheduler":
        kind = "ddim"
        if cfg.get("set_alpha_to_one", True):
            raise ExportError("DDIMScheduler with set_alpha_to_one=True is not supported (SD uses False)")
    else:
        raise ExportError(f"scheduler {name} is not supported; use --scheduler euler-trailing|lcm|ddim-trailing")
    table = {}
    for n in steps:
        sched.set_timesteps(n)
        ts = [float(t) for t in sched.timesteps]
        if len(ts) != n:
            raise ExportError(f"{name}.set_timesteps({n}) gave {len(ts)} timesteps")
        table[str(n)] = ts
    section = dict(kind=kind, train_timesteps=int(cfg["num_train_timesteps"]), beta_schedule=cfg["beta_schedule"],
                   beta_start=float(cfg["beta_start"]), beta_end=float(cfg["beta_end"]))
    if kind == "euler":  # its initial noise depends on the spacing ("leading": sqrt(sigma_max^2 + 1))
        section["timestep_spacing"] = spacing
    return section, dict(prediction=pred, timesteps=table, diffusers_class=name, diffusers_config=cfg)


def replace_scheduler(sched, spec: str):
    from diffusers import DDIMScheduler, EulerDiscreteScheduler, LCMScheduler

    if spec == "euler-trailing":
        return EulerDiscreteScheduler.from_config(sched.config, timestep_spacing="trailing")
    if spec == "lcm":
        return LCMScheduler.from_config(sched.config)
    if spec == "ddim-trailing":
        return DDIMScheduler.from_config(sched.config, timestep_spacing="trailing", set_alpha_to_one=False,
                                         clip_sample=False)
    raise ExportError(f"unknown --scheduler {spec}")


def load_scheduler(pipeline_dir: str, override: str | None):
    import diffusers

    cfg_path = os.path.join(pipeline_dir, "scheduler", "scheduler_config.json")
    with open(cfg_path) as f:
        cls = json.load(f)["_class_name"]
    sched = getattr(diffusers, cls).from_pretrained(pipeline_dir, subfolder="scheduler")
    return replace_scheduler(sched, override) if override else sched


# ----------------------------------------------------------------------------- main


def load_decoder(pipeline_dir: str, taesd: str | None):
    from diffusers import AutoencoderKL, AutoencoderTiny

    if taesd:
        return AutoencoderTiny.from_pretrained(taesd), "taesd"
    with open(os.path.join(pipeline_dir, "vae", "config.json")) as f:
        cls = json.load(f)["_class_name"]
    if cls == "AutoencoderTiny":
        return AutoencoderTiny.from_pretrained(pipeline_dir, subfolder="vae"), "taesd"
    return AutoencoderKL.from_pretrained(pipeline_dir, subfolder="vae"), "vae"


def export(pipeline_dir: str, out: str, family: str, taesd: str | None = None, steps: list[int] | None = None,
           guidance: float | None = None, size: tuple[int, int] | None = None, scheduler: str | None = None,
           decoder_tile: int | None = None, decoder_tile_overlap: int | None = None, name: str | None = None,
           quantize: bool = True, int8_rewrite_for_tract: bool = True, log=print) -> dict:
    """Export PIPELINE to OUT; returns the export report (also written to OUT/export.json).

    Every check runs on the configs before any graph is written; then each torch
    module is loaded, exported and freed in turn (one in memory at a time)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    fam = FAMILIES[family]
    steps = steps or fam["steps"]
    guidance = fam["guidance"] if guidance is None else guidance
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    tok = CLIPTokenizer.from_pretrained(pipeline_dir, subfolder="tokenizer")
    te_config = CLIPTextConfig.from_pretrained(pipeline_dir, subfolder="text_encoder")
    unet_config = module_config(UNet2DConditionModel, pipeline_dir, "unet")
    sched = load_scheduler(pipeline_dir, scheduler)
    sched_section, sched_info = scheduler_section(sched, family, steps)

    L = int(tok.model_max_length)
    hidden = int(te_config.hidden_size)
    C = int(unet_config.in_channels)
    if size is None:
        ss = unet_config.sample_size
        lh, lw = (ss, ss) if isinstance(ss, int) else tuple(ss)
    else:
        lh, lw = size
    if unet_config.cross_attention_dim != hidden:
        raise ExportError(f"unet cross_attention_dim {unet_config.cross_attention_dim} != text hidden {hidden}")
    if family == "lcm" and not unet_config.time_cond_proj_dim:
        # Without the embedding the guidance would silently become classifier-free
        # guidance at the LCM scale (8.5), a different model.
        raise ExportError("--family lcm needs an LCM-distilled UNet with a guidance embedding "
                          "(unet config time_cond_proj_dim); this UNet has none: for an SD UNet with "
                          "LCM-LoRA merged use --family lcm-lora")
    if unet_config.addition_embed_type is not None:
        raise ExportError("UNets with added conditioning (SDXL: text_time) are not supported yet")
    if unet_config.time_cond_proj_dim and family != "lcm":
        raise ExportError("this UNet takes a guidance embedding (time_cond_proj_dim): use --family lcm")

    report = dict(family=family, graphs={})
    # Text encoder
    te = CLIPTextModel.from_pretrained(pipeline_dir, subfolder="text_encoder", attn_implementation="eager").eval()
    ids = torch.zeros(1, L, dtype=torch.int64)
    p = os.path.join(out, "text_encoder.onnx")
    torch_export(TextEncoderGraph(te), (ids,), p, ["input_ids"], "last_hidden_state", consume=True)
    del te
    release_memory()
    report["graphs"]["text_encoder"] = dict(rewrites=finish_graph(p))
    # Denoiser
    cond = None
    if unet_config.time_cond_proj_dim:
        cond = guidance_embedding(guidance - 1.0, unet_config.time_cond_proj_dim)
        report["embedded_guidance"] = guidance
    unet = UNet2DConditionModel.from_pretrained(pipeline_dir, subfolder="unet").eval()
    den = DenoiserGraph(unet, cond)
    args = (torch.zeros(1, C, lh, lw), torch.tensor([999.0]), torch.zeros(1, L, hidden))
    p = os.path.join(out, "denoiser.onnx")
    torch_export(den, args, p, ["sample", "timestep", "encoder_hidden_states"], "out", consume=True)
    del den, unet, args
    release_memory()
    report["graphs"]["denoiser"] = dict(rewrites=finish_graph(p))
    # Decoder: height and width stay symbolic, so the runtime can run it on the
    # whole latent or on tiles of it (decoder.tile in model.toml).
    vae, decoder_kind = load_decoder(pipeline_dir, taesd)
    vae = vae.eval()
    vae_config = vae.config
    lat_c = int(getattr(vae_config, "latent_channels", C))
    with torch.no_grad():
        img = vae.decode(torch.zeros(1, lat_c, lh, lw), return_dict=False)[0]
    ih, iw = int(img.shape[2]), int(img.shape[3])
    del img
    p = os.path.join(out, "decoder.onnx")
    axes = {"latents": {2: "h", 3: "w"}, "image": {2: "image_h", 3: "image_w"}}
    torch_export(DecoderGraph(vae), (torch.zeros(1, lat_c, lh, lw),), p, ["latents"], "image", dynamic_axes=axes,
                 consume=True)
    del vae
    release_memory()
    report["graphs"]["decoder"] = dict(rewrites=finish_graph(p))
    report = dict(family=family, decoder_kind=decoder_kind, **{k: v for k, v in report.items() if k != "family"})

    # int8
    names = ["text_encoder", "denoiser", "decoder"]
    if quantize:
        for g in names:
            report["graphs"][g]["int8"] = quantize_int8(os.path.join(out, g + ".onnx"), os.path.join(out, g + ".int8.onnx"),
                                                         rewrite=int8_rewrite_for_tract)
    for g in names:
        report["graphs"][g]["f32_bytes"] = graph_bytes(os.path.join(out, g + ".onnx"))
        if quantize:
            report["graphs"][g]["int8_bytes"] = graph_bytes(os.path.join(out, g + ".int8.onnx"))

    # Tokenizer files (HF layout) and pad id.
    for f in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(pipeline_dir, "tokenizer", f), os.path.join(out, f))
    pad_id = int(tok.pad_token_id)

    scaling = float(vae_config.scaling_factor)
    shift = float(getattr(vae_config, "shift_factor", None) or 0.0)
    manifest_args = dict(name=name or os.path.basename(os.path.normpath(out)), family=family, L=L, hidden=hidden,
                         pad_id=pad_id, prediction=sched_info["prediction"], scaling=scaling, shift=shift,
                         C=C, lh=lh, lw=lw, ih=ih, iw=iw, sched=sched_section, timesteps=sched_info["timesteps"],
                         default_steps=fam["default_steps"] if fam["default_steps"] in steps else max(steps),
                         guidance=guidance if cond is None else 1.0, tile=decoder_tile,
                         overlap=decoder_tile_overlap, decoder_kind=decoder_kind, out=out)
    variants = [("model-f32.toml", "")] + ([("model.toml", ".int8")] if quantize else [])
    if not quantize:
        variants.append(("model.toml", ""))
    for fname, suffix in variants:
        with open(os.path.join(out, fname), "w") as f:
            f.write(manifest(suffix=suffix, **manifest_args))
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(card(pipeline_dir, family, decoder_kind, sched_info, report, guidance))
    report.update(scheduler=sched_info["diffusers_class"], timesteps=sched_info["timesteps"], latent=[C, lh, lw],
                  image=[iw, ih], pad_id=pad_id, max_length=L, hidden=hidden)
    with open(os.path.join(out, "export.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    log(f"{out}: {family}, decoder {decoder_kind}, latent {C}x{lh}x{lw}, image {iw}x{ih}, "
        f"scheduler {sched_section['kind']} {sched_info['timesteps']}")
    return report


def manifest(*, suffix, name, family, L, hidden, pad_id, prediction, scaling, shift, C, lh, lw, ih, iw, sched,
             timesteps, default_steps, guidance, tile, overlap, decoder_kind, out) -> str:
    def file(g):
        return f"{g}{suffix}.onnx"

    def graph(g):
        """file, sha256 and (for a graph over 2 GB) its external data file and sha256."""
        lines = f'file = "{file(g)}"\nsha256 = "{sha256(os.path.join(out, file(g)))}"'
        data = os.path.join(out, file(g) + ".data")
        if os.path.exists(data):
            lines += f'\ndata = "{file(g)}.data"\ndata_sha256 = "{sha256(data)}"'
        return lines

    steps = "\n".join(f"{k} = [{', '.join(repr(float(v)) for v in vs)}]"
                      for k, vs in sorted(timesteps.items(), key=lambda kv: int(kv[0])))
    tiling = ""
    if tile:
        tiling = f"tile = {tile}\ntile_overlap = {overlap if overlap is not None else tile // 4}\n"
    precision = "int8 (dynamic)" if suffix else "f32"
    spacing_line = f'timestep_spacing = "{sched["timestep_spacing"]}"\n' if "timestep_spacing" in sched else ""
    # The description names the exporter by its path before scripts/ had rooms: the committed
    # fixtures record it (and their model.toml sha256), so it stays byte for byte.
    return f"""format = 1
name = "{name}"
description = "{family} exported by scripts/export_diffusers.py, {decoder_kind} decoder, {precision}"
license = "see README.md"
image_size = [{iw}, {ih}]

[tokenizer]
kind = "clip-bpe"
flavor = "hf"
merges = "merges.txt"
merges_sha256 = "{sha256(os.path.join(out, 'merges.txt'))}"
vocab = "vocab.json"
vocab_sha256 = "{sha256(os.path.join(out, 'vocab.json'))}"
max_length = {L}
pad_id = {pad_id}

[text_encoder]
{graph('text_encoder')}
hidden_size = {hidden}

[denoiser]
{graph('denoiser')}
prediction = "{prediction}"

[decoder]
{graph('decoder')}
scaling_factor = {scaling!r}
shift_factor = {shift!r}
output_range = [-1.0, 1.0]
{tiling}
[latent]
channels = {C}
height = {lh}
width = {lw}

[scheduler]
kind = "{sched['kind']}"
train_timesteps = {sched['train_timesteps']}
beta_schedule = "{sched['beta_schedule']}"
beta_start = {sched['beta_start']!r}
beta_end = {sched['beta_end']!r}
default_steps = {default_steps}
{spacing_line}
[scheduler.timesteps]
{steps}

[guidance]
scale = {float(guidance)!r}
"""


def card(pipeline_dir, family, decoder_kind, sched_info, report, guidance) -> str:
    # The next line names the exporter by its old path, as the committed fixtures record it.
    lines = [f"# {family} bundle", "",
             f"Exported by `scripts/export_diffusers.py` from `{os.path.basename(os.path.normpath(pipeline_dir))}`.",
             "The licence is the source model's: read its model card before you share pictures or the bundle.", "",
             f"- scheduler: diffusers {sched_info['diffusers_class']}, timesteps {sched_info['timesteps']}",
             f"- prediction: {sched_info['prediction']}",
             f"- decoder: {decoder_kind}",
             f"- guidance: {guidance}" + (" (embedded in the denoiser)" if "embedded_guidance" in report else ""),
             "- model.toml: int8 (dynamic) graphs; model-f32.toml: the f32 graphs", ""]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("pipeline", help="local diffusers pipeline folder")
    ap.add_argument("out", help="bundle folder to write")
    ap.add_argument("--family", required=True, choices=sorted(FAMILIES))
    ap.add_argument("--taesd", help="AutoencoderTiny (TAESD) folder to use as the decoder")
    ap.add_argument("--steps", help="comma-separated step counts (default: the family's)")
    ap.add_argument("--guidance", type=float, help="guidance scale (lcm: embedded; others: CFG when > 1)")
    ap.add_argument("--size", help="latent HxW (default: the UNet's sample_size)")
    ap.add_argument("--scheduler", choices=["euler-trailing", "lcm", "ddim-trailing"],
                    help="replace the folder's scheduler (its betas are kept)")
    ap.add_argument("--decoder-tile", type=int, help="export the decoder for latent tiles of this size "
                    "(the runtime decodes in overlapping, blended tiles)")
    ap.add_argument("--decoder-tile-overlap", type=int, help="tile overlap in latent pixels (default tile/4)")
    ap.add_argument("--name", help="bundle name (default: OUT's folder name)")
    ap.add_argument("--no-int8", action="store_true", help="f32 graphs only")
    ap.add_argument("--no-int8-rewrite", action="store_true",
                    help="keep the int8 graphs as onnxruntime's quantizer writes them: loads faster in tract, "
                         "runs slower, no NNEF form (README 'Real-size models')")
    a = ap.parse_args(argv)
    steps = [int(s) for s in a.steps.split(",")] if a.steps else None
    size = tuple(int(v) for v in a.size.lower().split("x")) if a.size else None
    try:
        export(a.pipeline, a.out, a.family, taesd=a.taesd, steps=steps, guidance=a.guidance, size=size,
               scheduler=a.scheduler, decoder_tile=a.decoder_tile, decoder_tile_overlap=a.decoder_tile_overlap,
               name=a.name, quantize=not a.no_int8, int8_rewrite_for_tract=not a.no_int8_rewrite)
    except ExportError as e:
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
