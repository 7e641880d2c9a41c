"""The model card (models/scenes/README.md), filled from measurements.json."""
import json

from scripts.factory.pair_settings import guidance_words


def student_words(settings, defaults):
    """The student's settings that differ from `defaults` (distill.DEFAULTS),
    as a clause of the recipe (empty when none do)."""
    s = {**defaults, **settings}
    changed = lambda k: abs(float(s[k]) - float(defaults[k])) > 1e-6  # one_step is recorded from float32
    extra = tuple(s["extra"])  # DEFAULTS supply it for checkpoints from before it was recorded
    words = []
    if s["freeze_text"]:
        words.append("only its UNet learns (the text encoder stays the teacher's)")
    if changed("lr"):
        words.append(f"learning rate {s['lr']:g}")
    if changed("detail"):
        words.append(f"the teacher's detail weighting ({s['detail']:g}) on its loss")
    if changed("one_step"):
        words.append(f"s = 1 is {100 * s['one_step']:.0f} % of the shipped timesteps")
    if changed("adv"):
        words.append(f"plus an adversarial term (scripts/factory/adversarial.py, weight {s['adv']:g})")
    if changed("pixel"):
        words.append(f"plus the error of its decoded pictures (weight {s['pixel']:g})")
    if changed("dmd"):
        words.append(f"plus a distribution-matching term (scripts/factory/distribution_matching.py, weight {s['dmd']:g})")
    if changed("dmd_guidance"):
        words.append(f"its teacher guided with {s['dmd_guidance']:g}")
    if any(extra):
        words.append("a UNet deeper than the teacher's ({} / {} / {} identity-started blocks at 16x16 / 8x8 / 4x4)"
                     .format(*extra))
    return "".join(";\n   " + w for w in words)


def _mb(b):
    return f"{b / 1e6:.2f} MB"


def _fid_table(fid):
    if not fid:
        return "(not measured: the attribute classifier of scripts/evaluate was not trained when this bundle was built)\n"
    rows = ["| model | fidelity | exact | n |", "|---|---|---|---|"]
    for k, v in fid.items():
        rows.append(f"| {k} | {v['fidelity']:.3f} | {v['exact']:.3f} | {v['n']} |")
    per = next(iter(fid.values()))["per_attribute"]
    rows.append("")
    rows.append("Per attribute (" + ", ".join(f"{k}" for k in fid) + "):")
    rows.append("")
    rows.append("| attribute | " + " | ".join(fid) + " |")
    rows.append("|---|" + "---|" * len(fid))
    for a in per:
        rows.append(f"| {a} | " + " | ".join(
            "-" if v["per_attribute"].get(a) is None else f"{v['per_attribute'][a]:.2f}" for v in fid.values()) + " |")
    return "\n".join(rows) + "\n"


