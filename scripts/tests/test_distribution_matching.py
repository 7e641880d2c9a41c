"""The student's distribution-matching term (torch needed; skipped without):
  python3 -m pytest -q scripts/tests/test_distribution_matching.py"""
import os

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from scripts.factory import common as C  # noqa: E402
from scripts.tests.test_factory import tiny_distill_run  # noqa: E402


def matcher_of(teacher, guidance):
    from scripts.factory import distribution_matching as DM
    torch.nn.init.normal_(teacher.unet.cout.weight, std=0.05)  # zero-started: every prediction would be 0
    return DM.DistributionMatching(teacher, guidance, (0.0, 1.0), torch.from_numpy(C.tokenize([""])), 1e-3)


def test_the_students_gradient_is_the_normalised_gap_between_fake_and_real_predictions(tmp_path):
    teacher = tiny_distill_run(str(tmp_path))
    m = matcher_of(teacher, 2.0)
    ctx = m.text(torch.from_numpy(C.tokenize(["a red house", "a boat"])).long())
    x0 = torch.randn(2, 4, 16, 16, requires_grad=True)
    m.student_loss(x0, ctx, torch.Generator().manual_seed(3)).backward()
    xt, tau, _ = m.noised(x0.detach(), torch.Generator().manual_seed(3))  # the same draw
    real, fake = m.real_x0(xt, tau, ctx), m.fake_x0(xt, tau, ctx)
    # guidance 2: v = 2 v_c - v_u, so real = 2 fake - (the empty prompt's) when fake is still the teacher
    vu = teacher.unet(xt, tau * 1000.0, teacher.te(torch.from_numpy(C.tokenize([""])).expand(2, -1)))
    assert torch.allclose(real, 2 * fake - (xt - tau[:, None, None, None] * vu), atol=1e-5)
    norm = (x0.detach() - real).abs().mean((1, 2, 3), keepdim=True)
    assert torch.allclose(x0.grad, (fake - real) / norm / 2, atol=1e-6)
    assert float((fake - real).abs().max()) > 1e-3  # the check above is not 0 == 0


def test_without_guidance_and_before_the_fake_model_learns_there_is_nothing_to_match(tmp_path):
    m = matcher_of(tiny_distill_run(str(tmp_path)), 1.0)
    ctx = m.text(torch.from_numpy(C.tokenize(["a red house"])).long())
    x0 = torch.randn(1, 4, 16, 16, requires_grad=True)
    m.student_loss(x0, ctx, torch.Generator().manual_seed(0)).backward()
    assert float(x0.grad.abs().max()) < 1e-6


def test_the_fake_model_learns_the_students_pictures_and_the_teacher_stays(tmp_path):
    teacher = tiny_distill_run(str(tmp_path))
    m = matcher_of(teacher, 2.0)
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    ctx = m.text(torch.from_numpy(C.tokenize(["a red house"] * 4)).long())
    x0 = torch.randn(4, 4, 16, 16)
    gen = torch.Generator().manual_seed(0)
    losses = [m.fake_update(x0, ctx, gen) for _ in range(30)]
    assert sum(losses[-5:]) < sum(losses[:5])
    assert all(torch.equal(v, before[k]) for k, v in m.real.state_dict().items())
    assert m.fake.te is m.real.te  # one text encoder, the teacher's
    assert not all(torch.equal(v, before[k]) for k, v in m.fake.state_dict().items())


def test_student_with_distribution_matching_saves_its_fake_model_and_restarts_when_the_weight_changes(tmp_path):
    from scripts.factory import distill
    from scripts.factory.card import student_settings
    from scripts.factory.card_text import student_words
    out = str(tmp_path)
    tiny_distill_run(out)
    assert distill.train(out, 2, 1.0, "cpu", bs=4, dmd=0.5) == 2
    student = C.load_ckpt(os.path.join(out, "student.pt"))
    assert student["settings"]["dmd"] == 0.5 and "fake" in student["matcher"]
    assert "distribution-matching term" in student_words(student_settings(student), distill.DEFAULTS)
    assert distill.train(out, 3, 1.0, "cpu", bs=4, dmd=0.5) == 3
    assert distill.train(out, 1, 1.0, "cpu", bs=4, dmd=1.0) == 1
    assert distill.train(out, 2, 1.0, "cpu", bs=4, dmd=1.0, dmd_guidance=1.5) == 2  # another guidance: starts again
    assert "guided with 1.5" in student_words(student_settings(C.load_ckpt(os.path.join(out, "student.pt"))),
                                              distill.DEFAULTS)
    key = [1, 10, 2.0, 0.4, 1.0]  # the pairs' settings: guidance 2 at noise 0.4-1
    assert distill.distribution_matcher(out, key, 1e-3, "cpu").guidance == 2.0
    matcher = distill.distribution_matcher(out, key, 1e-3, "cpu", 1.5)
    assert matcher.guidance == 1.5 and matcher.interval == (0.4, 1.0)
