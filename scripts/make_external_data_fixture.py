#!/usr/bin/env python3
"""The external-data fixture: the tiny sd-turbo fixture's f32 denoiser stored
the way torch stores a real-size (> 2 GB) UNet, then packed by the exporter's
own code (onnx_data.pack_external_data) into one hashed data file, with a
third manifest in the same folder:

    tests/fixtures/diffusers/sd-turbo/denoiser.external.onnx        graph only
    tests/fixtures/diffusers/sd-turbo/denoiser.external.onnx.data   its weights
    tests/fixtures/diffusers/sd-turbo/model-external.toml           model-f32.toml with that denoiser

tests/external_data.rs checks that it makes the same picture as model-f32.toml
and that a changed, missing or unlisted data file is refused. Needs only onnx.

    python3 scripts/make_external_data_fixture.py
"""

import hashlib
import os
import re
import sys

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from onnx_data import external_files, pack_external_data  # noqa: E402

FIXTURE = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "diffusers", "sd-turbo")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    src = os.path.join(FIXTURE, "denoiser.onnx")
    dst = os.path.join(FIXTURE, "denoiser.external.onnx")
    m = onnx.load(src)
    # torch's layout for a graph over 2 GB: one loose file per tensor.
    onnx.save_model(m, dst, save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    loose = external_files(dst)
    data = pack_external_data(dst)
    assert data == "denoiser.external.onnx.data" and external_files(dst) == {data}, external_files(dst)
    left = [f for f in loose if os.path.exists(os.path.join(FIXTURE, f))]
    assert not left, left
    with open(os.path.join(FIXTURE, "model-f32.toml")) as f:
        text = f.read()
    entry = (f'file = "denoiser.external.onnx"\nsha256 = "{sha256(dst)}"\n'
             f'data = "{data}"\ndata_sha256 = "{sha256(os.path.join(FIXTURE, data))}"')
    text, n = re.subn(r'file = "denoiser.onnx"\nsha256 = "[0-9a-f]+"', entry, text)
    assert n == 1
    text = text.replace(", f32\"", ", f32, denoiser weights as ONNX external data\"", 1)
    with open(os.path.join(FIXTURE, "model-external.toml"), "w") as f:
        f.write(text)
    print(f"{len(loose)} loose tensor files packed into {data}; wrote model-external.toml")


if __name__ == "__main__":
    main()
