#!/usr/bin/env python3
"""A diffusers SD 1.x / 2.x pipeline folder as one original-layout checkpoint (issue 14).

stable-diffusion.cpp (sd.cpp) reads the single-file checkpoints Stability published
(the CompVis / LDM layout: `model.diffusion_model.*`, `first_stage_model.*`,
`cond_stage_model.*`). This writes that layout from a diffusers folder such as
runs/real/sd-turbo (scripts/bench/make_real_size_pipelines.py), so that sd.cpp runs
the same architecture with the same random weights as our bundle:

    python3 -m scripts.bench.sdcpp_checkpoint runs/real/sd-turbo runs/sdcpp/sd-turbo.safetensors
    python3 -m scripts.bench.sdcpp_checkpoint runs/real/taesd runs/sdcpp/taesd.safetensors --taesd

The name mapping is the one of diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py
(UNet prefixes and resnet parts, VAE prefixes with the up blocks reversed, the text
encoder as OpenCLIP for SD 2.x), written out here as prefix tables plus the current
diffusers attention names of the VAE (to_q/to_k/to_v/to_out.0, which that script still
calls query/key/value/proj_attn). Tensors are copied bit for bit (or cast with --half);
the only value changes are the two layouts the original checkpoints use:

- VAE mid-block attention q/k/v/proj_out as 1x1 convolutions ([C, C] -> [C, C, 1, 1]);
- SD 2.x text encoder: q/k/v projections concatenated into OpenCLIP's in_proj_weight /
  in_proj_bias ([3C, C] / [3C], order q, k, v).

SD 2.x: diffusers' text_encoder has 23 of OpenCLIP-H's 24 layers (SD 2.x uses the
penultimate output; diffusers dropped the last layer when converting). The original
checkpoints still carry resblocks.23; it is not in the source, so it is not written
(sd.cpp lists `...encoder.layers.23` as optional and, with its default clip-skip 2 for
SD 2.x, never runs it). Nothing else is invented: a tensor the tables do not map
aborts the conversion.

A pipeline whose vae/ is an AutoencoderTiny (SDXS) is written without a VAE (sd.cpp
takes it with --taesd); an LCM UNet's guidance embedding is refused unless
--drop-guidance-embedding (sd.cpp's SD 1.x UNet has none). A pruned "tiny" UNet (SDXS-512
class: one resnet per down level, no mid block) maps with the same tables: its names are
a subset of the full UNet's, at the indices sd.cpp's tiny UNet reads.

--taesd: an AutoencoderTiny folder (or its safetensors file) is already in the names
sd.cpp's --taesd reads (`decoder.layers.N...`, `encoder.layers.N...`); it is copied as
is (sd.cpp builds the TAE encoder too for txt2img and refuses a decoder-only file).

The output is written tensor by tensor from memory-mapped inputs (one tensor copied at a
time; the resident size still counts the mapped input pages: 5.1 GB peak RSS, ~20 s, for
the 5.2 GB SD 2.1 pipeline). A `__metadata__` block records the source and the mapping
version. Only numpy is needed (safetensors are read and written here); --reference needs
torch and diffusers. Importable: `convert_pipeline(src, dst)`, `unet_name(name)`,
`vae_name(name)`, `text_encoder_names(names, open_clip)`, `reference_picture(...)`.

Checking a conversion end to end (runs/sdcpp/RESULTS.md): sd.cpp's picture with its
torch-compatible CPU generator against diffusers' own from the same folder:

    sd-cli -m runs/sdcpp/sd-turbo-f32.safetensors -p "a red fox" -s 1 --rng cpu --steps 1 \
        --cfg-scale 1 --sampling-method euler -t 2 -o /tmp/sdcpp.png
    python3 -m scripts.bench.sdcpp_checkpoint --reference runs/real/sd-turbo /tmp/diffusers.png \
        --against /tmp/sdcpp.png        # max |diff| 1/255, PSNR 60.7 dB for sd-turbo
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import sys
from pathlib import Path

import numpy as np

MAPPING_VERSION = "1"

# ---------------------------------------------------------------- UNet ------------
# (diffusers, original) whole names at the top level.
_UNET_TOP = {
    "time_embedding.linear_1.weight": "time_embed.0.weight",
    "time_embedding.linear_1.bias": "time_embed.0.bias",
    "time_embedding.linear_2.weight": "time_embed.2.weight",
    "time_embedding.linear_2.bias": "time_embed.2.bias",
    "conv_in.weight": "input_blocks.0.0.weight",
    "conv_in.bias": "input_blocks.0.0.bias",
    "conv_norm_out.weight": "out.0.weight",
    "conv_norm_out.bias": "out.0.bias",
    "conv_out.weight": "out.2.weight",
    "conv_out.bias": "out.2.bias",
}

# Inside a resnet block.
_UNET_RESNET_PARTS = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]


def _unet_block_prefixes(levels: int = 4, layers: int = 2) -> list[tuple[str, str]]:
    """(diffusers prefix, original prefix) for every block of an SD 1.x/2.x UNet.

    Input blocks: 0 is conv_in, then per level `layers` (resnet[, attention]) pairs and
    a downsampler (not after the last level). Output blocks: per level `layers + 1`
    pairs; the upsampler sits in the last pair of each level but the last, at index 1
    when the level has no attention (the first up level) and 2 otherwise."""
    out: list[tuple[str, str]] = []
    for lvl in range(levels):
        for j in range(layers):
            ib = 1 + lvl * (layers + 1) + j
            out.append((f"down_blocks.{lvl}.resnets.{j}.", f"input_blocks.{ib}.0."))
            out.append((f"down_blocks.{lvl}.attentions.{j}.", f"input_blocks.{ib}.1."))
        if lvl < levels - 1:
            ib = (lvl + 1) * (layers + 1)
            out.append((f"down_blocks.{lvl}.downsamplers.0.conv.", f"input_blocks.{ib}.0.op."))
        for j in range(layers + 1):
            ob = lvl * (layers + 1) + j
            out.append((f"up_blocks.{lvl}.resnets.{j}.", f"output_blocks.{ob}.0."))
            out.append((f"up_blocks.{lvl}.attentions.{j}.", f"output_blocks.{ob}.1."))
        if lvl < levels - 1:
            ob = lvl * (layers + 1) + layers
            slot = 1 if lvl == 0 else 2
            out.append((f"up_blocks.{lvl}.upsamplers.0.", f"output_blocks.{ob}.{slot}."))
    out.append(("mid_block.resnets.0.", "middle_block.0."))
    out.append(("mid_block.attentions.0.", "middle_block.1."))
    out.append(("mid_block.resnets.1.", "middle_block.2."))
    return out


_UNET_PREFIXES = _unet_block_prefixes()


def unet_name(name: str) -> str:
    """The original name (without `model.diffusion_model.`) of a diffusers UNet tensor."""
    if name in _UNET_TOP:
        return _UNET_TOP[name]
    for hf, sd in _UNET_PREFIXES:
        if name.startswith(hf):
            rest = name[len(hf):]
            if ".resnets." in hf:
                head, _, tail = rest.partition(".")
                for hf_part, sd_part in _UNET_RESNET_PARTS:
                    if head == hf_part:
                        head = sd_part
                        break
                else:
                    raise KeyError(f"unet: unknown resnet part in {name!r}")
                rest = f"{head}.{tail}"
            # attention blocks (proj_in, transformer_blocks.*, norm, proj_out) and the
            # up/down samplers keep their inner names.
            return sd + rest
    raise KeyError(f"unet: no mapping for {name!r}")


# ----------------------------------------------------------------- VAE ------------
def _vae_prefixes(levels: int = 4, layers: int = 2) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for lvl in range(levels):
        for j in range(layers):
            out.append((f"encoder.down_blocks.{lvl}.resnets.{j}.", f"encoder.down.{lvl}.block.{j}."))
        if lvl < levels - 1:
            out.append((f"encoder.down_blocks.{lvl}.downsamplers.0.", f"encoder.down.{lvl}.downsample."))
            # diffusers counts the decoder's up blocks from the lowest resolution, the
            # original from the highest.
            out.append((f"decoder.up_blocks.{lvl}.upsamplers.0.", f"decoder.up.{levels - 1 - lvl}.upsample."))
        for j in range(layers + 1):
            out.append((f"decoder.up_blocks.{lvl}.resnets.{j}.", f"decoder.up.{levels - 1 - lvl}.block.{j}."))
    for part in ("encoder", "decoder"):
        out.append((f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1."))
        out.append((f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2."))
        out.append((f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1."))
        out.append((f"{part}.conv_norm_out.", f"{part}.norm_out."))
    return out


_VAE_PREFIXES = _vae_prefixes()
_VAE_ATTN_PARTS = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
    # older diffusers names
    "query": "q",
    "key": "k",
    "value": "v",
    "proj_attn": "proj_out",
}
_VAE_SAME = re.compile(r"^(encoder|decoder)\.(conv_in|conv_out)\.|^(quant_conv|post_quant_conv)\.")


def vae_name(name: str) -> tuple[str, bool]:
    """(original name without `first_stage_model.`, whether the weight becomes a 1x1 conv)."""
    if _VAE_SAME.match(name):
        return name, False
    for hf, sd in _VAE_PREFIXES:
        if name.startswith(hf):
            rest = name[len(hf):]
            if ".attn_1." in sd:
                part, _, leaf = rest.rpartition(".")
                if part not in _VAE_ATTN_PARTS:
                    raise KeyError(f"vae: unknown attention part in {name!r}")
                new = _VAE_ATTN_PARTS[part]
                return f"{sd}{new}.{leaf}", (new != "norm" and leaf == "weight")
            if ".block." in sd or ".block_" in sd:
                head, _, tail = rest.partition(".")
                head = {"conv_shortcut": "nin_shortcut"}.get(head, head)
                if head not in ("norm1", "conv1", "norm2", "conv2", "nin_shortcut"):
                    raise KeyError(f"vae: unknown resnet part in {name!r}")
                return f"{sd}{head}.{tail}", False
            return sd + rest, False
    raise KeyError(f"vae: no mapping for {name!r}")


# -------------------------------------------------------------- text encoder ------
_TE_LAYER = re.compile(r"^text_model\.encoder\.layers\.(\d+)\.(.+)$")
_TE_LAYER_PARTS = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}
_TE_TOP = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}


def text_encoder_names(names: list[str], open_clip: bool) -> list[tuple[str, list[str]]]:
    """[(original name without `cond_stage_model.`, [diffusers sources])], one source
    except OpenCLIP's in_proj (q, k, v concatenated along dim 0).

    SD 1.x (CLIP ViT-L) keeps the transformers names under `transformer.`; SD 2.x
    (OpenCLIP ViT-H) uses OpenCLIP's under `model.`."""
    if not open_clip:
        return [(f"transformer.{n}", [n]) for n in names if not n.endswith("position_ids")]
    out: list[tuple[str, list[str]]] = []
    qkv: dict[tuple[int, str], dict[str, str]] = {}
    for n in names:
        if n.endswith("position_ids"):
            continue
        if n in _TE_TOP:
            out.append((f"model.{_TE_TOP[n]}", [n]))
            continue
        m = _TE_LAYER.match(n)
        if not m:
            raise KeyError(f"text encoder: no mapping for {n!r}")
        layer, rest = int(m.group(1)), m.group(2)
        part, _, leaf = rest.rpartition(".")
        if part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            qkv.setdefault((layer, leaf), {})[part[-6]] = n
            continue
        if part not in _TE_LAYER_PARTS:
            raise KeyError(f"text encoder: unknown layer part in {n!r}")
        out.append((f"model.transformer.resblocks.{layer}.{_TE_LAYER_PARTS[part]}.{leaf}", [n]))
    for (layer, leaf), parts in sorted(qkv.items()):
        if set(parts) != {"q", "k", "v"}:
            raise KeyError(f"text encoder: layer {layer} {leaf}: q/k/v incomplete ({sorted(parts)})")
        out.append((f"model.transformer.resblocks.{layer}.attn.in_proj_{leaf}", [parts["q"], parts["k"], parts["v"]]))
    return out


