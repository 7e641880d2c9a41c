"""real_size_table.py: one row per manifest, goal marks, missing stages refused."""
import pytest

from scripts.bench.real_size_table import table


def result(ratios):
    rows, stages = [], []
    for stage, ratio in ratios.items():
        rows.append(dict(variant="model.toml", threads=2, stage=stage, edgepaint_ms=100.0 * ratio, ort_ms=100.0,
                         ratio=ratio))
        stages.append({"name": stage})
    report = {"variant": "model.toml", "threads": 2,
              "edgepaint": {"steps": 1, "startup_ms": 2300.0, "peak_rss_bytes": 1.13e9, "stages": stages}}
    return {"host": "test", "rows": rows, "reports": [report]}


def test_marks_only_stages_over_the_goal():
    text = table([("SDXS", result({"text encoder": 1.25, "denoiser step": 1.26, "decoder": 0.9, "whole image": 2.0}))])
    row = text.splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:4] == ["SDXS", "int8", "1", "2.3 s"]
    assert cells[4] == "125 (100: 1.25×)"  # at the goal: met
    assert cells[5] == "126 (100: 1.26×) ✗"
    assert cells[6] == "90 (100: 0.90×)"
    assert cells[7] == "200 (100: 2.00×)"  # the whole picture has no goal of its own
    assert cells[8] == "1.13 GB"


def test_missing_stage_is_refused():
    with pytest.raises(ValueError, match="decoder"):
        table([("SDXS", result({"text encoder": 1.0, "denoiser step": 1.0, "whole image": 1.0}))])
