#!/usr/bin/env python3
"""Golden vectors for the Rust schedulers (src/scheduler/), from diffusers.

Writes tests/fixtures/schedulers/*.json, checked by tests/schedulers.rs.
Needs torch==2.8.0 and diffusers==0.35.2 (scripts/requirements.txt); CPU only.

    python scripts/make_scheduler_fixtures.py [--out tests/fixtures/schedulers]

Every case runs the pipeline's loop with a diffusers scheduler:

    latents = noise0 * init_noise_sigma
    for i, t in enumerate(scheduler.timesteps):
        model_input = scheduler.scale_model_input(latents, t)
        out  = fake_denoiser(model_input, i)          # recorded
        latents = scheduler.step(out, t, latents)     # LCM: with recorded noise
    (LCM: the final latents are `denoised` of the last step = its prev_sample)

and records the timesteps, init_noise_sigma, the model-input scale per step,
the model outputs, the noise LCM injects, and latents before/after each step.
The fake denoiser is `0.5 * tanh(model_input) + 0.5 * z_i` with z_i from a
seeded numpy generator (x0 prediction: scaled by 0.8), so outputs depend on the
latents like a real network's. Float32 values are written with the shortest
decimal that round-trips to the same float32.
"""

import argparse
import json
import os
import zlib

import numpy as np
import torch
import diffusers
from diffusers import DDIMScheduler, EulerDiscreteScheduler, FlowMatchEulerDiscreteScheduler, LCMScheduler

# The SD 1.x / 2.x / SD-Turbo / LCM training schedule.
SD = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
# Manifest prediction name -> diffusers prediction_type.
PRED = {"epsilon": "epsilon", "v": "v_prediction", "x0": "sample"}
SHAPE = (1, 4, 4, 4)  # 64 floats


def f32s(x):
    """Tensor / array -> list of floats that print as the shortest float32 decimal."""
    a = np.asarray(x.detach().cpu().numpy() if torch.is_tensor(x) else x, dtype=np.float32).reshape(-1)
    return [float(np.format_float_positional(v, unique=True)) for v in a]


def f32(x):
    return f32s(torch.as_tensor(x, dtype=torch.float32).reshape(1))[0]


def seed_of(name):
    return zlib.crc32(name.encode())


def run_case(name, kind, pred, scheduler, set_timesteps, diffusers_config, train_schedule):
    """Drive `scheduler` like the pipeline does and record everything."""
    rng = np.random.default_rng(seed_of(name))
    set_timesteps(scheduler)
    timesteps = scheduler.timesteps
    n = len(timesteps)
    noise0 = torch.from_numpy(rng.standard_normal(SHAPE, dtype=np.float32))
    # FlowMatchEulerDiscreteScheduler has neither init_noise_sigma nor
    # scale_model_input: flow pipelines (SD3, Flux) start from plain N(0, 1)
    # noise and feed the latents unscaled.
    init_noise_sigma = getattr(scheduler, "init_noise_sigma", 1.0)
    scale_input = getattr(scheduler, "scale_model_input", lambda x, t: x)
    latents = noise0 * init_noise_sigma
    gen = torch.Generator().manual_seed(seed_of(name) & 0x7FFFFFFF)
    rec = dict(
        name=name,
        kind=kind,
        prediction=pred,
        **train_schedule,
        diffusers_config=diffusers_config,
        timesteps=f32s(timesteps.to(torch.float32)),
        init_noise_sigma=f32(init_noise_sigma),
        model_input_scale=[],
        model_outputs=[],
        noise=[],
        latents=[f32s(latents)],
    )
    if hasattr(scheduler, "sigmas"):
        rec["sigmas"] = f32s(scheduler.sigmas)
    out_scale = 0.8 if pred == "x0" else 1.0
    for i, t in enumerate(timesteps):
        model_input = scale_input(latents, t)
        scale = scale_input(torch.ones(1), t)
        z = torch.from_numpy(rng.standard_normal(SHAPE, dtype=np.float32))
        out = out_scale * (0.5 * torch.tanh(model_input) + 0.5 * z)
        kwargs = {}
        noise = torch.zeros(0)
        if kind == "lcm" and i + 1 < n:
            # LCMScheduler.step draws torch.randn(shape, generator=gen); draw the
            # same values first (restoring the state) to record them.
            state = gen.get_state()
            noise = torch.randn(SHAPE, generator=gen, dtype=torch.float32)
            gen.set_state(state)
            kwargs["generator"] = gen
        res = scheduler.step(out, t, latents, **kwargs)
        if kind == "lcm" and i + 1 < n:
            t_next = timesteps[i + 1]
            a = scheduler.alphas_cumprod[t_next]
            expect = a.sqrt() * res.denoised + (1 - a).sqrt() * noise
            assert torch.equal(expect, res.prev_sample), f"{name}: recorded noise is not what diffusers used"
        latents = res.prev_sample
        if kind == "lcm" and i + 1 == n:
            assert torch.equal(latents, res.denoised)
        rec["model_input_scale"].append(f32(scale))
        rec["model_outputs"].append(f32s(out))
        rec["noise"].append(f32s(noise))
        rec["latents"].append(f32s(latents))
    return rec


