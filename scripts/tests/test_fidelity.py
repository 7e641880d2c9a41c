"""Tests of scripts/evaluate/fidelity.py (skipped where torch is not installed, as in CI)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from scripts.evaluate import fidelity  # noqa: E402
from scripts.evaluate.classifier import AttributeClassifier  # noqa: E402
from scripts.evaluate.counts import COUNT_HEADS, expected_counts, render_counted  # noqa: E402
from scripts.scenes import ATTRIBUTES, parse_caption  # noqa: E402


def test_fixed_attributes_skip_implied_and_open():
    a = parse_caption("night on the snow with a tree")
    keys = fidelity.fixed_attributes(a)
    assert "obj_place" not in keys  # not said
    assert "color" not in keys and "body_place" not in keys  # implied by tree / no body
    assert {"time", "ground", "body", "land", "weather", "obj"} <= set(keys)
    a = parse_caption("a red house on the left in the desert at noon under the sun on the right")
    assert set(fidelity.fixed_attributes(a)) == set(ATTRIBUTES)


def test_prompts_deterministic_and_parseable():
    caps, fixed, full = fidelity.prompts(50, 3, "heldout", return_full=True)
    assert (caps, fixed) == fidelity.prompts(50, 3, "heldout")
    for c, f, a in zip(caps, fixed, full):
        assert f == parse_caption(c)
        for k in fidelity.fixed_attributes(f):
            assert f[k] == a[k]


def test_frechet_from_features():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 8))
    b = rng.normal(size=(4000, 8))
    assert fidelity.frechet_from_features(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fidelity.frechet_from_features(a, b) < 0.05
    assert fidelity.frechet_from_features(a, b + 1.0) == pytest.approx(8.0, rel=0.05)
    assert fidelity.frechet_from_features(a, 2.0 * b) == pytest.approx(8.0, rel=0.1)  # 8 * (2 - 1)^2


def test_score_api_with_an_untrained_model():
    torch.manual_seed(0)
    model = AttributeClassifier().eval()
    caps, fixed, full = fidelity.prompts(12, 1, "any", return_full=True)
    imgs = fidelity.render_reference(full, 1)
    assert imgs.shape == (12, 128, 128, 3) and imgs.dtype == np.uint8
    res = fidelity.score(imgs, fixed, model=model, batch_size=5)
    assert set(res["per_attribute"]) == set(ATTRIBUTES)
    assert res["n"] == 12 and 0.0 <= res["fidelity"] <= 1.0 and 0.0 <= res["exact"] <= 1.0
    assert res["counts"]["time"] == 12
    pred = fidelity.predict(imgs, model=model)
    assert all(len(pred[k]) == 12 and set(pred[k]) <= set(ATTRIBUTES[k]) for k in ATTRIBUTES)
    assert all(len(pred[k]) == 12 and set(pred[k]) <= {0, 1, 2} for k in COUNT_HEADS)
    assert 0.0 <= res["count"] <= 1.0 and set(res["count_per_kind"]) == set(COUNT_HEADS)
    assert fidelity.features(imgs, model=model).shape == (12, 128)
    assert np.isfinite(fidelity.frechet_distance(imgs, imgs[::-1], model=model))


def test_composites_hold_a_second_body_or_object_and_say_so():
    imgs, attrs, counts = render_counted(40, 5, second_share=0.5)
    assert imgs.shape == (40, 128, 128, 3)
    want = expected_counts(attrs)
    assert ((counts == want) | (counts == 2)).all() and (counts == 2).any()
    for i in np.flatnonzero(counts.max(1) == 2):
        assert (counts[i] == 2).sum() == 1 and want[i][counts[i] == 2][0] == 1
    assert expected_counts([{"body": "none", "obj": "house"}, {"obj": None}]).tolist() == [[0, 1], [-1, -1]]


def test_ae_check_round_trip_keeps_pixels_through_an_identity_autoencoder():
    """scripts/evaluate/ae_check.py converts uint8 -> [-1, 1] -> uint8 exactly, in batches."""
    from scripts.evaluate.ae_check import round_trip

    class Identity(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = torch.nn.Identity()
            self.decoder = torch.nn.Identity()

    images = np.random.default_rng(0).integers(0, 256, (7, 128, 128, 3), dtype=np.uint8)
    assert np.array_equal(round_trip(Identity(), images, batch=3), images)


def test_student_fit_agreement_counts_colour_only_where_the_teacher_drew_a_coloured_object(monkeypatch):
    from scripts.evaluate import student_fit
    reads = {"student": {"obj": ["house", "tree", "boat", "none"], "color": ["red", "red", "blue", "red"]},
             "teacher": {"obj": ["house", "tree", "boat", "house"], "color": ["red", "blue", "red", "red"]}}
    monkeypatch.setattr(student_fit.F, "predict", lambda who: reads[who])
    out = student_fit.agreement("student", "teacher")
    assert out["obj"] == 0.75  # the fourth picture lost its house
    assert out["color"] == round(2 / 3, 3)  # the tree's colour is not counted


def test_colour_is_also_scored_by_the_object_asked(monkeypatch):
    fixed = [dict(obj="boat", color="red"), dict(obj="boat", color="blue"), dict(obj="house", color="red"),
             dict(obj="tree", color=None), dict(obj="none")]
    read = dict(obj=["boat", "boat", "house", "tree", "none"], color=["red", "purple", "red", "green", "none"])
    rest = {k: ["x"] * 5 for k in ATTRIBUTES if k not in read}
    monkeypatch.setattr(fidelity, "predict", lambda *a, **k: {**rest, **read, **{c: [1] * 5 for c in COUNT_HEADS}})
    res = fidelity.score(np.zeros((5, 8, 8, 3), np.uint8), fixed, model=object())
    assert res["color_by_obj"] == {"boat": 0.5, "house": 1.0}
    assert res["per_attribute"]["color"] == 2 / 3
