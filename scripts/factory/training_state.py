"""The one committed, resumable training state of the shipped model.

runs/ is not in git, and a new checkout starts without it: a factory run
that took hours is lost with the machine. training-state/ (in git, at most
30 MB, replaced, never added to) holds the finished or half-finished stages
of one factory run, so that the next session continues it:

  python3 -m scripts.factory.training_state save --run runs/lever3 [--parts ae,teacher]
  python3 -m scripts.factory.training_state restore --run runs/lever3
  # then rerun the build command that training-state/STATE.json records

The checkpoints are the factory's own (ae.pt, teacher.pt, student.pt), with
the optimiser's moments stored in bfloat16 to fit (torch casts them back to
the parameters' float32 on load; bfloat16 keeps float32's range, so no
second moment underflows to zero). Everything else a run holds (renders,
latents, teacher pairs) is made again by the build from the seed.
"""
import argparse
import json
import os
import shutil
import sys
import time

from scripts.hashing import sha256

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLDER = os.path.join(REPO, "training-state")
LIMIT_BYTES = 30 * 1000 * 1000
PARTS = ("ae", "teacher", "student")


README = """# Training state (written by scripts/factory/training_state.py)

The resumable state of the factory run `{run}`: {parts}, saved {saved}.
Not a bundle: the shipped model is models/scenes. To continue the run in a
new checkout (the renders, latents and teacher pairs are made again):

```sh
scripts/venv.sh --full
.venv/bin/python -m scripts.factory.training_state restore --run {run}
FACTORY_THREADS=2 .venv/bin/{command}
```

STATE.json records each checkpoint's step and sha256. The optimiser's
moments are stored in bfloat16 to stay under 30 MB.
"""


def slim(checkpoint):
    """The checkpoint with the optimiser's floating-point state in bfloat16."""
    import torch
    opt = checkpoint.get("opt")
    if opt:
        for state in opt["state"].values():
            for key, value in state.items():
                if key != "step" and torch.is_tensor(value) and value.is_floating_point():
                    state[key] = value.to(torch.bfloat16)
    return checkpoint


def save(run, parts, folder=FOLDER, limit=LIMIT_BYTES):
    """Writes RUN's checkpoints PARTS into FOLDER (replacing it whole);
    returns the STATE.json it wrote. Refuses (ValueError) a run without
    build.py's report, a missing part or a state over LIMIT bytes, and leaves the old folder as it was."""
    import torch
    path = os.path.join(run, "build_report.json")
    if not os.path.exists(path):
        raise ValueError(f"{path} does not exist: not a factory run (scripts.factory.build --out)")
    with open(path) as f:
        command = json.load(f)["command"]
    tmp = folder + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    state = dict(run=os.path.relpath(os.path.abspath(run), REPO), command=command,
                 saved=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), parts={})
    for part in parts:
        src = os.path.join(run, part + ".pt")
        if not os.path.exists(src):
            shutil.rmtree(tmp)
            raise ValueError(f"{src} does not exist (parts: {', '.join(PARTS)})")
        checkpoint = torch.load(src, map_location="cpu", weights_only=False)
        dst = os.path.join(tmp, part + ".pt")
        torch.save(slim(checkpoint), dst)
        state["parts"][part] = dict(step=checkpoint.get("step"), bytes=os.path.getsize(dst), sha256=sha256(dst))
    total = sum(p["bytes"] for p in state["parts"].values())
    if total > limit:
        shutil.rmtree(tmp)
        raise ValueError(f"the state would be {total / 1e6:.1f} MB, over {limit / 1e6:.0f} MB: save fewer --parts")
    with open(os.path.join(tmp, "STATE.json"), "w") as f:
        json.dump(state, f, indent=1)
        f.write("\n")
    with open(os.path.join(tmp, "README.md"), "w") as f:
        f.write(README.format(run=state["run"], command=state["command"], saved=state["saved"],
                              parts=", ".join(f"{k} (step {v['step']})" for k, v in state["parts"].items())))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return state


def restore(run, folder=FOLDER, force=False):
    """Copies the state's checkpoints into RUN; a checkpoint already there
    with more steps is kept unless FORCE. Returns the state."""
    import torch
    with open(os.path.join(folder, "STATE.json")) as f:
        state = json.load(f)
    os.makedirs(run, exist_ok=True)
    for part, info in state["parts"].items():
        src = os.path.join(folder, part + ".pt")
        if sha256(src) != info["sha256"]:
            raise ValueError(f"{src} does not match the sha256 in STATE.json")
        dst = os.path.join(run, part + ".pt")
        if os.path.exists(dst) and not force:
            have = torch.load(dst, map_location="cpu", weights_only=False).get("step") or 0
            if have >= (info["step"] or 0):
                print(f"{dst}: kept (step {have} >= {info['step']})", file=sys.stderr)
                continue
        shutil.copyfile(src, dst)
        print(f"{dst}: restored (step {info['step']})", file=sys.stderr)
    return state


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["save", "restore"])
    ap.add_argument("--run", required=True, help="the factory run folder (build.py --out)")
    ap.add_argument("--parts", default="ae,teacher", help=f"save: which checkpoints ({', '.join(PARTS)})")
    ap.add_argument("--force", action="store_true", help="restore: overwrite checkpoints with more steps")
    a = ap.parse_args()
    try:
        if a.action == "save":
            parts = [p for p in a.parts.split(",") if p]
            bad = [p for p in parts if p not in PARTS]
            if bad:
                raise ValueError(f"unknown part {bad[0]} (parts: {', '.join(PARTS)})")
            state = save(a.run, parts)
            total = sum(p["bytes"] for p in state["parts"].values())
            saved = ", ".join(f"{k} step {v['step']}" for k, v in state["parts"].items())
            print(f"saved {saved} into {os.path.relpath(FOLDER)} ({total / 1e6:.1f} MB)")
        else:
            state = restore(a.run, force=a.force)
            print(f"now rerun: {state['command']}")
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
