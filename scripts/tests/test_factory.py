"""Fast checks of the factory (torch + onnxruntime needed; skipped without):
  python3 -m pytest -q scripts/tests/test_factory.py"""

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from scripts.factory import common as C  # noqa: E402
from scripts.factory import data as D  # noqa: E402
from scripts.factory import flops  # noqa: E402
from scripts.factory import nets  # noqa: E402


def test_remap_table():
    t, n = D.remap_table([320, 518, 2682])
    assert t.shape == (C.CLIP_VOCAB,) and n == 7
    assert t[C.PAD_ID] == 0 and t[C.SOT_ID] == 2 and t[C.EOT_ID] == 3
    assert t[320] == 4 and t[2682] == 6 and t[12345] == 1


def test_norms_export_parity():
    x = torch.randn(2, 16, 8, 8)
    gn = nets.GroupNorm(8, 16)
    ln = nets.LayerNorm(16)
    a, b = gn(x), ln(x.permute(0, 2, 3, 1))
    nets.EXPORT = True
    try:
        assert torch.allclose(a, gn(x), atol=1e-5)
        assert torch.allclose(b, ln(x.permute(0, 2, 3, 1)), atol=1e-5)
    finally:
        nets.EXPORT = False


def test_train_eval_parity():
    t, n = D.remap_table(list(range(300, 340)))
    te = nets.TextEncoder(t, n, layers=2)
    ids = torch.randint(300, 340, (2, 32))
    te.train()
    a = te(ids)
    te.eval()
    assert torch.allclose(a, te(ids), atol=1e-6)


def test_budgets():
    t, n = D.remap_table(list(range(300, 340)))
    te = nets.TextEncoder(t, n, layers=2)
    un = nets.UNet(ch=(32, 64, 128))
    dec = nets.AutoEncoder().decoder
    r = flops.report(te, un, dec)
    assert r["decoder"] <= 1e9 and r["denoiser_step"] <= 2e9


def test_export_and_quantize(tmp_path):
    from scripts.factory import export
    from scripts.factory import quantize
    t, n = D.remap_table(list(range(300, 340)))
    te = nets.TextEncoder(t, n, layers=1).eval()
    un = nets.UNet(ch=(16, 32, 32)).eval()
    torch.nn.init.normal_(un.cout.weight, std=0.02)
    ids = torch.zeros(1, 32, dtype=torch.long)
    ids[0, :4] = torch.tensor([C.SOT_ID, 300, 301, C.EOT_ID])
    p_te, p_un = str(tmp_path / "te.onnx"), str(tmp_path / "un.onnx")
    export._export(export.TE(te), (ids,), p_te, ["input_ids"], ["last_hidden_state"])
    with torch.no_grad():
        ctx = te(ids)
        x, ts = torch.randn(1, 4, 16, 16), torch.tensor([500.0])
        export._export(export.Den(un), (x, ts, ctx), p_un, ["sample", "timestep", "encoder_hidden_states"], ["velocity"])
        ref = un(x, ts, ctx).numpy()
    got = export.ort_run(p_un, {"sample": x.numpy(), "timestep": ts.numpy(), "encoder_hidden_states": ctx.numpy()})
    assert np.abs(got - ref).max() < 1e-4
    assert np.abs(export.ort_run(p_te, {"input_ids": ids.numpy()}) - ctx.numpy()).max() < 1e-4
    q8, wq = str(tmp_path / "un.int8.onnx"), str(tmp_path / "un.wq.onnx")
    info = quantize.dynamic(p_un, q8)
    assert info["excluded_matmuls"] > 0  # attention matmuls stay f32
    quantize.weight_only(p_un, wq)
    feeds = {"sample": x.numpy(), "timestep": ts.numpy(), "encoder_hidden_states": ctx.numpy()}
    for p in (q8, wq):
        assert np.abs(export.ort_run(p, feeds) - ref).max() < 0.1
    # weight-only text encoder: int8 embeddings, the id table narrowed to int16
    te_wq = str(tmp_path / "te.wq.onnx")
    info = quantize.weight_only(p_te, te_wq)
    assert info["narrowed_index_tables"] == 1 and info["quantized_weights"] > 0
    assert np.abs(export.ort_run(te_wq, {"input_ids": ids.numpy()}) - ctx.numpy()).max() < 0.1


