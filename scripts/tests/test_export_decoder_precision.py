"""Which decoder model.toml names: a TAESD decoder stays f32 in the int8
manifest by default (5 MB of weights; tract runs its f32 3x3 convolutions
4-5x faster than its int8 ones), a VAE is quantized; --int8-decoder chooses.
Needs torch and diffusers (scripts/requirements.txt): skipped where they are
missing (CI)."""
import tomllib

import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")

from scripts.export import export_diffusers  # noqa: E402
from scripts.fixtures import make_diffusers_fixtures as fx  # noqa: E402

QUIET = dict(log=lambda *a: None, preview="none")


def decoder_files(out):
    int8 = tomllib.loads((out / "model.toml").read_text())["decoder"]["file"]
    f32 = tomllib.loads((out / "model-f32.toml").read_text())["decoder"]["file"]
    return int8, f32, (out / "decoder.int8.onnx").exists()


def test_taesd_decoder_stays_f32_unless_asked(tmp_path):
    fx.build_pipeline("sdxs").save_pretrained(tmp_path / "pipe")  # its vae/ is an AutoencoderTiny
    report = export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "auto"), "sdxs", **QUIET)
    assert report["decoder_kind"] == "taesd"
    assert decoder_files(tmp_path / "auto") == ("decoder.onnx", "decoder.onnx", False)
    assert "int8" not in report["graphs"]["decoder"]
    assert "(the decoder f32" in (tmp_path / "auto" / "README.md").read_text()
    export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "yes"), "sdxs", int8_decoder="yes", **QUIET)
    assert decoder_files(tmp_path / "yes") == ("decoder.int8.onnx", "decoder.onnx", True)
    assert "(the decoder f32" not in (tmp_path / "yes" / "README.md").read_text()


def test_vae_decoder_is_quantized_unless_asked(tmp_path):
    fx.build_pipeline("sd-turbo").save_pretrained(tmp_path / "pipe")
    export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "auto"), "sd-turbo", **QUIET)
    assert decoder_files(tmp_path / "auto") == ("decoder.int8.onnx", "decoder.onnx", True)
    export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "no"), "sd-turbo", int8_decoder="no", **QUIET)
    assert decoder_files(tmp_path / "no") == ("decoder.onnx", "decoder.onnx", False)
    with pytest.raises(export_diffusers.ExportError, match="int8_decoder"):
        export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "bad"), "sd-turbo", int8_decoder="maybe",
                                **QUIET)


def test_weight_only_int8_gets_its_own_manifest_and_segments(tmp_path):
    """--weight-only-int8: model-w8.toml names *.w8 graphs (split like the int8 ones
    when big; a tiny segment size forces it here), every file it names exists with
    its sha256, and the decoder follows the int8 manifest's choice."""
    from scripts.hashing import sha256

    fx.build_pipeline("sd-turbo").save_pretrained(tmp_path / "pipe")
    out = tmp_path / "w8"
    report = export_diffusers.export(str(tmp_path / "pipe"), str(out), "sd-turbo", weight_only_int8=True,
                                     segment_mb=0.05, **QUIET)
    w8 = tomllib.loads((out / "model-w8.toml").read_text())
    assert "int8 (weights only)" in w8["description"]
    assert w8["decoder"]["file"] == "decoder.w8.onnx"
    assert w8["denoiser"]["file"].startswith("denoiser.w8.seg1") and w8["denoiser"]["then"]
    assert report["graphs"]["denoiser"]["w8"]["quantized_weights"] > 0
    for section in ("text_encoder", "denoiser", "decoder"):
        for part in [w8[section]] + w8[section].get("then", []):
            assert sha256(str(out / part["file"])) == part["sha256"], part["file"]
    assert "model-w8.toml" in (out / "README.md").read_text()