# ------------------------------------------------------------------ files ---------
# safetensors read and written here with numpy alone (8-byte little-endian header size,
# a JSON header of name -> dtype, shape, data_offsets, then the data), so that this
# module needs neither torch nor the safetensors package.
_NP = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2")}


def read_header(path: str | Path) -> tuple[dict, int]:
    """(header without __metadata__, offset of the data section)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    return header, 8 + n


class _Reader:
    def __init__(self, path: str) -> None:
        self.header, self.start = read_header(path)
        self.map = np.memmap(path, dtype=np.uint8, mode="r")

    def info(self, name: str) -> tuple[list[int], str]:
        h = self.header[name]
        return list(h["shape"]), h["dtype"]

    def get(self, name: str) -> np.ndarray:
        h = self.header[name]
        if h["dtype"] not in _NP:
            raise ValueError(f"{name}: unsupported dtype {h['dtype']}")
        b, e = h["data_offsets"]
        raw = self.map[self.start + b:self.start + e].view(_NP[h["dtype"]]).reshape(h["shape"])
        if h["dtype"] == "BF16":
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return raw


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray], meta: dict[str, str] | None = None) -> None:
    """Small in-memory writer (tests, TAESD-sized files)."""
    plan = _Plan()
    for name in tensors:
        plan.add(name, [("", name)])
    _write(plan, Path(path), meta or {}, False, lambda _p, n: np.asarray(tensors[n]),
           lambda _p, n: (list(np.shape(tensors[n])), {np.dtype(np.float16): "F16"}.get(np.asarray(tensors[n]).dtype, "F32")))


class _Plan:
    """Output tensors as (name, [(file, source name)], reshape_to_conv1x1)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, list[tuple[str, str]], bool]] = []

    def add(self, name: str, sources: list[tuple[str, str]], conv1x1: bool = False) -> None:
        self.items.append((name, sources, conv1x1))