def test_binding_heads_read_the_nouns_own_states():
    from scripts.factory import binding as B
    heads = B.BindingHeads(8)
    caps = ["a red house on the left with the sun on the right", "snow at day", "the moon in the middle, a sailboat"]
    ids = torch.from_numpy(C.tokenize(caps))
    assert heads._first(ids, heads.body_ids).tolist() == [9, -1, 2]
    assert heads._first(ids, heads.object_ids).tolist()[:2] == [3, -1]
    attrs = [dict(body="sun", body_place="right", obj="house", obj_place="left", color="red"),
             dict(body="none", body_place="none", obj="none", obj_place="none", color="none"),
             dict(body="moon", body_place="center", obj="boat", obj_place="right", color="white")]
    y = torch.from_numpy(B.labels(attrs))
    assert y.tolist() == [[2, 0, 0], [-1, -1, -1], [0, 1, B.COLORS.index("white")]]
    # Only the noun positions feed the heads: states elsewhere do not matter.
    ctx = torch.randn(3, 32, 8)
    loss = heads.loss(ctx, ids, y)
    ctx2 = ctx.clone()
    ctx2[0, 5] += 100.0
    assert torch.isfinite(loss) and torch.allclose(loss, heads.loss(ctx2, ids, y))
    ctx2[0, 9] += 100.0
    assert not torch.allclose(loss, heads.loss(ctx2, ids, y))


def test_detail_weight_favours_small_things():
    x = torch.zeros(1, 3, 32, 32)
    x[:, :, 10:14, 10:14] = 1.0  # a small bright object on a flat ground
    for window in (3, 9):
        w = C.detail_weight(x, 2.0, window)
        assert w[0, 0, 10, 10] > 2.0 and w[0, 0, 28, 28] == 1.0 and w.max() <= 9.0
    assert C.detail_weight(x, 0.0, 9) is None


def test_autoencoder_dimming_keeps_hue_and_never_makes_night():
    """train_ae.dim: a picture is scaled by one factor in [DIM_FLOOR, 1] (channel
    ratios kept), p = 0 changes nothing, and a day sky at the darkest
    factor stays above docs/scenes.md's night luminance (0.20)."""
    import torch

    from scripts.factory.train_ae import DIM_FLOOR, dim

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 3, 8, 8, generator=gen) * 2 - 1
    assert torch.equal(dim(x, 0.0), x)
    y = dim(x, 1.0, gen)
    factor = (y + 1).flatten(1).sum(1) / (x + 1).flatten(1).sum(1)
    assert torch.allclose(y + 1, (x + 1) * factor.view(-1, 1, 1, 1), atol=1e-5)
    assert factor.min() >= DIM_FLOOR - 1e-5 and factor.max() <= 1 + 1e-5 and factor.min() < 0.8
    half = dim(x, 0.5, torch.Generator().manual_seed(1))
    unchanged = (half == x).flatten(1).all(1).float().mean().item()
    assert 0.3 < unchanged < 0.7
    assert 0.45 * DIM_FLOOR > 0.20


def test_guidance_applies_only_inside_its_interval():
    from scripts.factory import dm

    class Fake(torch.nn.Module):
        """Conditional velocity 1, unconditional 0: a guided step moves x by g * ds."""
        def te(self, ids):
            return ids.float()[:, :1]

        def unet(self, x, t, ctx):
            return (ctx[:, :1] > 0).float().view(-1, 1, 1, 1).expand_as(x)

    ids, empty = torch.ones(1, 4, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)
    x0 = torch.zeros(1, 4, 2, 2)
    sig = dm.sigmas_for(4)  # 1, .75, .5, .25, 0: four steps of -0.25
    assert torch.allclose(dm.euler(Fake(), x0, ids, sig, 3.0, empty), torch.full_like(x0, -3.0))
    # guided (x3) at s = 1 and 0.75 only, plain (x1) at 0.5 and 0.25
    got = dm.euler(Fake(), x0, ids, sig, 3.0, empty, interval=(0.6, 1.0))
    assert torch.allclose(got, torch.full_like(x0, -0.25 * (3 + 3 + 1 + 1)))


