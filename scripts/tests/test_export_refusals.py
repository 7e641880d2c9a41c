"""scripts/export/export_diffusers.py refuses what it would otherwise export wrongly.
Needs torch and diffusers (scripts/requirements.txt): skipped where they are
missing (CI); run here with `python3 -m pytest scripts/tests/test_export_refusals.py`."""
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from scripts.export import export_diffusers  # noqa: E402
from scripts.fixtures import make_diffusers_fixtures as fx  # noqa: E402


def test_lcm_family_without_guidance_embedding_is_refused(tmp_path):
    # An SD UNet without time_cond_proj_dim (the bk-sdm-tiny fixture's): as
    # --family lcm it would silently run classifier-free guidance at 8.5.
    pipe = fx.build_pipeline("bk-sdm-tiny-lcm")
    assert not pipe.unet.config.time_cond_proj_dim
    pipe.save_pretrained(tmp_path / "pipe")
    with pytest.raises(export_diffusers.ExportError, match="time_cond_proj_dim.*lcm-lora"):
        export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "out"), "lcm", log=lambda *a: None)