def _keys(path: str) -> list[str]:
    return list(read_header(path)[0])


def _component(folder: Path, sub: str, stem: str) -> str:
    for cand in (folder / sub / f"{stem}.safetensors", folder / sub / f"{stem}.fp16.safetensors"):
        if cand.exists():
            return str(cand)
    raise FileNotFoundError(f"{folder / sub}: no {stem}.safetensors")


# An LCM-distilled UNet's guidance embedding (time_cond_proj_dim): sd.cpp's SD 1.x UNet
# has none, so --drop-guidance-embedding leaves it out (a 256 -> 1280 linear map, under
# 0.1 % of a step's FLOPs); without the flag the conversion refuses it.
GUIDANCE_EMBEDDING = "time_embedding.cond_proj."


def plan_pipeline(src: Path, drop_guidance_embedding: bool = False) -> tuple[_Plan, dict[str, str]]:
    unet = _component(src, "unet", "diffusion_pytorch_model")
    te = _component(src, "text_encoder", "model")
    te_cfg = json.loads((src / "text_encoder" / "config.json").read_text())
    open_clip = int(te_cfg.get("hidden_size", 768)) == 1024
    vae_cfg_path = src / "vae" / "config.json"
    vae_cfg = json.loads(vae_cfg_path.read_text()) if vae_cfg_path.exists() else {}
    # A TAESD-class vae/ (SDXS) has no original-layout counterpart: sd.cpp takes it with --taesd.
    tiny_vae = vae_cfg.get("_class_name") == "AutoencoderTiny"
    plan = _Plan()
    dropped = []
    for n in _keys(unet):
        if n.startswith(GUIDANCE_EMBEDDING):
            if not drop_guidance_embedding:
                raise KeyError(f"unet: {n!r} is an LCM guidance embedding sd.cpp has no place for "
                               "(--drop-guidance-embedding leaves it out)")
            dropped.append(n)
            continue
        plan.add("model.diffusion_model." + unet_name(n), [(unet, n)])
    if not tiny_vae:
        vae = _component(src, "vae", "diffusion_pytorch_model")
        for n in _keys(vae):
            new, conv = vae_name(n)
            plan.add("first_stage_model." + new, [(vae, n)], conv)
    for new, srcs in text_encoder_names(_keys(te), open_clip):
        plan.add("cond_stage_model." + new, [(te, s) for s in srcs])
    meta = {
        "source": str(src),
        "converter": "scripts/bench/sdcpp_checkpoint.py",
        "mapping_version": MAPPING_VERSION,
        "text_encoder": "open_clip (SD 2.x)" if open_clip else "clip (SD 1.x)",
        "text_encoder_layers": str(te_cfg.get("num_hidden_layers")),
    }
    if tiny_vae:
        meta["vae"] = "left out: AutoencoderTiny (give sd.cpp the --taesd file)"
    if dropped:
        meta["dropped"] = ",".join(dropped)
    return plan, meta


