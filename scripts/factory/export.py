"""Stage 6: ONNX export (opset 17, fixed shapes, batch 1, dynamo=False) of
the student's text encoder and UNet and the AE decoder, exactly the bundle
interfaces of docs/bundle.md, each checked against torch with onnxruntime.

  python3 -m scripts.factory.export --out runs/scenes   (writes OUT/onnx/*.onnx)"""
import argparse
import json
import os

import numpy as np
import onnx
import onnxruntime as ort
import torch

from scripts.factory import common as C
from scripts.factory import graph_rewrite
from scripts.factory import distill
from scripts.factory import dm
from scripts.factory import nets


class TE(torch.nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids):
        return self.te(input_ids)


class Den(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states)


def _export(mod, args, path, in_names, out_names):
    nets.EXPORT = True
    try:
        torch.onnx.export(mod, args, path, opset_version=17, dynamo=False, do_constant_folding=True,
                          input_names=in_names, output_names=out_names)
    finally:
        nets.EXPORT = False
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return m


def ort_run(path, feeds):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, feeds)[0]


def export_all(out, model, ae, odir, hidden=128, log=None):
    os.makedirs(odir, exist_ok=True)
    model = model.cpu().eval()
    ae = ae.cpu().eval()
    prompts = ["a red house on a snowy field at night under the moon", ""]
    rep = {}
    with torch.no_grad():
        ids = torch.from_numpy(C.tokenize(prompts[:1]))
        p = os.path.join(odir, "text_encoder.onnx")
        _export(TE(model.te), (ids,), p, ["input_ids"], ["last_hidden_state"])
        ref = model.te(ids).numpy()
        got = ort_run(p, {"input_ids": ids.numpy()})
        assert got.shape == (1, C.MAX_LEN, hidden), got.shape
        rep["text_encoder"] = float(np.abs(got - ref).max())

        ctx = model.te(ids)
        x = torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(0))
        t = torch.tensor([750.0])
        p = os.path.join(odir, "denoiser.onnx")
        _export(Den(model.unet), (x, t, ctx), p, ["sample", "timestep", "encoder_hidden_states"], ["velocity"])
        diffs = []
        for tv in (1000.0, 500.0, 250.0):
            tt = torch.tensor([tv])
            ref = model.unet(x, tt, ctx).numpy()
            got = ort_run(p, {"sample": x.numpy(), "timestep": tt.numpy(), "encoder_hidden_states": ctx.numpy()})
            assert got.shape == (1, 4, 16, 16)
            diffs.append(float(np.abs(got - ref).max()))
        rep["denoiser"] = max(diffs)

        p = os.path.join(odir, "decoder.onnx")
        _export(ae.decoder, (x,), p, ["latent_sample"], ["sample"])
        # upsample + conv as four phase convs: same function, 3/4 of the
        # decoder's FLOPs, faster in tract (graph_rewrite.py)
        graph_rewrite.upsample_conv_to_phases(p, p)
        ref = ae.decoder(x).numpy()
        got = ort_run(p, {"latent_sample": x.numpy()})
        assert got.shape == (1, 3, 128, 128)
        rep["decoder"] = float(np.abs(got - ref).max())
    C.write_json(os.path.join(odir, "export_check.json"), rep)
    C.log(log, stage="export", max_abs_diff=rep)
    for k, v in rep.items():
        assert v < 1e-3, f"{k}: onnxruntime differs from torch by {v}"
    return rep


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/scenes")
    ap.add_argument("--which", default="student", choices=["student", "teacher"])
    a = ap.parse_args()
    C.setup("cpu")
    if a.which == "student":
        m, _ = distill.load_student(a.out, "cpu")
    else:
        from scripts.factory import train_teacher as T
        m, _ = T.load_teacher(a.out, "cpu")
    ae = dm.load_ae(a.out, "cpu")
    print(json.dumps(export_all(a.out, m, ae, os.path.join(a.out, "onnx"), log=os.path.join(a.out, "log.jsonl"))))