def test_install_keeps_the_card_and_the_scorer(tmp_path):
    from scripts.factory.install import install
    from scripts.hashing import sha256
    bundle, dest = tmp_path / "bundle", tmp_path / "dest"
    bundle.mkdir()
    dest.mkdir()
    (bundle / "denoiser.onnx").write_bytes(b"new graph")
    (bundle / "README.md").write_text("generated card")
    (bundle / "model.toml").write_text('[text_encoder]\nfile = "t.onnx"\n\n[denoiser]\nfile = "denoiser.onnx"\n')
    (dest / "README.md").write_text("hand-written card")
    (dest / "denoiser.onnx").write_bytes(b"old graph")
    (dest / "scorer_image.onnx").write_bytes(b"image tower")
    (dest / "scorer_text.onnx").write_bytes(b"text tower")
    names, rescored = install(str(bundle), str(dest))
    assert names == ["denoiser.onnx", "model.toml"]
    assert (dest / "README.md").read_text() == "hand-written card"
    assert (dest / "denoiser.onnx").read_bytes() == b"new graph"
    manifest = (dest / "model.toml").read_text()
    assert manifest.startswith('[text_encoder]\nfile = "t.onnx"') and rescored == [str(dest / "model.toml")]
    assert "[scorer]" in manifest and sha256(str(dest / "scorer_image.onnx")) in manifest
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="not a bundle"):
        install(str(tmp_path / "empty"), str(dest))


def tiny_distill_run(out):
    """A run folder with a random teacher and 8 random pairs; the teacher."""
    import json
    from scripts.factory import dm
    with open(D.paths(out)["vocab"], "w") as f:
        json.dump({"clip_ids": [320, 736, 1579]}, f)
    torch.manual_seed(0)
    teacher = dm.make_model(out)
    C.save_ckpt(os.path.join(out, "teacher.pt"), dict(ema=teacher.state_dict(), step=1))
    ids = np.repeat(C.tokenize(["a red house"]), 8, 0).astype(np.int64)
    np.savez(os.path.join(out, "pairs.npz"), noise=np.random.randn(8, 4, 16, 16).astype(np.float32),
             x0=np.random.randn(8, 4, 16, 16).astype(np.float32), ids=ids, fp=np.array([1, 10, 2.0, 0.4, 1.0]))
    return teacher


def test_student_with_a_frozen_text_encoder_keeps_the_teachers(tmp_path):
    from scripts.factory import distill
    out = str(tmp_path)
    teacher = tiny_distill_run(out)
    distill.train(out, 2, 1.0, "cpu", bs=4, lr=1e-2, freeze_text=True)
    student = C.load_ckpt(os.path.join(out, "student.pt"))
    assert student["freeze_text"]
    weights = teacher.state_dict()
    assert all(torch.equal(student["model"][k], v) for k, v in weights.items() if k.startswith("te."))
    assert any(not torch.equal(student["model"][k], v) for k, v in weights.items() if k.startswith("unet."))


def test_a_deeper_student_starts_as_its_teacher_and_is_loaded_with_its_depth(tmp_path):
    from scripts.factory import distill, dm
    from scripts.factory.card import student_settings
    from scripts.factory.card_text import student_words
    out = str(tmp_path)
    teacher = tiny_distill_run(out)
    for p in teacher.unet.cout.parameters():  # the teacher's output layer is zero at init
        torch.nn.init.normal_(p)
    C.save_ckpt(os.path.join(out, "teacher.pt"), dict(ema=teacher.state_dict(), step=1))
    distill.train(out, 1, 1.0, "cpu", bs=4, lr=0.0, extra=(1, 1, 1))  # learning rate 0: the student as it starts
    student, _ = distill.load_student(out, "cpu")
    assert [len(b) for b in (student.unet.x16, student.unet.x8, student.unet.x4)] == [1, 1, 1]
    x, t, ids = torch.randn(2, 4, 16, 16), torch.tensor([1000.0, 250.0]), torch.from_numpy(C.tokenize(["a red house"] * 2))
    with torch.no_grad():
        teacher.eval()
        assert torch.allclose(student(x, t, ids), teacher(x, t, ids), atol=1e-6)
        assert teacher(x, t, ids).abs().mean() > 0.1
    words = student_words(student_settings(C.load_ckpt(os.path.join(out, "student.pt"))), distill.DEFAULTS)
    assert "deeper than the teacher's (1 / 1 / 1" in words
    distill.train(out, 2, 1.0, "cpu", bs=4, lr=1e-2, extra=(1, 1, 1))  # resumes with its depth and learns
    trained, step = distill.load_student(out, "cpu")
    assert step == 2
    assert any(not torch.equal(a, b) for a, b in zip(trained.unet.x8.parameters(), student.unet.x8.parameters()))