def plan_taesd(src: Path) -> tuple[_Plan, dict[str, str]]:
    path = str(src) if src.is_file() else _component(src, "", "diffusion_pytorch_model")
    plan = _Plan()
    for n in _keys(path):
        plan.add(n, [(path, n)])
    return plan, {"source": str(src), "converter": "scripts/bench/sdcpp_checkpoint.py --taesd"}


def write(plan: _Plan, dst: Path, meta: dict[str, str], half: bool = False) -> dict[str, int]:
    """Write the planned tensors as one safetensors file, one tensor in memory at a time."""
    readers: dict[str, _Reader] = {}

    def reader(path: str) -> _Reader:
        if path not in readers:
            readers[path] = _Reader(path)
        return readers[path]

    return _write(plan, dst, meta, half, lambda p, n: reader(p).get(n), lambda p, n: reader(p).info(n))


def _write(plan: _Plan, dst: Path, meta: dict[str, str], half: bool, get, info) -> dict[str, int]:
    names = [n for n, _, _ in plan.items]
    if len(set(names)) != len(names):
        seen: set[str] = set()
        dup = sorted({n for n in names if n in seen or seen.add(n)})
        raise ValueError(f"duplicate output names: {dup[:5]}")

    header: dict[str, object] = {"__metadata__": meta}
    offset = 0
    for name, sources, conv in plan.items:
        shapes = [info(p, s) for p, s in sources]
        dtypes = {d for _, d in shapes}
        if len(dtypes) != 1 or not dtypes <= {"F32", "F16", "BF16"}:
            raise ValueError(f"{name}: unsupported source dtypes {dtypes}")
        shape = list(shapes[0][0])
        if len(shapes) > 1:
            if any(s[0][1:] != shape[1:] for s in shapes):
                raise ValueError(f"{name}: parts do not concatenate: {[s[0] for s in shapes]}")
            shape[0] = sum(s[0][0] for s in shapes)
        if conv:
            shape = shape + [1, 1]
        out_dtype = "F16" if half else ("F32" if dtypes == {"BF16"} else dtypes.pop())
        size = int(np.prod(shape, dtype=np.int64)) * (2 if out_dtype == "F16" else 4)
        header[name] = {"dtype": out_dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".part")
    with open(tmp, "wb") as out:
        out.write(struct.pack("<Q", len(blob)))
        out.write(blob)
        for name, sources, _ in plan.items:
            arrs = [get(p, s) for p, s in sources]
            arr = arrs[0] if len(arrs) == 1 else np.concatenate(arrs, axis=0)
            want = np.dtype("<f2") if header[name]["dtype"] == "F16" else np.dtype("<f4")  # type: ignore[index]
            arr = np.ascontiguousarray(arr.astype(want, copy=False))
            b, e = header[name]["data_offsets"]  # type: ignore[index]
            assert arr.nbytes == e - b, name
            out.write(arr.tobytes())
            del arrs, arr
    os.replace(tmp, dst)
    prefixes: dict[str, int] = {}
    for n in names:
        prefixes[n.split(".")[0]] = prefixes.get(n.split(".")[0], 0) + 1
    return {"tensors": len(names), "bytes": offset, **{f"tensors:{k}": v for k, v in prefixes.items()}}


