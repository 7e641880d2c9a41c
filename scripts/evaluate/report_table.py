"""The report's Markdown: the rows' labels in display order, then one table per split and the targets."""

from scripts.evaluate.targets import SPLITS
from scripts.factory.pair_settings import guidance_words

SPLIT_TITLE = {"heldout": "Held-out-combination prompts", "any": "Fresh random prompts"}
ATTRS = ("time", "ground", "body", "body_place", "land", "weather", "obj", "color", "obj_place")


def _f(v, nd=3):
    return "-" if v is None else f"{v:.{nd}f}"


def markdown(rep):
    """The Markdown report: command, set-up, one table per split, the targets."""
    teacher_guidance = guidance_words(rep.get("guidance", 1.0), tuple(rep.get("guidance_interval", (0.0, 1.0))))
    L = [f"# Evaluation: {rep['bundle']['name']} ({rep['bundle']['path']})", "",
         "Reproduce with:", "", "```sh", rep["command"], "```", ""]
    b = rep["bundle"]
    L += [f"- bundle: `{b['path']}/model.toml` sha256 `{b['model_toml_sha256'][:16]}`, "
          f"{b.get('bytes', 0) / 1e6:.1f} MB; date {rep['date']}; host {rep['host']}; report wall time "
          f"{rep['wall_minutes']:.1f} min" + (f" ({rep['cached_rows']} row results reused from an earlier run's "
                                              "cache: see its time there)" if rep.get("cached_rows") else ""),
          f"- prompts: {rep['n']} per set from `fidelity.prompts(n, {rep['seed']}, split)`; the same prompts and "
          f"the same initial latents (N(0,1), `numpy.random.default_rng([{rep['seed']}, split, i])`, given to "
          "the Rust binary with `--latents`) for every row",
          "- fidelity: mean over images of the fraction of the attributes its prompt fixes that the attribute "
          "classifier finds; per-attribute columns: accuracy over the images whose prompt fixes it; exact: "
          "every fixed attribute right; count: exactly the sun/moon and the object the prompt asks for (one "
          "each when named, none when not), by the classifier's count heads",
          f"- FD: Frechet distance in the classifier's 128-d features to renderer images of the same prompts "
          f"(n = {rep['n']}; FD depends on n, compare within a table)",
          *([f"- teacher: `{rep['teacher']['checkpoint']}` (step {rep['teacher'].get('step')}), "
             f"{rep['teacher_steps']} flow-Euler steps, {teacher_guidance}; the student was distilled from "
             f"teacher step {rep['teacher'].get('pairs_teacher_step')} (`{rep['teacher']['pairs']}`): pass the "
             "factory run that made the bundle with `--runs`"] if rep.get("teacher") else []),
          "- s/img: wall seconds per image on this host (Rust: one `edgepaint generate` process per image, "
          "model load included; in brackets the denoise+decode time without load)", ""]
    rows = rep["rows"]
    for split in SPLITS:
        res = rep["results"].get(split)
        if not res:
            continue
        L += [f"## {SPLIT_TITLE[split]} (split `{split}`, n = {rep['n']})", "",
              "| model | runtime | steps | fidelity | exact | count | " + " | ".join(ATTRS) + " | FD | s/img |",
              "|---|---|---|---|---|---|" + "---|" * len(ATTRS) + "---|---|"]
        for rid, meta in rows.items():
            r = res.get(rid)
            if r is None:
                continue
            t = r.get("seconds_per_image")
            ts = "-" if t is None else f"{t:.2f}"
            if r.get("gen_seconds_per_image") is not None:
                ts += f" ({r['gen_seconds_per_image']:.2f})"
            pa = r.get("per_attribute", {})
            L.append(f"| {meta['label']} | {meta['runtime']} | {meta.get('steps') or '-'} | {_f(r.get('fidelity'))} "
                     f"| {_f(r.get('exact'))} | {_f(r.get('count'))} | " + " | ".join(_f(pa.get(k)) for k in ATTRS)
                     + f" | {_f(r.get('fd'), 1)} | {ts} |")
        L.append("")
    if rep.get("checks"):
        L += ["## Targets", "", "| target | prompts | value | threshold | result |", "|---|---|---|---|---|"]
        for c in rep["checks"]:
            if c["value"] is None:
                v = "-"
            elif "se" in c:
                v = f"{c['rows'][1]} {c['fidelity'][c['rows'][1]]:.3f} - {c['rows'][0]} " \
                    f"{c['fidelity'][c['rows'][0]]:.3f} = {c['value']:+.3f} +- {c['se']:.3f}"
            else:
                v = f"{c['value']:.3f}"
            thr = f"{c['op']} {c['threshold']:.2f}"
            L.append(f"| {c['target']} | {c['split']} | {v} | {thr} | **{c['result'].upper()}** |")
        L.append("")
    if rep.get("notes"):
        L += ["Notes:", ""] + [f"- {n}" for n in rep["notes"]] + [""]
    return "\n".join(L)


def row_table(rows, teacher_steps, guidance, interval=(0.0, 1.0)):
    """Row id -> label / runtime / steps, in display order."""
    out = {}
    for rid in rows:
        if rid.startswith("rust-int8-"):
            k = int(rid.rsplit("-", 1)[1])
            out[rid] = dict(label="shipped bundle (model.toml)", runtime="Rust edgepaint (tract)", steps=k)
        elif rid.startswith("rust-f32-"):
            k = int(rid.rsplit("-", 1)[1])
            out[rid] = dict(label="student f32 (model-f32.toml)", runtime="Rust edgepaint (tract)", steps=k)
        elif rid.startswith("student-f32-"):
            k = int(rid.rsplit("-", 1)[1])
            out[rid] = dict(label="student f32 (model-f32.toml)", runtime="Python onnxruntime", steps=k)
        elif rid == "teacher":
            out[rid] = dict(label=f"teacher f32, {guidance_words(guidance, interval)}", runtime="Python torch",
                            steps=teacher_steps)
        elif rid == "renderer":
            out["renderer"] = dict(label="renderer, same prompts (ceiling)", runtime="numpy", steps=None)
            out["renderer-reseed"] = dict(label="renderer, same prompts, other seed (FD floor)", runtime="numpy",
                                          steps=None)
            out["renderer-other"] = dict(label="renderer, other prompts (chance level)", runtime="numpy", steps=None)
        else:
            raise SystemExit(f"unknown row {rid!r}")
    return out