def test_pairs_for_one_object_use_only_captions_that_ask_for_it(tmp_path):
    import json
    from scripts.factory import distill
    rows = [["a red boat on the sea", "the sea at night"], ["a blue house in the snow", "a sailboat on the lake"]]
    with open(D.paths(str(tmp_path))["captions"], "w") as f:
        for caps in rows:
            f.write(json.dumps(dict(attrs={}, captions=caps)) + "\n")
    assert distill.prompts_asking_for(str(tmp_path), 2, "boat").tolist() == [[0, 0], [1, 1]]
    assert distill.prompts_asking_for(str(tmp_path), 2, "house").tolist() == [[1, 0]]
    with pytest.raises(SystemExit, match="tree"):
        distill.prompts_asking_for(str(tmp_path), 1, "tree")


def test_student_resumes_only_with_the_same_teacher_and_training_settings():
    from scripts.factory.distill import DEFAULTS, resumable
    now = dict(DEFAULTS, freeze_text=True)
    old = dict(teacher_fp=[1], freeze_text=True)  # a checkpoint from before settings were recorded
    assert resumable(old, [1], now)
    assert not resumable(old, [2], now) and not resumable(None, [1], now)
    assert not resumable(dict(old, settings=dict(extra=[1, 0, 0])), [1], now)
    assert not resumable(dict(old, settings=dict(pixel=0.5)), [1], now)
    assert resumable(dict(old, settings=dict(extra=[0, 0, 0], lr=1.0)), [1], now)  # a new learning rate continues


def test_one_step_weight_sets_the_share_of_s_1_and_keeps_the_others_proportions():
    from scripts.factory.distill import SHIPPED_W, shipped_weights
    assert torch.allclose(shipped_weights(), torch.tensor(SHIPPED_W))
    w = shipped_weights(0.6)
    assert abs(float(w.sum()) - 1.0) < 1e-6 and abs(float(w[0]) - 0.6) < 1e-6
    assert torch.allclose(w[1:] / w[1:].sum(), torch.tensor(SHIPPED_W[1:]) / sum(SHIPPED_W[1:]))


def test_critic_learns_to_tell_real_from_fake_for_the_prompt():
    from scripts.factory import adversarial as A
    torch.manual_seed(0)
    critic = A.Critic(ctx_dim=8, ch=8)
    opt = torch.optim.Adam(critic.parameters(), lr=1e-2)
    real, fake = torch.randn(16, 4, 16, 16) + 1.0, torch.randn(16, 4, 16, 16) - 1.0
    ctx = torch.randn(16, 32, 8)
    first = float(A.critic_loss(critic, real, fake, ctx).detach())
    for _ in range(30):
        opt.zero_grad()
        A.critic_loss(critic, real, fake, ctx).backward()
        opt.step()
    assert float(A.critic_loss(critic, real, fake, ctx).detach()) < first - 0.5
    assert float(critic(real, ctx).mean()) > float(critic(fake, ctx).mean())


def test_adversarial_term_has_adv_times_the_squared_errors_gradient_at_the_last_layer(tmp_path):
    from scripts.factory import adversarial as A
    from scripts.factory import distill
    out = str(tmp_path)
    model = tiny_distill_run(out)
    torch.nn.init.normal_(model.unet.cout.weight, std=0.01)
    critic = A.Critic()
    critic_opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    ids = torch.from_numpy(C.tokenize(["a red house"] * 4)).long()
    x, e = torch.randn(4, 4, 16, 16), torch.randn(4, 4, 16, 16)
    ctx = model.te(ids)
    v = model(e, torch.full((4,), 1000.0), ctx=ctx)
    mse = (v - (e - x)).pow(2).mean()
    term, critic_loss = distill.adversarial_term(critic, critic_opt, model, distill.last_layer_grad(model, mse),
                                                   e - v, x, ctx.detach(), 0.25)
    assert critic_loss > 0
    last = model.unet.cout.weight
    g_mse = torch.autograd.grad(mse, last, retain_graph=True)[0].norm()
    g_term = torch.autograd.grad(term, last)[0].norm()
    assert abs(float(g_term / g_mse) - 0.25) < 1e-3
    assert not any(p.requires_grad for p in critic.parameters())


