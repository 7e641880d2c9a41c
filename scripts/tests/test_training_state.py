"""The committed training state (scripts/factory/training_state.py): what
is in git stays within its 30 MB and matches its STATE.json; a saved and
restored checkpoint resumes training (torch only: skipped in CI)."""
import json
import os

import pytest

from scripts.factory import training_state as ts


def test_the_committed_state_is_small_and_matches_its_record():
    if not os.path.isdir(ts.FOLDER):
        pytest.skip("no training-state/ in this checkout")
    with open(os.path.join(ts.FOLDER, "STATE.json")) as f:
        state = json.load(f)
    files = sorted(os.listdir(ts.FOLDER))
    assert files == sorted(["STATE.json", "README.md"] + [p + ".pt" for p in state["parts"]])
    total = sum(os.path.getsize(os.path.join(ts.FOLDER, name)) for name in files)
    assert total <= ts.LIMIT_BYTES
    for part, info in state["parts"].items():
        assert part in ts.PARTS
        assert ts.sha256(os.path.join(ts.FOLDER, part + ".pt")) == info["sha256"]


def _factory_run(path):
    path.mkdir()
    (path / "build_report.json").write_text(json.dumps({"command": "python3 -m scripts.factory.build --out X"}))
    return path


def _train(model, opt, steps, torch):
    for i in range(steps):
        x = torch.linspace(-1, 1, 32).reshape(4, 8) * (i + 1)
        loss = (model(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_save_and_restore_resume_training(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 8)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    _train(model, opt, 3, torch)
    run = _factory_run(tmp_path / "run")
    torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=3), run / "teacher.pt")
    folder = str(tmp_path / "state")
    state = ts.save(str(run), ["teacher"], folder=folder)
    assert state["parts"]["teacher"]["step"] == 3
    assert state["command"] == "python3 -m scripts.factory.build --out X"

    other = tmp_path / "other"
    ts.restore(str(other), folder=folder)
    back = torch.load(other / "teacher.pt", weights_only=False)
    model2 = torch.nn.Linear(8, 8)
    model2.load_state_dict(back["model"])
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2)
    opt2.load_state_dict(back["opt"])
    for p, p2 in zip(model.parameters(), model2.parameters()):
        s, s2 = opt.state[p], opt2.state[p2]
        assert s2["exp_avg_sq"].dtype == torch.float32  # cast back on load
        assert torch.all(s2["exp_avg_sq"] > 0)  # no second moment lost to underflow
        assert torch.allclose(s["exp_avg"], s2["exp_avg"], rtol=1e-2, atol=1e-6)
    # One more step from each: the same weights within bfloat16's rounding of the moments.
    _train(model, opt, 1, torch)
    _train(model2, opt2, 1, torch)
    for p, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.allclose(p, p2, atol=1e-4)


def test_restore_keeps_a_checkpoint_with_more_steps(tmp_path):
    torch = pytest.importorskip("torch")
    run = _factory_run(tmp_path / "run")
    torch.save(dict(model={}, step=5), run / "ae.pt")
    folder = str(tmp_path / "state")
    ts.save(str(run), ["ae"], folder=folder)
    later = tmp_path / "later"
    later.mkdir()
    torch.save(dict(model={}, step=9), later / "ae.pt")
    ts.restore(str(later), folder=folder)
    assert torch.load(later / "ae.pt", weights_only=False)["step"] == 9
    ts.restore(str(later), folder=folder, force=True)
    assert torch.load(later / "ae.pt", weights_only=False)["step"] == 5


def test_save_refuses_a_non_run_a_missing_part_or_too_big_a_state_and_keeps_the_old_one(tmp_path):
    torch = pytest.importorskip("torch")
    run = _factory_run(tmp_path / "run")
    torch.save(dict(model={"w": torch.zeros(1000)}, step=1), run / "ae.pt")
    folder = str(tmp_path / "state")
    ts.save(str(run), ["ae"], folder=folder)
    with pytest.raises(ValueError, match="not a factory run"):
        ts.save(str(tmp_path), ["ae"], folder=folder)
    with pytest.raises(ValueError, match="teacher.pt does not exist"):
        ts.save(str(run), ["ae", "teacher"], folder=folder)
    with pytest.raises(ValueError, match="over"):
        ts.save(str(run), ["ae"], folder=folder, limit=100)
    assert sorted(os.listdir(folder)) == ["README.md", "STATE.json", "ae.pt"]
    assert not os.path.exists(folder + ".tmp")
