"""scripts/bench/sdcpp_checkpoint.py: diffusers names to the original (LDM) names that
stable-diffusion.cpp reads, OpenCLIP's fused q/k/v, the VAE attention as 1x1 convs,
and the file it writes. Needs numpy only (the safetensors files are read and written
by the module itself)."""
import json

import numpy as np
import pytest

from scripts.bench.sdcpp_checkpoint import (
    _Reader,
    convert_pipeline,
    text_encoder_names,
    unet_name,
    vae_name,
    write_safetensors,
)


@pytest.mark.parametrize("hf,sd", [
    ("conv_in.weight", "input_blocks.0.0.weight"),
    ("time_embedding.linear_2.bias", "time_embed.2.bias"),
    ("conv_norm_out.weight", "out.0.weight"),
    ("down_blocks.0.resnets.0.norm1.weight", "input_blocks.1.0.in_layers.0.weight"),
    ("down_blocks.0.resnets.1.conv2.bias", "input_blocks.2.0.out_layers.3.bias"),
    ("down_blocks.1.resnets.0.conv_shortcut.weight", "input_blocks.4.0.skip_connection.weight"),
    ("down_blocks.1.attentions.1.proj_in.weight", "input_blocks.5.1.proj_in.weight"),
    ("down_blocks.2.downsamplers.0.conv.weight", "input_blocks.9.0.op.weight"),
    ("down_blocks.3.resnets.1.time_emb_proj.weight", "input_blocks.11.0.emb_layers.1.weight"),
    ("mid_block.resnets.1.norm2.bias", "middle_block.2.out_layers.0.bias"),
    ("mid_block.attentions.0.transformer_blocks.0.ff.net.0.proj.weight",
     "middle_block.1.transformer_blocks.0.ff.net.0.proj.weight"),
    ("up_blocks.0.resnets.2.conv1.weight", "output_blocks.2.0.in_layers.2.weight"),
    ("up_blocks.0.upsamplers.0.conv.weight", "output_blocks.2.1.conv.weight"),
    ("up_blocks.1.upsamplers.0.conv.bias", "output_blocks.5.2.conv.bias"),
    ("up_blocks.3.attentions.2.transformer_blocks.0.attn2.to_k.weight",
     "output_blocks.11.1.transformer_blocks.0.attn2.to_k.weight"),
    ("up_blocks.3.attentions.2.proj_out.bias", "output_blocks.11.1.proj_out.bias"),
])
def test_unet_names(hf, sd):
    assert unet_name(hf) == sd


@pytest.mark.parametrize("hf,sd,conv", [
    ("encoder.conv_in.weight", "encoder.conv_in.weight", False),
    ("quant_conv.bias", "quant_conv.bias", False),
    ("encoder.down_blocks.1.resnets.0.conv_shortcut.weight", "encoder.down.1.block.0.nin_shortcut.weight", False),
    ("encoder.down_blocks.2.downsamplers.0.conv.weight", "encoder.down.2.downsample.conv.weight", False),
    ("decoder.up_blocks.0.resnets.2.conv1.weight", "decoder.up.3.block.2.conv1.weight", False),
    ("decoder.up_blocks.2.upsamplers.0.conv.weight", "decoder.up.1.upsample.conv.weight", False),
    ("decoder.mid_block.resnets.0.norm1.bias", "decoder.mid.block_1.norm1.bias", False),
    ("decoder.mid_block.attentions.0.group_norm.weight", "decoder.mid.attn_1.norm.weight", False),
    ("decoder.mid_block.attentions.0.to_q.weight", "decoder.mid.attn_1.q.weight", True),
    ("decoder.mid_block.attentions.0.to_q.bias", "decoder.mid.attn_1.q.bias", False),
    ("encoder.mid_block.attentions.0.to_out.0.weight", "encoder.mid.attn_1.proj_out.weight", True),
    ("decoder.conv_norm_out.bias", "decoder.norm_out.bias", False),
])
def test_vae_names(hf, sd, conv):
    assert vae_name(hf) == (sd, conv)


def test_unknown_names_refused():
    with pytest.raises(KeyError):
        unet_name("add_embedding.linear_1.weight")
    with pytest.raises(KeyError):
        vae_name("decoder.mid_block.attentions.0.to_qkv.weight")
    with pytest.raises(KeyError):
        text_encoder_names(["text_model.encoder.layers.0.self_attn.q_proj.weight"], open_clip=True)


def test_open_clip_names():
    layer = "text_model.encoder.layers.3."
    names = [layer + f"self_attn.{p}_proj.{leaf}" for p in "qkv" for leaf in ("weight", "bias")]
    names += [layer + "mlp.fc1.weight", layer + "layer_norm2.bias", layer + "self_attn.out_proj.weight",
              "text_model.embeddings.position_embedding.weight", "text_model.final_layer_norm.weight"]
    got = dict(text_encoder_names(names, open_clip=True))
    assert got["model.transformer.resblocks.3.attn.in_proj_weight"] == [layer + f"self_attn.{p}_proj.weight" for p in "qkv"]
    assert got["model.transformer.resblocks.3.attn.in_proj_bias"] == [layer + f"self_attn.{p}_proj.bias" for p in "qkv"]
    assert got["model.transformer.resblocks.3.mlp.c_fc.weight"] == [layer + "mlp.fc1.weight"]
    assert got["model.transformer.resblocks.3.ln_2.bias"] == [layer + "layer_norm2.bias"]
    assert got["model.transformer.resblocks.3.attn.out_proj.weight"] == [layer + "self_attn.out_proj.weight"]
    assert got["model.positional_embedding"] == ["text_model.embeddings.position_embedding.weight"]
    assert got["model.ln_final.weight"] == ["text_model.final_layer_norm.weight"]
    # SD 1.x keeps the transformers names
    assert dict(text_encoder_names(["text_model.final_layer_norm.weight"], open_clip=False)) == {
        "transformer.text_model.final_layer_norm.weight": ["text_model.final_layer_norm.weight"]}