def test_pixel_term_compares_decoded_pictures_and_is_balanced_at_the_last_layer(tmp_path):
    from scripts.factory import distill, nets
    out = str(tmp_path)
    model = tiny_distill_run(out)
    torch.nn.init.normal_(model.unet.cout.weight, std=0.01)
    C.save_ckpt(os.path.join(out, "ae.pt"), dict(model=nets.AutoEncoder().state_dict(), step=1))
    C.write_json(os.path.join(out, "latent_stats.json"), dict(shift=0.1, scale=0.8))
    decode = distill.pixel_decoder(out, "cpu")
    x, e = torch.randn(4, 4, 16, 16), torch.randn(4, 4, 16, 16)
    assert float(distill.pixel_term(decode, x, x)) == 0.0
    ids = torch.from_numpy(C.tokenize(["a red house"] * 4)).long()
    v = model(e, torch.full((4,), 1000.0), ids)
    mse = (v - (e - x)).pow(2).mean()
    term = distill.pixel_term(decode, e - v, x)
    assert float(term) > 0
    weighted = 0.5 * distill.balance(model, distill.last_layer_grad(model, mse), term) * term
    last = model.unet.cout.weight
    g_mse = torch.autograd.grad(mse, last, retain_graph=True)[0].norm()
    assert abs(float(torch.autograd.grad(weighted, last)[0].norm() / g_mse) - 0.5) < 1e-3
    assert distill.train(out, 2, 1.0, "cpu", bs=4, pixel=0.5) == 2
    assert C.load_ckpt(os.path.join(out, "student.pt"))["settings"]["pixel"] == 0.5
    assert distill.train(out, 1, 1.0, "cpu", bs=4, pixel=1.0) == 1  # another weight: starts again


def test_student_with_the_adversarial_term_saves_its_critic_and_restarts_when_the_weight_changes(tmp_path):
    from scripts.factory import distill
    out = str(tmp_path)
    tiny_distill_run(out)
    assert distill.train(out, 2, 1.0, "cpu", bs=4, adv=0.1) == 2
    student = C.load_ckpt(os.path.join(out, "student.pt"))
    assert student["settings"]["adv"] == 0.1 and "critic" in student and "critic_opt" in student
    assert distill.train(out, 3, 1.0, "cpu", bs=4, adv=0.1) == 3
    assert distill.train(out, 1, 1.0, "cpu", bs=4, adv=0.2) == 1


def test_generated_card_names_the_students_non_default_settings(tmp_path):
    from scripts.factory import distill
    from scripts.factory.card import student_settings
    from scripts.factory.card_text import student_words
    out = str(tmp_path)
    tiny_distill_run(out)
    distill.train(out, 1, 1.0, "cpu", bs=4, lr=5e-5, freeze_text=True, one_step=0.6, adv=0.1)
    words = student_words(student_settings(C.load_ckpt(os.path.join(out, "student.pt"))), distill.DEFAULTS)
    for part in ("only its UNet learns", "learning rate 5e-05", "s = 1 is 60 %", "adversarial term", "weight 0.1"):
        assert part in words
    assert "decoded pictures (weight 0.3)" in student_words(dict(pixel=0.3), distill.DEFAULTS)
    assert "detail" not in words
    assert student_words(student_settings(dict(freeze_text=False)), distill.DEFAULTS) == ""
    os.remove(os.path.join(out, "student.pt"))
    distill.train(out, 1, 1.0, "cpu", bs=4)  # all defaults (s = 1's share is recorded from float32)
    assert student_words(student_settings(C.load_ckpt(os.path.join(out, "student.pt"))), distill.DEFAULTS) == ""
    assert "only its UNet" in student_words(student_settings(dict(freeze_text=True)), distill.DEFAULTS)