def render(m, sizes):
    p, f, s, q = m["params"], m["flops"], m["steps"], m["quant"]
    e2e = q["end_to_end_mean_abs_pixel_diff"]
    qrows = ["| graph | f32 | int8 (dynamic) | max abs diff | weight-only QDQ | max abs diff |", "|---|---|---|---|---|---|"]
    for k in ("text_encoder", "denoiser", "decoder"):
        r = q[k]
        qrows.append(f"| {k} | {_mb(r['f32_bytes'])} | {_mb(r['int8']['bytes'])} | {r['int8']['max_abs_diff']:.4f} | "
                     f"{_mb(r['wq']['bytes'])} | {r['wq']['max_abs_diff']:.4f} |")
    erows = ["| quantized part | int8 dynamic | weight-only QDQ |", "|---|---|---|"]
    for c in ("text_encoder", "denoiser", "decoder", "all"):
        erows.append(f"| {c} | {e2e['int8:' + c]:.2f} | {e2e['wq:' + c]:.2f} |")
    wall = m.get("wall_minutes", {})
    wall_s = "\n".join(f"| {k} | {v:.1f} |" for k, v in wall.items()) or "| (see scripts/factory/README.md) | |"
    total = sum(sizes.values())
    files = "\n".join(f"| {k} | {_mb(v)} |" for k, v in sizes.items())
    student_part = student_words(s.get("student_settings", {}), s["student_defaults"])
    return f"""# scenes: the default edgepaint model

A tiny text-to-image model for one closed world: the procedurally rendered
landscape scenes of `docs/scenes.md` (sky by time of day, ground, sun or
moon and its place, mountains or hills, clouds, a house, tree or boat with
its colour and place). 128 x 128 pixels, 1 to 4 denoising steps, fully
offline. It only knows this world: any other prompt gives a scene of it,
usually one built from the words it recognises.

- Licence: MIT (weights, code and training data are the project's own; no
  third-party data or weights; the tokenizer vocabulary is open_clip's
  `bpe_simple_vocab_16e6.txt.gz`, MIT).
- `model.toml`: the default files (weight-only int8 where it stays within
  2/255 mean pixel difference of f32 end to end, see below): {json.dumps(m['default_files'])}.
- `model-dynamic.toml`: dynamic int8 (int8 activations too; slower than f32
  in tract on x86, kept so that ARM boards with int8 dot-product kernels
  can measure it).
- `model-f32.toml`: the same model with all-f32 graphs (reference).

## Pipeline and interfaces
CLIP BPE ids (open_clip tokenizer, 32 ids, pad 0) -> text encoder
(int64 [1,32] -> f32 [1,32,128]) -> denoiser x 1-4 flow-Euler steps
(sample [1,4,16,16], timestep f32 [1] = sigma*1000, states [1,32,128] ->
velocity = noise - x0) -> decoder ([1,4,16,16] -> [1,3,128,128] in [-1,1]).
Decoder input = latents / {m['latent']['scale']:.6f} + {m['latent']['shift']:.6f}
(scaling_factor / shift_factor, so that the diffusion latents are ~unit scale).
Distilled timesteps: 1: [1000], 2: [1000, 500], 3: [1000, 667, 333],
4: [1000, 750, 500, 250]. Guidance 1.0 (classifier-free guidance is baked in).

## Architecture
| part | design | parameters | FLOPs (2 per MAC) |
|---|---|---|---|
| text encoder | constant table 49408 CLIP ids -> compact vocabulary (only ids of the scenes grammar, others -> UNK), embedding 128 + learned positions, 2 pre-LN transformer blocks (4 heads, SiLU MLP), final LN | {p['text_encoder']:,} | {f['text_encoder'] / 1e6:.1f} M |
| denoiser | UNet on 16x16x4 latents + 2 coordinate channels, widths 32/64/128 at 16/8/4, ResBlocks (GroupNorm, SiLU, timestep embedding), cross-attention to the text at 16x16, 8x8 and 4x4, self-attention at 8x8 and 4x4, learned 2-D position embeddings on the attention tokens | {p['denoiser']:,} | {f['denoiser_step'] / 1e6:.1f} M per step |
| decoder | TAESD-like: conv + SiLU residual blocks, nearest upsampling 16 -> 128, tanh output, no attention | {p['decoder']:,} | {f['decoder'] / 1e6:.1f} M |
| encoder (training only, not shipped) | strided convs 128 -> 16, tanh soft clamp to +-3 | {p['encoder_training_only']:,} | |

FLOPs are counted by `scripts/factory/flops.py` (hooks on every conv,
linear and attention matmul at batch 1). A 4-step image costs about
{(f['text_encoder'] + 4 * f['denoiser_step'] + f['decoder']) / 1e9:.2f} GFLOP.
All norms are written with plain reductions in the exported graphs; no
erf-GELU, no dynamic shapes, opset 17. onnxruntime vs torch max abs diff at
export: {json.dumps(m['export_check'])}.

## Data
Images rendered by `scripts/scenes` (split "train": no held-out combination
ever appears in a training image or caption), 2 captions per image (the
grammar's synonyms and word orders), cached as a uint8 memmap.
Held-out combinations (only in evaluation): those of docs/scenes.md - (snow,
sunset), (desert, night) with a house, (sea, cloudy) with the sun, purple or
green objects at night - as implemented by `scenes.is_heldout`.
No further held-out set.

## Training recipe
1. Autoencoder on random 64x64 (8-aligned) crops, L1 + 2 MSE, latent noise
   augmentation (so the decoder tolerates imperfect latents); {s['ae']} steps.
2. Teacher: text encoder + UNet trained jointly, rectified flow
   (x_s = (1-s) x0 + s eps, target eps - x0, s half uniform, half
   logit-normal), 10 % empty-prompt dropout, EMA 0.999; {s['teacher']} steps.
3. Distillation (reflow / direct distillation): {s['pairs']} pairs (noise,
   teacher sample with {s['pair_teacher_steps']} Euler steps, classifier-free
   guidance: {guidance_words(s['pair_guidance'], s.get('pair_guidance_interval', (0.0, 1.0)))}); the student
   starts from the teacher and regresses the straight-line velocity eps - x0_teacher at
   s in {{1, 3/4, 2/3, 1/2, 1/3, 1/4}} (80 %) or uniform (20 %){student_part}; {s['student']} steps.
   Why: on a deterministic (noise -> sample) coupling the straight line is
   exact, so one set of weights serves 1, 2, 3 and 4 Euler steps, and the
   guidance of the teacher is baked into the targets (scale 1.0, one
   denoiser call per step). It needs only a regression loss (no
   discriminator, no second network at train time), which matters on a
   CPU budget.

Exact command (from nothing; resumable, every stage checkpoints under
runs/scenes/): `{m['command']}`

{"How this build was actually run:" + chr(10) + chr(10) + chr(10).join("- " + n for n in m.get("notes", [])) + chr(10) if m.get("notes") else ""}
Measured wall time per stage (minutes, on a shared 2-core CPU, no GPU):

| stage | minutes |
|---|---|
{wall_s}

## Quantization (onnxruntime 1.22.1, real sampler inputs: 8 prompts x 4 steps)
{chr(10).join(qrows)}

End to end (whole 4-step chain, quantized part(s) vs all-f32, mean abs
pixel difference in 0..255):

{chr(10).join(erows)}

int8 dynamic = `quantize_dynamic` (DynamicQuantizeLinear + MatMulInteger /
ConvInteger, uint8), only MatMuls with a constant weight (the attention
score and value matmuls and Softmax stay f32). Weight-only QDQ = int8
per-output-channel (or per-feature) weights, positional and token
embeddings + DequantizeLinear (f32 compute, smaller file), and the text
encoder's id table stored as int16. Both variants are in the bundle
(`*.wq.onnx` is the default: tract folds the DequantizeLinear of these
constant weights, all under 1 MiB, at load, so it runs at f32 speed, while
dynamic int8 runs 1.5-4x slower than f32 on x86; see the README's
"Performance").

## Prompt fidelity (attribute classifier of scripts/evaluate, held-out-combination prompts, seed {4242})
{_fid_table(m.get('fidelity_heldout'))}
## Files
| file | size |
|---|---|
{files}
| total | {_mb(total)} |

## Limits
- Knows only the docs/scenes.md world and its vocabulary; no people, text, or
  anything else. Words outside the vocabulary map to one unknown token.
- 128 x 128 only; small details (boat sails, house roofs, stars) are soft.
- Trained on a small CPU budget: attributes can be missed, especially
  object colours and places; see the fidelity table above for this build.
"""