def lcm_cases():
    cases = []
    for pred in ["epsilon", "v", "x0"]:
        for steps in [1, 2, 4]:
            # LCM checkpoints (e.g. LCM_Dreamshaper_v7) ship diffusers' defaults:
            # original_inference_steps=50, timestep_scaling=10, no clipping.
            sch = LCMScheduler(**SD, prediction_type=PRED[pred])
            cases.append(
                run_case(
                    f"lcm-{pred}-{steps}", "lcm", pred, sch,
                    lambda s, n=steps: s.set_timesteps(num_inference_steps=n),
                    dict(cls="LCMScheduler", num_inference_steps=steps, original_inference_steps=50),
                    dict(SD_SCHEDULE),
                )
            )
    # A custom (explicit) timestep list, passed to diffusers as `timesteps=`.
    custom = [999, 879, 759, 639, 499, 379, 259, 139]
    sch = LCMScheduler(**SD, prediction_type="epsilon")
    cases.append(
        run_case(
            "lcm-epsilon-custom8", "lcm", "epsilon", sch,
            lambda s: s.set_timesteps(timesteps=custom),
            dict(cls="LCMScheduler", timesteps=custom),
            dict(SD_SCHEDULE),
        )
    )
    return cases


def euler_cases():
    cases = []
    # (25-step runs for epsilon and v only, to keep the fixtures small.)
    runs = [(p, n, "trailing") for p in ["epsilon", "v", "x0"] for n in [1, 2, 4, 25] if p != "x0" or n < 25]
    runs += [("epsilon", 7, "linspace"), ("epsilon", 4, "leading")]
    for pred, steps, spacing in runs:
        # SD-Turbo: EulerDiscreteScheduler, timestep_spacing "trailing", steps_offset 1.
        sch = EulerDiscreteScheduler(**SD, prediction_type=PRED[pred], timestep_spacing=spacing, steps_offset=1)
        suffix = "" if spacing == "trailing" else f"-{spacing}"
        cases.append(
            run_case(
                f"euler-{pred}-{steps}{suffix}", "euler", pred, sch,
                lambda s, n=steps: s.set_timesteps(num_inference_steps=n),
                dict(cls="EulerDiscreteScheduler", num_inference_steps=steps, timestep_spacing=spacing, steps_offset=1),
                dict(SD_SCHEDULE),
            )
        )
    return cases


def ddim_cases():
    cases = []
    runs = [(p, n, "trailing") for p in ["epsilon", "v", "x0"] for n in [1, 2, 4]]
    runs += [(p, 25, "leading") for p in ["epsilon", "v"]]
    runs += [("epsilon", 4, "linspace")]
    for pred, steps, spacing in runs:
        # Stable Diffusion's scheduler config: set_alpha_to_one False, clip_sample False, steps_offset 1.
        sch = DDIMScheduler(
            **SD, prediction_type=PRED[pred], timestep_spacing=spacing, steps_offset=1,
            set_alpha_to_one=False, clip_sample=False,
        )
        suffix = "" if spacing == "trailing" else f"-{spacing}"
        cases.append(
            run_case(
                f"ddim-{pred}-{steps}{suffix}", "ddim", pred, sch,
                lambda s, n=steps: s.set_timesteps(num_inference_steps=n),
                dict(cls="DDIMScheduler", num_inference_steps=steps, timestep_spacing=spacing, steps_offset=1,
                     set_alpha_to_one=False, clip_sample=False, eta=0.0),
                dict(SD_SCHEDULE),
            )
        )
    return cases


