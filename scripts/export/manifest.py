"""The bundle's text files the exporter writes: model.toml (one per precision) and the README card."""

from __future__ import annotations

import os

from scripts.hashing import sha256


def manifest(*, suffix, name, family, L, hidden, pad_id, prediction, scaling, shift, C, lh, lw, ih, iw, sched,
             timesteps, default_steps, guidance, tile, overlap, decoder_kind, out, int8_decoder=True) -> str:
    def file(g):
        # An int8 manifest may keep the f32 decoder (export_diffusers --int8-decoder).
        return f"{g}{'' if g == 'decoder' and not int8_decoder else suffix}.onnx"

    def graph(g):
        """file, sha256 and (for an f32 graph over 2 GB or an int8 graph over 32 MB) its
        external data file and sha256."""
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
    precision = {"": "f32", ".int8": "int8 (dynamic)", ".w8": "int8 (weights only)"}[suffix]
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


def card(pipeline_dir, family, decoder_kind, sched_info, report, guidance, f32_decoder_in_int8=False) -> str:
    decoder_note = " (the decoder f32: small, and faster in f32)" if f32_decoder_in_int8 else ""
    # The next line names the exporter by its old path, as the committed fixtures record it.
    lines = [f"# {family} bundle", "",
             f"Exported by `scripts/export_diffusers.py` from `{os.path.basename(os.path.normpath(pipeline_dir))}`.",
             "The licence is the source model's: read its model card before you share pictures or the bundle.", "",
             f"- scheduler: diffusers {sched_info['diffusers_class']}, timesteps {sched_info['timesteps']}",
             f"- prediction: {sched_info['prediction']}",
             f"- decoder: {decoder_kind}",
             f"- guidance: {guidance}" + (" (embedded in the denoiser)" if "embedded_guidance" in report else ""),
             "- model.toml: int8 (dynamic) graphs" + decoder_note + "; model-f32.toml: the f32 graphs"
             + ("; model-w8.toml: weight-only int8 graphs (int8 weights, f32 arithmetic)" if "w8" in report["graphs"].get("denoiser", {}) else ""), ""]
    return "\n".join(lines)
