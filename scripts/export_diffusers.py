#!/usr/bin/env python3
"""Export a local diffusers Stable-Diffusion-family pipeline folder to an edgepaint bundle.

Nothing is downloaded: PIPELINE is a folder the user fetched elsewhere
(`StableDiffusionPipeline.save_pretrained` layout: tokenizer/, text_encoder/,
unet/, vae/, scheduler/, model_index.json).

    python3 scripts/export_diffusers.py PIPELINE OUT --family sd-turbo [--taesd TAESD_DIR]

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
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys

import numpy as np
import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "factory"))
sys.path.insert(0, HERE)
import int8_rewrite  # noqa: E402
from onnx_data import pack_external_data  # noqa: E402

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


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


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


def export_graph(module, args, path, input_names, output_name, dynamic_axes=None):
    with torch.no_grad():
        torch.onnx.export(module, args, path, opset_version=OPSET, dynamo=False, do_constant_folding=True,
                          input_names=input_names, output_names=[output_name], dynamic_axes=dynamic_axes)
    # Over 2 GB (a real-size f32 UNet) torch writes one loose file per weight:
    # packed into one GRAPH.onnx.data that model.toml hashes (onnx_data.py).
    packed = pack_external_data(path)
    rewrites = rewrite_for_tract(path)
    if packed:
        rewrites["external_data"] = packed
    return rewrites


def graph_bytes(path: str) -> int:
    """Size of a graph file with its external data, if any."""
    data = path + ".data"
    return os.path.getsize(path) + (os.path.getsize(data) if os.path.exists(data) else 0)


def quantize_gather_tables(path: str, min_size: int = 1 << 16) -> int:
    """Store big Gather tables (the 49408-token embedding: 152 MB f32 in CLIP-L) as int8
    with one scale per row, gathered as int8 and scaled after the Gather, so the
    runtime keeps the int8 table in memory (a DequantizeLinear in front of the
    Gather would be folded back into an f32 constant at load time)."""
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
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return done


def quantize_int8(src: str, dst: str) -> dict:
    import quantize  # scripts/factory/quantize.py: the project's int8 choice

    info = quantize.dynamic(src, dst)
    info["int8_gather_tables"] = quantize_gather_tables(dst)
    # tract 0.23.9 re-sums big int8 weights at every call and runs a scalar
    # DynamicQuantizeLinear: split the weights and expand DQL (int8_rewrite.py;
    # the real-size SD-Turbo text encoder 6.4x faster, a UNet step 1.8x).
    info.update(int8_rewrite.split_then_expand_dql(dst, dst))
    # The quantizer's shape inference leaves value_info with the symbolic
    # decoder sizes ("h", "w"); tract would hold them against the concrete
    # input shape it is given ("Impossible to unify Sym(h) with Val(8)").
    m = onnx.load(dst)
    if m.graph.value_info:
        del m.graph.value_info[:]
        onnx.save(m, dst)
        info["dropped_value_info"] = True
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
           quantize: bool = True, log=print) -> dict:
    """Export PIPELINE to OUT; returns the export report (also written to OUT/export.json)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    fam = FAMILIES[family]
    steps = steps or fam["steps"]
    guidance = fam["guidance"] if guidance is None else guidance
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)

    tok = CLIPTokenizer.from_pretrained(pipeline_dir, subfolder="tokenizer")
    te = CLIPTextModel.from_pretrained(pipeline_dir, subfolder="text_encoder", attn_implementation="eager").eval()
    unet = UNet2DConditionModel.from_pretrained(pipeline_dir, subfolder="unet").eval()
    vae, decoder_kind = load_decoder(pipeline_dir, taesd)
    vae = vae.eval()
    sched = load_scheduler(pipeline_dir, scheduler)
    sched_section, sched_info = scheduler_section(sched, family, steps)

    L = int(tok.model_max_length)
    hidden = int(te.config.hidden_size)
    C = int(unet.config.in_channels)
    if size is None:
        ss = unet.config.sample_size
        lh, lw = (ss, ss) if isinstance(ss, int) else tuple(ss)
    else:
        lh, lw = size
    if unet.config.cross_attention_dim != hidden:
        raise ExportError(f"unet cross_attention_dim {unet.config.cross_attention_dim} != text hidden {hidden}")
    if family == "lcm" and not unet.config.time_cond_proj_dim:
        # Without the embedding the guidance would silently become classifier-free
        # guidance at the LCM scale (8.5), a different model.
        raise ExportError("--family lcm needs an LCM-distilled UNet with a guidance embedding "
                          "(unet config time_cond_proj_dim); this UNet has none: for an SD UNet with "
                          "LCM-LoRA merged use --family lcm-lora")
    if unet.config.addition_embed_type is not None:
        raise ExportError("UNets with added conditioning (SDXL: text_time) are not supported yet")

    report = dict(family=family, decoder_kind=decoder_kind, graphs={})
    # Text encoder
    ids = torch.zeros(1, L, dtype=torch.int64)
    p = os.path.join(out, "text_encoder.onnx")
    report["graphs"]["text_encoder"] = dict(rewrites=export_graph(TextEncoderGraph(te), (ids,), p, ["input_ids"],
                                                                  "last_hidden_state"))
    # Denoiser
    cond = None
    if unet.config.time_cond_proj_dim:
        if family != "lcm":
            raise ExportError("this UNet takes a guidance embedding (time_cond_proj_dim): use --family lcm")

        cond = guidance_embedding(guidance - 1.0, unet.config.time_cond_proj_dim)
        report["embedded_guidance"] = guidance
    den = DenoiserGraph(unet, cond)
    args = (torch.zeros(1, C, lh, lw), torch.tensor([999.0]), torch.zeros(1, L, hidden))
    p = os.path.join(out, "denoiser.onnx")
    report["graphs"]["denoiser"] = dict(rewrites=export_graph(den, args, p, ["sample", "timestep",
                                                                             "encoder_hidden_states"], "out"))
    # Decoder: height and width stay symbolic, so the runtime can run it on the
    # whole latent or on tiles of it (decoder.tile in model.toml).
    lat_c = int(getattr(vae.config, "latent_channels", C))
    with torch.no_grad():
        img = vae.decode(torch.zeros(1, lat_c, lh, lw), return_dict=False)[0]
    ih, iw = int(img.shape[2]), int(img.shape[3])
    p = os.path.join(out, "decoder.onnx")
    axes = {"latents": {2: "h", 3: "w"}, "image": {2: "image_h", 3: "image_w"}}
    report["graphs"]["decoder"] = dict(rewrites=export_graph(DecoderGraph(vae), (torch.zeros(1, lat_c, lh, lw),), p,
                                                             ["latents"], "image", dynamic_axes=axes))

    # int8
    names = ["text_encoder", "denoiser", "decoder"]
    if quantize:
        for g in names:
            report["graphs"][g]["int8"] = quantize_int8(os.path.join(out, g + ".onnx"), os.path.join(out, g + ".int8.onnx"))
    for g in names:
        report["graphs"][g]["f32_bytes"] = graph_bytes(os.path.join(out, g + ".onnx"))
        if quantize:
            report["graphs"][g]["int8_bytes"] = graph_bytes(os.path.join(out, g + ".int8.onnx"))

    # Tokenizer files (HF layout) and pad id.
    for f in ("vocab.json", "merges.txt"):
        shutil.copyfile(os.path.join(pipeline_dir, "tokenizer", f), os.path.join(out, f))
    pad_id = int(tok.pad_token_id)

    scaling = float(vae.config.scaling_factor)
    shift = float(getattr(vae.config, "shift_factor", None) or 0.0)
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
    a = ap.parse_args(argv)
    steps = [int(s) for s in a.steps.split(",")] if a.steps else None
    size = tuple(int(v) for v in a.size.lower().split("x")) if a.size else None
    try:
        export(a.pipeline, a.out, a.family, taesd=a.taesd, steps=steps, guidance=a.guidance, size=size,
               scheduler=a.scheduler, decoder_tile=a.decoder_tile, decoder_tile_overlap=a.decoder_tile_overlap,
               name=a.name, quantize=not a.no_int8)
    except ExportError as e:
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
