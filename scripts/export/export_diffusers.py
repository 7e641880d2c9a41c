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
With --preview-taesd DIR an AutoencoderTiny is exported beside the decoder as the
`tiny` preview decoder (preview_decoder.onnx, f32): the real picture develops on
the screen at a fraction of a full VAE's cost (docs/bundle.md "Previews"); the
default stays the fitted `fast` map, which costs far less.
Graph rewrites for tract are applied by `rewrite_for_tract` (see README "Op coverage").

Memory: one torch module is in memory at a time (loaded just before its graph is
exported, freed right after; the manifest values come from the configs), and the int8
quantization holds one copy of the f32 graph, not three (`quantize_dynamic_int8`), so
a real-size SD 2.x export fits a machine with 8 GB (runs/real/TABLE.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import torch

from scripts.export.families import FAMILIES, ExportError, load_scheduler, scheduler_section
from scripts.export.graphs import (DecoderGraph, DenoiserGraph, TextEncoderGraph, finish_graph, graph_bytes,
                                   guidance_embedding, put_token_table_back, set_token_table_aside,
                                   torch_export)
from scripts.export.int8_quantize import quantize_dynamic_int8  # noqa: F401 (imported from here by scripts/tests)
from scripts.export.attention import HeadSlicedAttention
from scripts.export.int8_quantize import quantize_int8
from scripts.export.int8_weight_only import quantize_weight_only
from scripts.export.onnx_data import store_weights_apart
from scripts.export.segments import split_bundle_graph
from scripts.export import preview_fit
from scripts.export.scorer_clip import ScorerError, check as scorer_check, export as scorer_clip_export
from scripts.export.scorer_clip import write as scorer_section_write

# int8 graphs are stored in segments of about this many MB of weights. SD-Turbo
# 512x512 (README "Real-size models"): the UNet whole loads in 48 s, in 8
# segments 13.6 s, in 24 (36 MB each) 6.5 s, in 64 5.8 s; step time unchanged.
SEGMENT_MB = 40
from scripts.export.manifest import card, manifest
from scripts.export.memory import module_config, release_memory
from scripts.hashing import sha256


def _phase(started: float, message: str) -> None:
    """One line per finished phase on stderr: a real-size export takes minutes
    (and scripts/bench/rss_trace.py attributes the memory peak to phases by them)."""
    print(f"[{time.monotonic() - started:6.0f} s] {message}", file=sys.stderr, flush=True)


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
           quantize: bool = True, int8_rewrite_for_tract: bool = True, attention_slice: int | None = None,
           segment_mb: float = SEGMENT_MB, preview: str = "fast", int8_decoder: str = "auto",
           preview_taesd: str | None = None, weight_only_int8: bool = False, scorer_clip: str | None = None,
           log=print) -> dict:
    """Export PIPELINE to OUT; returns the export report (also written to OUT/export.json).

    Every check runs on the configs before any graph is written; then each torch
    module is loaded, exported and freed in turn (one in memory at a time)."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    started = time.monotonic()
    fam = FAMILIES[family]
    if int8_decoder not in ("auto", "yes", "no"):
        raise ExportError(f"int8_decoder must be auto, yes or no, not {int8_decoder!r}")
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
    if scorer_clip:
        # Refused before any graph is written, like the other checks.
        scorer_check(scorer_clip, os.path.join(pipeline_dir, "tokenizer", "vocab.json"), L)
    if attention_slice is not None and attention_slice < 1:
        raise ExportError(f"--attention-slice must be at least 1 head, not {attention_slice}")
    if segment_mb < 0:
        raise ExportError(f"--segment-mb must be 0 (never split) or more, not {segment_mb}")
    if unet_config.addition_embed_type is not None:
        raise ExportError("UNets with added conditioning (SDXL: text_time) are not supported yet")
    if unet_config.time_cond_proj_dim and family != "lcm":
        raise ExportError("this UNet takes a guidance embedding (time_cond_proj_dim): use --family lcm")

    report = dict(family=family, graphs={})
    # Text encoder
    te = CLIPTextModel.from_pretrained(pipeline_dir, subfolder="text_encoder", attn_implementation="eager").eval()
    ids = torch.zeros(1, L, dtype=torch.int64)
    p = os.path.join(out, "text_encoder.onnx")
    aside = set_token_table_aside(te, p)
    torch_export(TextEncoderGraph(te), (ids,), p, ["input_ids"], "last_hidden_state", consume=True,
                 weights_apart=True)
    del te
    release_memory()
    put_token_table_back(p, aside)
    report["graphs"]["text_encoder"] = dict(rewrites=finish_graph(p))
    _phase(started, "text encoder: f32 ONNX written")
    # Denoiser
    cond = None
    if unet_config.time_cond_proj_dim:
        cond = guidance_embedding(guidance - 1.0, unet_config.time_cond_proj_dim)
        report["embedded_guidance"] = guidance
    unet = UNet2DConditionModel.from_pretrained(pipeline_dir, subfolder="unet").eval()
    if attention_slice:
        # A few heads at a time: the runtime's largest activation shrinks (attention.py).
        unet.set_attn_processor(HeadSlicedAttention(attention_slice))
        report["attention_slice"] = attention_slice
    den = DenoiserGraph(unet, cond)
    args = (torch.zeros(1, C, lh, lw), torch.tensor([999.0]), torch.zeros(1, L, hidden))
    p = os.path.join(out, "denoiser.onnx")
    torch_export(den, args, p, ["sample", "timestep", "encoder_hidden_states"], "out", consume=True, weights_apart=True)
    del den, unet, args
    release_memory()
    report["graphs"]["denoiser"] = dict(rewrites=finish_graph(p))
    _phase(started, "denoiser: f32 ONNX written")
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
    _phase(started, "decoder: f32 ONNX written")
    report = dict(family=family, decoder_kind=decoder_kind, **{k: v for k, v in report.items() if k != "family"})
    tiny = export_preview_decoder(preview_taesd, out, lat_c, lh, lw, (ih, iw)) if preview_taesd else None
    if tiny:
        report["graphs"]["preview_decoder"] = dict(f32_bytes=graph_bytes(os.path.join(out, tiny["file"])))

    # int8. A TAESD decoder stays f32 in model.toml too ("auto"): its weights are
    # 5 MB, and tract runs it in int8 about 4x slower than in f32
    # (our own 3x3 convolution, src/runtime/kernels/conv3x3.rs; README "Real-size models").
    names = ["text_encoder", "denoiser", "decoder"]
    decoder_int8 = quantize and (int8_decoder == "yes" or (int8_decoder == "auto" and decoder_kind != "taesd"))
    quantized = [g for g in names if quantize and (g != "decoder" or decoder_int8)]
    for g in quantized:
        report["graphs"][g]["int8"] = quantize_int8(os.path.join(out, g + ".onnx"), os.path.join(out, g + ".int8.onnx"),
                                                     rewrite=int8_rewrite_for_tract)
        # Weights of a big graph apart, so that the runtime holds them once at load.
        report["graphs"][g]["int8"]["data"] = store_weights_apart(os.path.join(out, g + ".int8.onnx"))
        _phase(started, f"{g}: int8 written")
    # Weight-only int8 (model-w8.toml, int8_weight_only.py): for CPUs where tract's
    # integer kernels are slow. The decoder follows the int8 manifest's choice.
    w8 = [g for g in quantized if weight_only_int8]
    for g in w8:
        report["graphs"][g]["w8"] = quantize_weight_only(os.path.join(out, g + ".onnx"), os.path.join(out, g + ".w8.onnx"))
        _phase(started, f"{g}: weight-only int8 written")
    for g in names:
        report["graphs"][g]["f32_bytes"] = graph_bytes(os.path.join(out, g + ".onnx"))
        if g in quantized:
            report["graphs"][g]["int8_bytes"] = graph_bytes(os.path.join(out, g + ".int8.onnx"))
        if g in w8:
            report["graphs"][g]["w8_bytes"] = graph_bytes(os.path.join(out, g + ".w8.onnx"))

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
                         overlap=decoder_tile_overlap, decoder_kind=decoder_kind, out=out,
                         int8_decoder=decoder_int8)
    variants = [("model-f32.toml", "")] + ([("model.toml", ".int8")] if quantize else []) + \
        ([("model-w8.toml", ".w8")] if w8 else [])
    if not quantize:
        variants.append(("model.toml", ""))
    for fname, suffix in variants:
        with open(os.path.join(out, fname), "w") as f:
            f.write(manifest(suffix=suffix, **manifest_args))
    splittable = [("model.toml", "int8", g) for g in quantized if g != "decoder"] + \
        [("model-w8.toml", "w8", g) for g in w8 if g != "decoder"]
    for fname, kind, g in splittable if segment_mb else ():
        # Big int8 graphs in segments of about segment_mb MB of weights (segments.py):
        # tract optimizes them several times faster than one graph, and
        # --low-memory loads one at a time.
        k = int(report["graphs"][g][kind + "_bytes"] // (segment_mb * (1 << 20)))
        if k >= 2:
            entries = split_bundle_graph(out, fname, g, int(k))
            report["graphs"][g][kind]["segments"] = [e["file"] for e in entries]
            _phase(started, f"{g}: {kind} split into {len(entries)} segments")
    if preview == "fast":
        # One latent-to-RGB map fitted on the f32 decoder, for every manifest
        # (docs/bundle.md "Previews": a decoder run per step can cost a step).
        fitted = preview_fit.fit(os.path.join(out, "model-f32.toml"), samples=2)
        report["preview"] = {k: fitted[k] for k in ("mean_error_levels", "flat_mean_error_levels")}
        _phase(started, "fast preview map fitted")
        for fname, _ in variants:
            preview_fit.write(os.path.join(out, fname), fitted)
    elif preview != "decoder" and not tiny:
        for fname, _ in variants:
            with open(os.path.join(out, fname), "a") as f:
                f.write(f'\n[preview]\nkind = "{preview}"\n')
    if tiny:
        # The tiny decoder joins the preview table; a fitted map (above) stays the default.
        for fname, _ in variants:
            preview_fit.write_tiny(os.path.join(out, fname), tiny)
    if scorer_clip:
        # The CLIP pair as the self-check scorer of every manifest (scorer_clip.py).
        fields = scorer_clip_export(scorer_clip, out, L, int(tok.eos_token_id))
        report["scorer"] = dict(clip=scorer_clip, embed_dim=fields["embed_dim"], image_size=fields["image_size"],
                                max_relative_difference=fields["max_relative_difference"])
        for fname, _ in variants:
            scorer_section_write(os.path.join(out, fname), fields)
        _phase(started, "scorer written")
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(card(pipeline_dir, family, decoder_kind, sched_info, report, guidance,
                     f32_decoder_in_int8=quantize and not decoder_int8))
    report.update(scheduler=sched_info["diffusers_class"], timesteps=sched_info["timesteps"], latent=[C, lh, lw],
                  image=[iw, ih], pad_id=pad_id, max_length=L, hidden=hidden)
    with open(os.path.join(out, "export.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
    log(f"{out}: {family}, decoder {decoder_kind}, latent {C}x{lh}x{lw}, image {iw}x{ih}, "
        f"scheduler {sched_section['kind']} {sched_info['timesteps']}")
    return report


def export_preview_decoder(taesd: str, out: str, lat_c: int, lh: int, lw: int, image_hw: tuple) -> dict:
    """An AutoencoderTiny's decoder as OUT/preview_decoder.onnx (f32, symbolic height and
    width like the decoder); returns its [preview] fields."""
    from diffusers import AutoencoderTiny

    vae = AutoencoderTiny.from_pretrained(taesd).eval()
    if int(vae.config.latent_channels) != lat_c:
        raise ExportError(f"--preview-taesd {taesd}: {vae.config.latent_channels} latent channels, the pipeline has {lat_c}")
    with torch.no_grad():
        img = vae.decode(torch.zeros(1, lat_c, lh, lw), return_dict=False)[0]
    if (int(img.shape[2]), int(img.shape[3])) != tuple(image_hw):
        raise ExportError(f"--preview-taesd {taesd}: decodes {lh}x{lw} latents to {tuple(img.shape[2:])}, "
                          f"the decoder to {tuple(image_hw)}")
    p = os.path.join(out, "preview_decoder.onnx")
    axes = {"latents": {2: "h", 3: "w"}, "image": {2: "image_h", 3: "image_w"}}
    torch_export(DecoderGraph(vae), (torch.zeros(1, lat_c, lh, lw),), p, ["latents"], "image", dynamic_axes=axes)
    finish_graph(p)
    return dict(file="preview_decoder.onnx", sha256=sha256(p), scaling_factor=float(vae.config.scaling_factor),
                shift_factor=float(getattr(vae.config, "shift_factor", None) or 0.0))


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
    ap.add_argument("--weight-only-int8", action="store_true",
                    help="also write weight-only int8 graphs (*.w8.onnx, model-w8.toml): int8 weights, f32 "
                         "arithmetic, for CPUs without int8 dot products (x86 without VNNI)")
    ap.add_argument("--no-int8-rewrite", action="store_true",
                    help="keep the int8 graphs exactly as onnxruntime's quantizer writes them (no split of "
                         "wide weights: tract then re-sums them at every call; README 'Real-size models')")
    ap.add_argument("--attention-slice", type=int, metavar="HEADS",
                    help="export the UNet's attention HEADS heads at a time: lower peak memory at large "
                         "sizes (SD-Turbo 512x512 --low-memory: 1.64 -> 1.13 GB during the step), slower start-up")
    ap.add_argument("--segment-mb", type=float, default=SEGMENT_MB, metavar="MB",
                    help=f"store the int8 text encoder and UNet in segments of about MB MB of weights "
                         f"(default {SEGMENT_MB}; 0: whole graphs): faster start-up, and --low-memory "
                         f"loads one segment at a time (README 'Real-size models')")
    ap.add_argument("--int8-decoder", choices=["auto", "yes", "no"], default="auto",
                    help="quantize the decoder in model.toml (default auto: yes for a VAE, no for a TAESD "
                         "decoder, which is small and runs faster in f32 in tract)")
    ap.add_argument("--preview", choices=["fast", "decoder", "none"], default="fast",
                    help="the bundle's preview kind (docs/bundle.md 'Previews'; default fast: a latent-to-RGB "
                         "map fitted on the decoder, since a decoder run per step can cost as much as a step)")
    ap.add_argument("--preview-taesd", metavar="DIR",
                    help="AutoencoderTiny (TAESD) folder exported beside the decoder as the bundle's `tiny` "
                         "preview decoder (a board or --preview-kind picks it; the default stays fast)")
    ap.add_argument("--scorer-clip", metavar="DIR",
                    help="a transformers CLIPModel folder (sharing the pipeline's tokenizer) exported as the "
                         "bundle's self-check scorer (generate --best-of, edgepaint score)")
    a = ap.parse_args(argv)
    steps = [int(s) for s in a.steps.split(",")] if a.steps else None
    size = tuple(int(v) for v in a.size.lower().split("x")) if a.size else None
    try:
        export(a.pipeline, a.out, a.family, taesd=a.taesd, steps=steps, guidance=a.guidance, size=size,
               scheduler=a.scheduler, decoder_tile=a.decoder_tile, decoder_tile_overlap=a.decoder_tile_overlap,
               name=a.name, quantize=not a.no_int8, weight_only_int8=a.weight_only_int8, int8_rewrite_for_tract=not a.no_int8_rewrite,
               attention_slice=a.attention_slice, segment_mb=a.segment_mb, preview=a.preview,
               int8_decoder=a.int8_decoder, preview_taesd=a.preview_taesd, scorer_clip=a.scorer_clip)
    except (ExportError, ScorerError) as e:
        raise SystemExit(f"error: {e}")


if __name__ == "__main__":
    main()
