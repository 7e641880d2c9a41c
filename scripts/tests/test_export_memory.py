"""scripts/export/export_diffusers.py's memory-bounded steps write the same files as the
plain ones: the int8 quantization that keeps the f32 weights on disk
(`quantize_dynamic_int8`) against scripts/factory/quantize.py `dynamic` (onnxruntime's
quantize_dynamic as it is), on a graph with Conv, MatMul and Gemm weights, inline and
as external data; and a torch export that releases the module's weights while it
serializes. Needs torch and onnxruntime (scripts/requirements.txt): skipped where
they are missing."""

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

from scripts.export import export_diffusers  # noqa: E402
from scripts.factory import quantize  # noqa: E402


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 8, 3, padding=1)
        self.proj = torch.nn.Linear(8, 16)        # on [1, 64, 8]: MatMul with a constant weight
        self.head = torch.nn.Linear(16 * 64, 32)  # on [1, 1024]: Gemm (transB=1)

    def forward(self, x):
        h = self.conv(x).flatten(2).transpose(1, 2)
        h = self.proj(h)
        a = torch.softmax(h @ h.transpose(1, 2), -1) @ h  # activation x activation MatMuls: not quantized
        return self.head(a.flatten(1))


def _export(path, consume=False):
    torch.manual_seed(0)
    m = Small().eval()
    export_diffusers.torch_export(m, (torch.randn(1, 4, 8, 8),), path, ["x"], "y", consume=consume)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def test_quantize_dynamic_int8_matches_onnxruntime_inline_and_external(tmp_path):
    inline = str(tmp_path / "inline.onnx")
    _export(inline)
    ext_dir = tmp_path / "ext"
    ext_dir.mkdir()
    external = str(ext_dir / "g.onnx")
    onnx.save_model(onnx.load(inline), external, save_as_external_data=True, location="g.onnx.data",
                    size_threshold=0)
    assert any(t.data_location == onnx.TensorProto.EXTERNAL
               for t in onnx.load(external, load_external_data=False).graph.initializer)
    nodes = {n.op_type for n in onnx.load(inline).graph.node}
    assert {"Conv", "MatMul", "Gemm"} <= nodes

    for k, src in enumerate((inline, external)):
        # (onnxruntime's file differs between the two: tensors read from external
        # data keep an explicit data_location)
        want, got = str(tmp_path / f"want{k}.int8.onnx"), str(tmp_path / f"got{k}.int8.onnx")
        info_want = quantize.dynamic(src, want)
        info = export_diffusers.quantize_dynamic_int8(src, got)
        assert info == info_want
        assert _read(got) == _read(want), src
    # onnxruntime's own calls are unpatched again afterwards
    from onnxruntime.quantization import onnx_quantizer, quant_utils
    assert onnx_quantizer.save_and_reload_model_with_shape_infer is quant_utils.save_and_reload_model_with_shape_infer


def test_consuming_export_writes_the_same_graph(tmp_path):
    a, b = str(tmp_path / "a.onnx"), str(tmp_path / "b.onnx")
    _export(a)
    _export(b, consume=True)
    assert _read(a) == _read(b)


@pytest.mark.parametrize("apart", [False, True])
def test_text_encoder_exported_without_its_token_table_gets_it_back(tmp_path, apart):
    """graphs.set_token_table_aside / put_token_table_back: the graph is traced with a one-row token table
    (a lower export peak) and written with the real one; onnxruntime then gives
    torch's hidden states for ids all over the vocabulary. With its weights apart
    (external data, as a real-size text encoder is exported) the table is appended
    to the data file, which finish_graph packs again."""
    import numpy as np
    import onnxruntime as ort
    from transformers import CLIPTextConfig, CLIPTextModel

    from scripts.export.graphs import TextEncoderGraph, finish_graph, put_token_table_back, set_token_table_aside

    torch.manual_seed(0)
    config = CLIPTextConfig(vocab_size=1000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, max_position_embeddings=16)
    te = CLIPTextModel(config).eval()
    ids = torch.tensor([[49, 998, 3, 500, 0, 7, 123, 999, 1, 2, 3, 4, 5, 6, 7, 8]])
    with torch.no_grad():
        expected = te(ids, return_dict=False)[0].numpy()
    path = str(tmp_path / "text_encoder.onnx")
    aside = set_token_table_aside(te, path)
    export_diffusers.torch_export(TextEncoderGraph(te), (torch.zeros_like(ids),), path, ["input_ids"],
                                  "last_hidden_state", consume=True, weights_apart=apart, apart_bytes=0)
    del te
    put_token_table_back(path, aside)
    if apart:
        finish_graph(path)
    files = ["text_encoder.onnx", "text_encoder.onnx.data"] if apart else ["text_encoder.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input_ids": ids.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_export_with_weights_apart_gives_the_inline_graph(tmp_path):
    """torch_export(weights_apart=True): torch writes the graph without its weights
    (a lower export peak) and they are written tensor by tensor into GRAPH.onnx.data:
    the same nodes, the same initializers bit for bit, onnxruntime the same output;
    finish_graph then packs the data file for the manifest as it does torch's own."""
    import numpy as np
    import onnxruntime as ort
    from onnx import numpy_helper

    from scripts.export.graphs import finish_graph

    inline, apart = str(tmp_path / "inline.onnx"), str(tmp_path / "apart" / "g.onnx")
    (tmp_path / "apart").mkdir()
    _export(inline)
    torch.manual_seed(0)
    m = Small().eval()
    export_diffusers.torch_export(m, (torch.randn(1, 4, 8, 8),), apart, ["x"], "y", consume=True,
                                  weights_apart=True, apart_bytes=0)
    assert sorted(p.name for p in (tmp_path / "apart").iterdir()) == ["g.onnx", "g.onnx.data"]
    a, b = onnx.load(inline), onnx.load(apart)
    assert [n.op_type for n in a.graph.node] == [n.op_type for n in b.graph.node]
    assert [i.name for i in b.graph.input] == ["x"]
    want = {t.name: numpy_helper.to_array(t) for t in a.graph.initializer}
    got = {t.name: numpy_helper.to_array(t) for t in b.graph.initializer}
    assert want.keys() == got.keys() and len(got) >= 5
    for name, value in want.items():
        assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name
    x = np.random.default_rng(1).standard_normal((1, 4, 8, 8)).astype(np.float32)
    run = lambda p: ort.InferenceSession(p, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]  # noqa: E731
    np.testing.assert_array_equal(run(apart), run(inline))
    rewrites = finish_graph(apart)
    assert rewrites["external_data"] == "g.onnx.data"
    np.testing.assert_array_equal(run(apart), run(inline))
    # below the size threshold (the default 256 MiB) the graph stays inline
    small = str(tmp_path / "small.onnx")
    export_diffusers.torch_export(Small().eval(), (torch.randn(1, 4, 8, 8),), small, ["x"], "y", weights_apart=True)
    assert not (tmp_path / "small.onnx.data").exists()
