"""torch -> ONNX export of each part (text encoder, denoiser, decoder), memory-bounded and checked for tract."""

from __future__ import annotations

import contextlib
import os

import onnx
import torch

from scripts.export.families import ExportError
from scripts.export.memory import release_memory
from scripts.export.onnx_data import append_external, pack_external_data

OPSET = 17


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
def _after_tracing(module, consume: bool, traced_weights: dict | None):
    """Hooks torch.onnx.export (TorchScript) between tracing and serializing.

    consume: torch traces the module into a graph and a dict of the weights it
    keeps (constant folding makes new tensors, e.g. every Linear weight
    transposed for MatMul), then serializes the graph: while it does, the
    module's own weights that folding replaced are dead but still held by the
    module. They are released after tracing (the module's parameters are
    emptied: the caller drops the module right after the export). The
    serialization itself holds the weights three more times (torch's C++
    ModelProto, its string and the Python bytes: 3 x 1.36 GB for a real-size
    text encoder) unless they go apart (below) or over 2 GB to external data.

    traced_weights: the weights torch keeps are recorded there (name -> tensor),
    for an export without them (`weights_apart` in torch_export)."""
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
        if traced_weights is not None:
            traced_weights.update(params_dict)
        if consume:
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


# Weights above this many bytes in all are exported apart (torch_export's weights_apart).
APART_EXPORT_BYTES = 256 << 20


def torch_export(module, args, path, input_names, output_name, dynamic_axes=None, consume=False,
                 weights_apart=False, apart_bytes=APART_EXPORT_BYTES) -> None:
    """The torch.onnx.export call. With consume=True the module's weights are released
    during the export (the module is unusable afterwards); finish_graph does the rest.

    weights_apart=True, for a module with over apart_bytes of weights: torch writes
    the graph without its weights, which are then written tensor by tensor into
    `path + ".data"` (ONNX external data, as torch itself does over 2 GB). Why: while
    serializing, torch holds the weights three more times; that was the peak of the
    SDXS-class export (5.9 GiB for a 1.3 GB UNet, over the 6 GB goal)."""
    apart = weights_apart and sum(p.numel() * p.element_size() for p in module.parameters()) > apart_bytes
    traced = {} if apart else None
    hook = _after_tracing(module, consume, traced) if (consume or apart) else contextlib.nullcontext()
    with torch.no_grad(), _no_onnxscript_pass(), hook:
        torch.onnx.export(module, args, path, opset_version=OPSET, dynamo=False, do_constant_folding=True,
                          input_names=input_names, output_names=[output_name], dynamic_axes=dynamic_axes,
                          export_params=not apart)
    if apart:
        attach_weights_apart(path, traced)
        traced.clear()
        release_memory()


def attach_weights_apart(path: str, weights: dict) -> None:
    """Turn the graph inputs of the ONNX file at `path` that are named in `weights`
    (as torch.onnx.export(export_params=False) leaves a module's weights) into
    initializers stored in `basename(path) + ".data"`, written one tensor at a time."""
    import numpy as np
    from onnx import TensorProto, helper

    m = onnx.load(path)
    data_name = os.path.basename(path) + ".data"
    inputs = list(m.graph.input)
    with open(path + ".data.part", "wb") as out:
        for value in inputs:
            if value.name not in weights:
                continue
            array = np.ascontiguousarray(weights[value.name].detach().cpu().numpy())
            t = TensorProto(name=value.name, dims=array.shape, data_type=helper.np_dtype_to_tensor_dtype(array.dtype))
            append_external(out, t, data_name, array.tobytes())
            m.graph.initializer.append(t)
    os.replace(path + ".data.part", path + ".data")
    del m.graph.input[:]
    m.graph.input.extend(i for i in inputs if i.name not in weights)
    onnx.save(m, path)


def set_token_table_aside(te, path: str) -> str:
    """Shrink a CLIP text encoder's token table to one row before it is exported,
    keeping the table in a file beside `path` (returned) for put_token_table_back.

    Why: torch's serialization holds every weight several times (the parameters,
    its C++ ModelProto, the string and the Python bytes), and the table is 202 MB
    of OpenCLIP-H's 1.36 GB: the export's peak drops by about 0.8 GB. The traced
    input ids are all 0, so one row traces the same graph."""
    import numpy as np

    embedding = te.text_model.embeddings.token_embedding
    aside = path + ".token_table.npy"
    np.save(aside, embedding.weight.detach().numpy())
    with torch.no_grad():
        embedding.weight.data = embedding.weight.data[:1].clone()
    release_memory()
    return aside


def put_token_table_back(path: str, aside: str) -> None:
    """The graph at `path` with its one-row token table replaced by the one in
    `aside` (then removed). Call it once the module is gone: it loads the graph."""
    import numpy as np

    try:
        _put_token_table(path, np.load(aside))
    finally:
        os.remove(aside)


def _put_token_table(path: str, table) -> None:
    """Replace the one-row Gather table the traced graph at `path` holds with `table`.
    A graph whose weights are apart (external data) gets the table appended to its
    data file; the one-row table's bytes (one row, a few KB) stay there unread."""
    from onnx import TensorProto, numpy_helper

    m = onnx.load(path, load_external_data=False)
    inits = {t.name: t for t in m.graph.initializer}
    rows = [inits[n.input[0]] for n in m.graph.node if n.op_type == "Gather" and n.input[0] in inits
            and list(inits[n.input[0]].dims) == [1, table.shape[1]]]
    if len(rows) != 1:
        raise ExportError(f"{os.path.basename(path)}: {len(rows)} one-row Gather tables, expected the token table")
    row = rows[0]
    if row.data_location == TensorProto.EXTERNAL:
        location = {e.key: e.value for e in row.external_data}["location"]
        table = table.astype(onnx.helper.tensor_dtype_to_np_dtype(row.data_type), copy=False)
        with open(os.path.join(os.path.dirname(os.path.abspath(path)), location), "ab") as f:
            append_external(f, row, location, table.tobytes())
        del row.dims[:]
        row.dims.extend(table.shape)
    else:  # inline: loaded whole already (only external data is left on disk)
        row.CopyFrom(numpy_helper.from_array(table, row.name))
    onnx.save(m, path)
    del m, inits, rows, row
    release_memory()


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