def convert_pipeline(src: Path | str, dst: Path | str, half: bool = False,
                     drop_guidance_embedding: bool = False) -> dict[str, int]:
    plan, meta = plan_pipeline(Path(src), drop_guidance_embedding)
    return write(plan, Path(dst), meta, half)


def reference_picture(src: Path, prompt: str, seed: int, taesd: Path | None = None, threads: int = 2):
    """The picture diffusers makes from SRC in one Euler step without guidance, from
    torch's CPU generator (what sd.cpp's `--rng cpu` reproduces), as uint8 HxWx3.
    Needs torch and diffusers (imported here only)."""
    import torch
    from diffusers import AutoencoderTiny, StableDiffusionPipeline

    torch.set_num_threads(threads)
    pipe = StableDiffusionPipeline.from_pretrained(str(src), torch_dtype=torch.float32, safety_checker=None,
                                                   requires_safety_checker=False)
    if taesd is not None:
        pipe.vae = AutoencoderTiny.from_pretrained(str(taesd))
    with torch.no_grad():
        out = pipe(prompt, num_inference_steps=1, guidance_scale=0.0, output_type="np",
                   generator=torch.Generator("cpu").manual_seed(seed))
    return (out.images[0] * 255).round().astype(np.uint8)


def compare_pictures(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    d = a.astype(np.int64) - b.astype(np.int64)
    mse = float((d ** 2).mean())
    return {"max_abs": int(np.abs(d).max()), "mean_abs": float(np.abs(d).mean()),
            "psnr_db": float("inf") if mse == 0 else float(10 * np.log10(255 ** 2 / mse))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="diffusers pipeline folder (or AutoencoderTiny folder with --taesd)")
    ap.add_argument("dst", type=Path, help="output .safetensors")
    ap.add_argument("--half", action="store_true", help="write f16 (default: the source dtype, f32)")
    ap.add_argument("--taesd", action="store_true", help="SRC is an AutoencoderTiny (TAESD) folder or file")
    ap.add_argument("--drop-guidance-embedding", action="store_true",
                    help="leave out an LCM UNet's guidance embedding (time_embedding.cond_proj: sd.cpp has none)")
    ap.add_argument("--reference", action="store_true",
                    help="instead: write diffusers' own picture of pipeline SRC to DST (.png): 1 Euler step, no "
                         "guidance, torch CPU generator; compare with sd.cpp's `--rng cpu` picture (--against)")
    ap.add_argument("--against", type=Path, help="with --reference: a PNG to compare with (max/mean |diff|, PSNR)")
    ap.add_argument("--reference-taesd", type=Path, help="with --reference: decode with this AutoencoderTiny folder")
    ap.add_argument("--prompt", default="a red fox")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    if args.reference:
        from PIL import Image

        pic = reference_picture(args.src, args.prompt, args.seed, args.reference_taesd)
        Image.fromarray(pic).save(args.dst)
        report: dict = {"reference": str(args.dst)}
        if args.against:
            other = np.asarray(Image.open(args.against).convert("RGB"))
            report.update({"against": str(args.against), **compare_pictures(pic, other)})
        print(json.dumps(report))
        return 0
    if args.taesd:
        plan, meta = plan_taesd(args.src)
        stats = write(plan, args.dst, meta, args.half)
    else:
        stats = convert_pipeline(args.src, args.dst, args.half, args.drop_guidance_embedding)
    print(json.dumps({"dst": str(args.dst), **stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
