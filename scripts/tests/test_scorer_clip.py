"""export_diffusers --scorer-clip (scripts/export/scorer_clip.py): a CLIPModel the
bundle's tokenizer cannot feed is refused before any graph is written, and an
exported pair matches transformers. Needs torch and transformers: skipped
where they are missing (CI); the exported fixture itself is checked in CI by
tests/scorer.rs."""
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from scripts.export import scorer_clip  # noqa: E402
from scripts.fixtures import make_diffusers_fixtures as fx  # noqa: E402

VOCAB = os.path.join(fx.HF_TOKENIZER, "vocab.json")


def tiny_clip(path, vocab_size=49408, positions=77):
    from transformers import CLIPConfig, CLIPModel

    text = dict(vocab_size=vocab_size, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=positions, eos_token_id=49407)
    vision = dict(image_size=16, patch_size=8, hidden_size=8, intermediate_size=16, num_hidden_layers=1,
                  num_attention_heads=2)
    CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=4)).save_pretrained(path)
    return str(path)


def test_a_clip_of_another_vocabulary_or_shorter_text_is_refused(tmp_path):
    with pytest.raises(scorer_clip.ScorerError, match="1000 tokens"):
        scorer_clip.check(tiny_clip(tmp_path / "a", vocab_size=1000), VOCAB, 77)
    with pytest.raises(scorer_clip.ScorerError, match="reads 16 tokens"):
        scorer_clip.check(tiny_clip(tmp_path / "b", positions=16), VOCAB, 77)
    with pytest.raises(scorer_clip.ScorerError, match="not a transformers CLIPModel"):
        scorer_clip.check(str(tmp_path), VOCAB, 77)


def test_the_exported_towers_are_transformers_towers(tmp_path):
    import onnxruntime as ort
    from transformers import CLIPModel

    clip_dir = tiny_clip(tmp_path / "clip")
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "vocab.json").write_bytes(open(VOCAB, "rb").read())
    fields = scorer_clip.export(clip_dir, str(out), 77, 49407)
    assert fields["image_size"] == [16, 16] and fields["embed_dim"] == 4
    clip = CLIPModel.from_pretrained(clip_dir).eval()
    pixels = np.random.default_rng(0).standard_normal((1, 3, 16, 16)).astype(np.float32)
    ids = np.zeros((1, 77), np.int64)
    ids[0, :4] = [49406, 320, 1929, 49407]
    image = ort.InferenceSession(str(out / "scorer_image.onnx")).run(None, {"pixel_values": pixels})[0]
    text = ort.InferenceSession(str(out / "scorer_text.onnx")).run(None, {"input_ids": ids})[0]
    with torch.no_grad():
        np.testing.assert_allclose(image, clip.get_image_features(pixel_values=torch.from_numpy(pixels)).numpy(),
                                   atol=1e-5)
        np.testing.assert_allclose(text, clip.get_text_features(input_ids=torch.from_numpy(ids)).numpy(), atol=1e-5)
    assert "[scorer.image]" in scorer_clip.section(fields)
