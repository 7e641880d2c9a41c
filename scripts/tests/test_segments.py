"""scripts/export/segments.py: a graph split into segments computes, run one
segment after another with values handed on by name, exactly what the whole
graph computes (onnxruntime); weights are balanced; the manifest names every
segment with its hash; the unsplit graph goes once no manifest names it.
Needs numpy, onnx and onnxruntime (scripts/requirements-ci.txt)."""
import os
import shutil
import tomllib

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from scripts.export.segments import SegmentError, split_bundle_graph
from scripts.hashing import sha256

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "fixtures", "diffusers", "sd-turbo")


def _feeds(seed):
    rng = np.random.default_rng(seed)
    return {"sample": rng.standard_normal((1, 4, 8, 8)).astype(np.float32),
            "timestep": np.array([999.0], np.float32),
            "encoder_hidden_states": rng.standard_normal((1, 77, 8)).astype(np.float32)}


def _session(path):
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


@pytest.fixture
def bundle(tmp_path):
    for name in os.listdir(FIXTURE):
        if os.path.isfile(os.path.join(FIXTURE, name)) and not name.startswith("model-"):
            shutil.copy(os.path.join(FIXTURE, name), tmp_path / name)
    return tmp_path


def test_segments_chain_to_the_whole_output(bundle):
    whole = _session(str(bundle / "denoiser.int8.onnx"))
    entries = split_bundle_graph(str(bundle), "model.toml", "denoiser", 4)
    assert [e["file"] for e in entries] == [f"denoiser.int8.seg{k}.onnx" for k in range(1, 5)]
    sizes = [sum(t.ByteSize() for t in onnx.load(str(bundle / e["file"])).graph.initializer) for e in entries]
    assert max(sizes) < 0.5 * sum(sizes), sizes  # no segment holds most of the weights
    for seed in (1, 2):
        feeds = _feeds(seed)
        values = dict(feeds)
        for e in entries:
            s = _session(str(bundle / e["file"]))
            outs = s.run(None, {i.name: values[i.name] for i in s.get_inputs()})
            values.update({o.name: v for o, v in zip(s.get_outputs(), outs)})
        np.testing.assert_array_equal(values["out"], whole.run(None, feeds)[0])


def test_manifest_names_and_hashes_every_segment(bundle):
    entries = split_bundle_graph(str(bundle), "model.toml", "denoiser", 3)
    m = tomllib.loads((bundle / "model.toml").read_text())
    listed = [(m["denoiser"]["file"], m["denoiser"]["sha256"])] + [(t["file"], t["sha256"]) for t in m["denoiser"]["then"]]
    assert listed == [(e["file"], e["sha256"]) for e in entries]
    assert all(sha256(str(bundle / f)) == h for f, h in listed)
    assert m["denoiser"]["prediction"] == "epsilon" and m["decoder"]["file"] == "decoder.int8.onnx"
    assert not (bundle / "denoiser.int8.onnx").exists()  # no manifest names it any more
    with pytest.raises(SegmentError, match="split already"):
        split_bundle_graph(str(bundle), "model.toml", "denoiser", 3)


def test_unsplit_graph_stays_while_a_manifest_names_it(bundle):
    split_bundle_graph(str(bundle), "model.toml", "denoiser", 2, out_manifest="model-segments.toml")
    assert (bundle / "denoiser.int8.onnx").exists()
    assert tomllib.loads((bundle / "model.toml").read_text())["denoiser"]["file"] == "denoiser.int8.onnx"


def test_exporter_writes_the_unet_in_segments(tmp_path):
    """`export_diffusers --segment-mb` (needs torch and diffusers: skipped in CI): the
    int8 text encoder and UNet in segments of about that size; 0 keeps them whole."""
    pytest.importorskip("torch")
    pytest.importorskip("diffusers")
    from scripts.export import export_diffusers
    from scripts.fixtures import make_diffusers_fixtures as fx

    fx.build_pipeline("sd-turbo").save_pretrained(tmp_path / "pipe")
    unet_bytes = os.path.getsize(os.path.join(FIXTURE, "denoiser.int8.onnx"))
    report = export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "out"), "sd-turbo",
                                     segment_mb=unet_bytes / 3.5 / (1 << 20), log=lambda *a: None)
    files = [f"denoiser.int8.seg{k}.onnx" for k in (1, 2, 3)]
    assert report["graphs"]["denoiser"]["int8"]["segments"] == files
    m = tomllib.loads((tmp_path / "out" / "model.toml").read_text())
    assert [m["denoiser"]["file"]] + [t["file"] for t in m["denoiser"]["then"]] == files
    assert not (tmp_path / "out" / "denoiser.int8.onnx").exists()
    # The text encoder is split by the same size.
    te_files = report["graphs"]["text_encoder"]["int8"]["segments"]
    assert len(te_files) >= 2 and [m["text_encoder"]["file"]] + [t["file"] for t in m["text_encoder"]["then"]] == te_files
    f32 = tomllib.loads((tmp_path / "out" / "model-f32.toml").read_text())
    assert f32["denoiser"]["file"] == "denoiser.onnx" and "then" not in f32["denoiser"]
    # The default keeps the tiny graphs whole (they are far below SEGMENT_MB).
    export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "whole"), "sd-turbo", log=lambda *a: None)
    assert "then" not in tomllib.loads((tmp_path / "whole" / "model.toml").read_text())["denoiser"]
    with pytest.raises(export_diffusers.ExportError, match="--segment-mb"):
        export_diffusers.export(str(tmp_path / "pipe"), str(tmp_path / "bad"), "sd-turbo", segment_mb=-1,
                                log=lambda *a: None)


@pytest.mark.parametrize("graph,segments", [("denoiser", 6), ("text_encoder", 3)])
def test_only_float_activations_cross_a_cut(bundle, graph, segments):
    """A quantized tensor, its zero point, an int32 product before its rescale
    or a shape handed to a later segment leaves tract unable to fuse the int8
    chain or fix the shapes at load (the real UNet cut by weight alone ran
    minutes per step): every value a segment reads from an earlier one is a
    float tensor with a fixed shape."""
    entries = split_bundle_graph(str(bundle), "model.toml", graph, segments)
    assert len(entries) == segments
    produced = set()
    for e in entries:
        g = onnx.load(str(bundle / e["file"]), load_external_data=False).graph
        for i in g.input:
            if i.name in produced:
                tt = i.type.tensor_type
                assert tt.elem_type == onnx.TensorProto.FLOAT, (e["file"], i.name, tt.elem_type)
                assert all(d.HasField("dim_value") for d in tt.shape.dim), (e["file"], i.name, tt.shape)
        produced.update(o.name for o in g.output)