def test_pipeline_file(tmp_path):
    rng = np.random.default_rng(0)
    t = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    src = tmp_path / "pipe"
    unet = {"conv_in.weight": t(8, 4, 3, 3), "down_blocks.0.attentions.0.proj_in.weight": t(8, 8)}
    vae = {"decoder.mid_block.attentions.0.to_v.weight": t(6, 6), "decoder.mid_block.attentions.0.to_v.bias": t(6)}
    te = {f"text_model.encoder.layers.0.self_attn.{p}_proj.weight": t(4, 4) for p in "qkv"}
    te["text_model.embeddings.token_embedding.weight"] = t(10, 4)
    for sub, name, tensors in (("unet", "diffusion_pytorch_model", unet), ("vae", "diffusion_pytorch_model", vae),
                               ("text_encoder", "model", te)):
        (src / sub).mkdir(parents=True)
        write_safetensors(src / sub / f"{name}.safetensors", tensors)
    (src / "text_encoder" / "config.json").write_text(json.dumps({"hidden_size": 1024, "num_hidden_layers": 1}))

    stats = convert_pipeline(src, tmp_path / "out.safetensors")
    assert stats["tensors"] == 6
    r = _Reader(str(tmp_path / "out.safetensors"))
    np.testing.assert_array_equal(r.get("model.diffusion_model.input_blocks.0.0.weight"), unet["conv_in.weight"])
    np.testing.assert_array_equal(r.get("model.diffusion_model.input_blocks.1.1.proj_in.weight"),
                                  unet["down_blocks.0.attentions.0.proj_in.weight"])
    v = r.get("first_stage_model.decoder.mid.attn_1.v.weight")
    assert v.shape == (6, 6, 1, 1)
    np.testing.assert_array_equal(v[:, :, 0, 0], vae["decoder.mid_block.attentions.0.to_v.weight"])
    assert r.get("first_stage_model.decoder.mid.attn_1.v.bias").shape == (6,)
    qkv = r.get("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight")
    np.testing.assert_array_equal(qkv, np.concatenate([te[f"text_model.encoder.layers.0.self_attn.{p}_proj.weight"]
                                                       for p in "qkv"]))
    assert r.get("cond_stage_model.model.token_embedding.weight").dtype == np.float32

    convert_pipeline(src, tmp_path / "half.safetensors", half=True)
    h = _Reader(str(tmp_path / "half.safetensors"))
    assert h.info("model.diffusion_model.input_blocks.0.0.weight") == ([8, 4, 3, 3], "F16")
    np.testing.assert_array_equal(h.get("model.diffusion_model.input_blocks.0.0.weight"),
                                  unet["conv_in.weight"].astype(np.float16))


def test_tiny_vae_left_out_and_guidance_embedding(tmp_path):
    """SDXS: an AutoencoderTiny vae/ is not written (sd.cpp takes --taesd); LCM: the
    guidance embedding is refused unless --drop-guidance-embedding; a tiny UNet's names
    land at the indices sd.cpp's SD2_TINY_UNET reads."""
    t = lambda *s: np.zeros(s, np.float32)  # noqa: E731
    src = tmp_path / "pipe"
    unet = {"conv_in.weight": t(8, 4, 3, 3), "time_embedding.cond_proj.weight": t(8, 4),
            "down_blocks.0.downsamplers.0.conv.weight": t(8, 8, 3, 3),
            "up_blocks.1.upsamplers.0.conv.weight": t(8, 8, 3, 3)}
    for sub, name, tensors in (("unet", "diffusion_pytorch_model", unet),
                               ("vae", "diffusion_pytorch_model", {"decoder.layers.0.weight": t(4, 4, 3, 3)}),
                               ("text_encoder", "model", {"text_model.final_layer_norm.weight": t(4)})):
        (src / sub).mkdir(parents=True)
        write_safetensors(src / sub / f"{name}.safetensors", tensors)
    (src / "text_encoder" / "config.json").write_text(json.dumps({"hidden_size": 1024, "num_hidden_layers": 1}))
    (src / "vae" / "config.json").write_text(json.dumps({"_class_name": "AutoencoderTiny"}))
    with pytest.raises(KeyError, match="guidance embedding"):
        convert_pipeline(src, tmp_path / "out.safetensors")
    stats = convert_pipeline(src, tmp_path / "out.safetensors", drop_guidance_embedding=True)
    assert stats["tensors"] == 4 and "tensors:first_stage_model" not in stats
    names = set(_Reader(str(tmp_path / "out.safetensors")).header) - {"__metadata__"}
    assert names == {"model.diffusion_model.input_blocks.0.0.weight", "model.diffusion_model.input_blocks.3.0.op.weight",
                     "model.diffusion_model.output_blocks.5.2.conv.weight", "cond_stage_model.model.ln_final.weight"}
