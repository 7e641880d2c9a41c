"""--attention-slice: the UNet exported a head at a time computes the same
function (onnxruntime, tiny sd-turbo fixture pipeline) with one Softmax per
head; 0 is refused before anything is written. Needs torch and diffusers
(skipped in CI); run here with `python3 -m pytest scripts/tests/test_attention_slice.py`."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
ort = pytest.importorskip("onnxruntime")
import onnx  # noqa: E402

from scripts.export import export_diffusers  # noqa: E402
from scripts.fixtures import make_diffusers_fixtures as fx  # noqa: E402


def _denoise(path, feeds):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]


def test_sliced_unet_computes_the_same(tmp_path):
    pipe = fx.build_pipeline("sd-turbo")
    pipe.save_pretrained(tmp_path / "pipe")
    quiet = dict(log=lambda *a: None, quantize=False)
    export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "whole"), "sd-turbo", **quiet)
    report = export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "sliced"), "sd-turbo",
                                     attention_slice=1, **quiet)
    assert report["attention_slice"] == 1
    whole, sliced = (str(tmp_path / d / "denoiser.onnx") for d in ("whole", "sliced"))
    rng = np.random.default_rng(0)
    inputs = ort.InferenceSession(whole, providers=["CPUExecutionProvider"]).get_inputs()
    feeds = {i.name: rng.standard_normal([d if isinstance(d, int) else 1 for d in i.shape]).astype(np.float32)
             for i in inputs}
    np.testing.assert_allclose(_denoise(sliced, feeds), _denoise(whole, feeds), atol=1e-5)
    softmax = [sum(n.op_type == "Softmax" for n in onnx.load(p).graph.node) for p in (whole, sliced)]
    heads = pipe.unet.config.attention_head_dim
    assert softmax[1] > softmax[0], (softmax, heads)


def test_zero_heads_is_refused_before_writing(tmp_path):
    fx.build_pipeline("sd-turbo").save_pretrained(tmp_path / "pipe")
    with pytest.raises(export_diffusers.ExportError, match="attention-slice"):
        export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "out"), "sd-turbo", attention_slice=0,
                                log=lambda *a: None)
    assert not os.path.exists(tmp_path / "out" / "denoiser.onnx")