def flow_cases():
    cases = []
    for steps in [1, 2, 4, 25]:
        # diffusers' own schedule (shift 1): timesteps 1000 ... fractional.
        sch = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
        cases.append(
            run_case(
                f"flow-euler-{steps}", "flow-euler", "flow", sch,
                lambda s, n=steps: s.set_timesteps(num_inference_steps=n),
                dict(cls="FlowMatchEulerDiscreteScheduler", num_inference_steps=steps, shift=1.0),
                dict(FLOW_SCHEDULE),
            )
        )
    # SD3-style shift 3: diffusers' own shifted run. The bundle stores the
    # resulting (already shifted) timesteps; Rust replays them unshifted.
    sch = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0)
    cases.append(
        run_case(
            "flow-euler-4-shift3", "flow-euler", "flow", sch,
            lambda s: s.set_timesteps(num_inference_steps=4),
            dict(cls="FlowMatchEulerDiscreteScheduler", num_inference_steps=4, shift=3.0),
            dict(FLOW_SCHEDULE),
        )
    )
    # Explicit timesteps (set_timesteps(timesteps=...)) on an unshifted scheduler.
    custom = [1000.0, 750.0, 500.0, 250.0]
    sch = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=1.0)
    cases.append(
        run_case(
            "flow-euler-custom4", "flow-euler", "flow", sch,
            lambda s: s.set_timesteps(timesteps=custom),
            dict(cls="FlowMatchEulerDiscreteScheduler", timesteps=custom, shift=1.0),
            dict(FLOW_SCHEDULE),
        )
    )
    return cases


SD_SCHEDULE = dict(train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
# Flow schedulers have no beta schedule; the Rust config still carries the fields.
FLOW_SCHEDULE = dict(train_timesteps=1000, beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)


def alphas_cumprod_cases():
    out = []
    for sched, start, end in [("scaled_linear", 0.00085, 0.012), ("linear", 0.0001, 0.02), ("linear", 0.00085, 0.012)]:
        s = DDIMScheduler(num_train_timesteps=1000, beta_start=start, beta_end=end, beta_schedule=sched)
        out.append(dict(beta_schedule=sched, beta_start=start, beta_end=end, train_timesteps=1000,
                        alphas_cumprod=f32s(s.alphas_cumprod)))
    return out


def dump(path, header, key, items):
    """JSON with one number list per line: compact, yet diffs stay readable."""
    lines = ["{"]
    for k, v in header.items():
        lines.append(f"  {json.dumps(k)}: {json.dumps(v)},")
    lines.append(f'  "{key}": [')
    for j, item in enumerate(items):
        lines.append("    {")
        fields = list(item.items())
        for i, (k, v) in enumerate(fields):
            comma = "," if i + 1 < len(fields) else ""
            if isinstance(v, list) and v and isinstance(v[0], list):
                inner = ",\n      ".join(json.dumps(x, separators=(",", ":")) for x in v)
                lines.append(f"      {json.dumps(k)}: [\n      {inner}]{comma}")
            else:
                lines.append(f"      {json.dumps(k)}: {json.dumps(v, separators=(',', ':'))}{comma}")
        lines.append("    }" + ("," if j + 1 < len(items) else ""))
    lines.append("  ]")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(items)} entries)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "schedulers"))
    args = ap.parse_args()
    if torch.__version__.split("+")[0] != "2.8.0" or diffusers.__version__ != "0.35.2":
        print(f"warning: made for torch 2.8.0 / diffusers 0.35.2, running torch {torch.__version__} / diffusers {diffusers.__version__}")
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    header = dict(
        generator="scripts/make_scheduler_fixtures.py",
        torch=torch.__version__,
        diffusers=diffusers.__version__,
        cpu_capability=torch.backends.cpu.get_cpu_capability(),
    )
    dump(os.path.join(args.out, "alphas_cumprod.json"), header, "schedules", alphas_cumprod_cases())
    for fname, cases in [
        ("lcm.json", lcm_cases()),
        ("euler.json", euler_cases()),
        ("ddim.json", ddim_cases()),
        ("flow_euler.json", flow_cases()),
    ]:
        dump(os.path.join(args.out, fname), header, "cases", cases)


if __name__ == "__main__":
    main()
