"""Tests of scripts/evaluate/report.py. The helpers need numpy only (CI); the end-to-end
run on the tiny-flow fixture bundle is skipped without torch, onnxruntime or the classifier."""

import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest

from scripts.evaluate import report

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def _png(img, filt):
    """An 8-bit RGB PNG whose every row uses filter type `filt` (0-4)."""
    h, w, _ = img.shape
    bpp = 3
    raw = b""
    prev = np.zeros(w * bpp, np.int32)
    for y in range(h):
        cur = img[y].reshape(-1).astype(np.int32)
        out = np.zeros_like(cur)
        for x in range(w * bpp):
            a = cur[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if filt == 0:
                p = 0
            elif filt == 1:
                p = a
            elif filt == 2:
                p = b
            elif filt == 3:
                p = (a + b) // 2
            else:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                p = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            out[x] = (cur[x] - p) & 255
        raw += bytes([filt]) + out.astype(np.uint8).tobytes()
        prev = cur

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"iTXt", b"prompt\x00\x00\x00\x00\x00x") \
        + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("filt", [0, 1, 2, 3, 4])
def test_decode_png_all_filters(filt):
    img = np.random.default_rng(filt).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    assert np.array_equal(report.decode_png(_png(img, filt)), img)


def test_initial_latents_same_per_prompt_differ_between_prompts():
    a = report.initial_latents(3, "heldout", 0, (1, 4, 16, 16))
    assert a.dtype == np.float32 and a.shape == (1, 4, 16, 16)
    assert np.array_equal(a, report.initial_latents(3, "heldout", 0, (1, 4, 16, 16)))
    assert not np.array_equal(a, report.initial_latents(3, "heldout", 1, (1, 4, 16, 16)))
    assert not np.array_equal(a, report.initial_latents(3, "any", 0, (1, 4, 16, 16)))
    assert abs(float(a.std()) - 1.0) < 0.2


def test_per_image_fidelity_counts_only_fixed():
    attrs = [{"time": "day", "ground": "snow"}, {"time": "night", "ground": None}]
    pred = {"time": ["day", "day"], "ground": ["snow", "sea"]}
    fixed = lambda a: [k for k, v in a.items() if v is not None]  # noqa: E731
    assert list(report.per_image_fidelity(pred, attrs, fixed)) == [1.0, 0.0]


def _res(fid, per_image):
    return {"fidelity": fid, "per_image": per_image}


def test_check_targets_pass_fail_and_missing():
    n = 10
    good = [1.0] * n
    res = {"heldout": {
        "rust-int8-4": _res(0.95, [0.95] * n), "rust-int8-1": _res(0.79, [0.79] * n),
        "student-f32-4": _res(0.955, [0.955] * n), "student-f32-1": _res(0.81, [0.81] * n),
        "teacher": _res(1.0, good)}}
    checks = {(c["target"], c["split"]): c for c in report.check_targets(res)}
    c = checks[("shipped int8, 4 steps: fidelity >= 0.90 (held-out)", "heldout")]
    assert c["result"] == "pass" and c["value"] == 0.95
    assert checks[("shipped int8, 1 step: fidelity >= 0.80 (held-out)", "heldout")]["result"] == "fail"
    c = checks[("int8 costs <= 0.01 vs f32 student, 4 steps", "heldout")]
    assert c["result"] == "pass" and abs(c["value"] - 0.005) < 1e-9
    assert checks[("int8 costs <= 0.01 vs f32 student, 1 step", "heldout")]["result"] == "fail"
    assert checks[("int8 costs <= 0.01 vs f32 student, 2 steps", "heldout")]["result"] == "missing"
    c = checks[("4-step f32 student within 0.03 of the teacher", "heldout")]
    assert c["result"] == "fail" and abs(c["value"] - 0.045) < 1e-9
    assert checks[("4-step f32 student within 0.03 of the teacher", "any")]["result"] == "missing"


def test_int8_better_than_f32_passes():
    res = {"heldout": {"rust-int8-4": _res(0.9, [1.0, 0.8]), "student-f32-4": _res(0.8, [0.8, 0.8])}}
    c = [c for c in report.check_targets(res) if c["target"].startswith("int8 costs") and "4 steps" in c["target"]
         and c["split"] == "heldout"][0]
    assert c["result"] == "pass" and c["value"] < 0


