"""The families the exporter knows and what each accepts: scheduler checks, model.toml [scheduler], ExportError."""

from __future__ import annotations

import json
import os

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