def test_markdown_has_command_tables_and_targets():
    rows = report.row_table(["rust-int8-4", "student-f32-4", "teacher", "renderer"], 25, 3.0)
    res = {"heldout": {r: {"fidelity": 0.9, "exact": 0.5, "per_attribute": {"time": 1.0}, "fd": 12.3,
                           "per_image": [0.9], "seconds_per_image": 0.5} for r in rows}}
    rep = dict(command="python3 -m scripts.evaluate.report --bundle models/scenes --n 1", date="d", host="h",
               bundle=dict(name="scenes", path="models/scenes", model_toml_sha256="ab" * 32, bytes=1e6),
               n=1, seed=1, rows=rows, results=res, checks=report.check_targets(res), notes=["a note"],
               wall_minutes=1.0)
    md = report.markdown(rep)
    assert md.index("--bundle models/scenes --n 1") < md.index("## Held-out")
    assert "| shipped bundle (model.toml) | Rust edgepaint (tract) | 4 | 0.900 |" in md
    assert "renderer, same prompts, other seed (FD floor)" in md
    assert "## Targets" in md and "**PASS**" in md and "**MISSING**" in md
    assert "Fresh random" not in md  # no results for that split


FIXTURE = os.path.join(REPO, "tests", "fixtures", "bundles", "tiny-flow")
CLASSIFIER = os.path.join(REPO, "runs", "classifier")


def test_end_to_end_on_fixture_bundle(tmp_path):
    """Plumbing only (random weights): the onnxruntime rows, the renderer rows and, when the
    binary is built, one Rust row, on 3 prompts per set."""
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    if not os.path.exists(CLASSIFIER):
        pytest.skip("no trained classifier in runs/classifier")
    binary = os.path.join(REPO, "target", "release", "edgepaint")
    rows = "student-f32-1,renderer" + (",rust-int8-1" if os.path.exists(binary) else "")
    md = tmp_path / "r.md"
    out = subprocess.run([sys.executable, "-m", "scripts.evaluate.report", "--bundle", FIXTURE,
                          "--n", "3", "--out", str(tmp_path / "eval"), "--rows", rows, "--markdown", str(md)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    import json
    rep = json.loads((tmp_path / "eval" / "report.json").read_text())
    for split in ("heldout", "any"):
        assert rep["results"][split]["renderer"]["fidelity"] > 0.9
        assert len(rep["results"][split]["student-f32-1"]["per_image"]) == 3
        if "rust-int8-1" in rows:
            r = rep["results"][split]["rust-int8-1"]
            assert r["seconds_per_image"] > 0 and len(r["per_image"]) == 3
    assert md.read_text().splitlines()[5].startswith("python3 -m scripts.evaluate.report --bundle")


def test_fd_by_group_scores_each_group_on_its_own_rows():
    from scripts.evaluate.fd_by_time import fd_by_group
    feats = np.arange(12.0).reshape(6, 2)
    real = feats + np.array([[0, 0], [0, 0], [0, 0], [5, 5], [5, 5], [5, 5]])
    mean_gap = lambda a, b: float(np.abs(a.mean(0) - b.mean(0)).sum())  # noqa: E731
    got = fd_by_group(feats, real, ["day", "day", "day", "night", "night", "night"], mean_gap)
    assert got == {"day": 0.0, "night": 10.0}


def test_pair_settings_and_guidance_words_read_old_and_new_pairs_files():
    from scripts.factory.pair_settings import guidance_words, pair_settings
    old = pair_settings([10000.0, 10.0, 4.0])
    assert old == dict(teacher_step=10000, steps=10, guidance=4.0, interval=(0.0, 1.0))
    new = pair_settings([10000, 10, 2.0, 0.4, 1.0])
    assert new["interval"] == (0.4, 1.0) and new["guidance"] == 2.0
    assert guidance_words(4.0, old["interval"]) == "CFG 4"
    assert guidance_words(2.0, new["interval"]) == "CFG 2 at noise 0.4-1"
