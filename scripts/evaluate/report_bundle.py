"""The bundle under evaluation: its manifests and sha256s (the report never mixes bundles), its f32 view."""

import os

from scripts.hashing import sha256

def read_toml(path):
    try:
        import tomllib
    except ImportError:  # python < 3.11
        import tomli as tomllib
    with open(path, "rb") as f:
        return tomllib.load(f)


class Bundle:
    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.toml = read_toml(os.path.join(self.path, "model.toml"))
        f32 = os.path.join(self.path, "model-f32.toml")
        self.toml_f32 = read_toml(f32) if os.path.exists(f32) else None
        lat = self.toml["latent"]
        self.shape = (1, lat["channels"], lat["height"], lat["width"])
        self.timesteps = {int(k): [float(x) for x in v] for k, v in self.toml["scheduler"]["timesteps"].items()}
        self.sha = sha256(os.path.join(self.path, "model.toml"))
        self.f32_shas = _file_shas(self, self.toml_f32) if self.toml_f32 else None
        self.bytes = sum(os.path.getsize(os.path.join(self.path, f)) for f in os.listdir(self.path)
                         if os.path.isfile(os.path.join(self.path, f)))


def _file_shas(bundle, manifest):
    """sha256 of the model files a manifest names (the onnxruntime rows read them without the runtime's check)."""
    out = {}
    for k in ("text_encoder", "denoiser", "decoder"):
        out[k] = sha256(os.path.join(bundle.path, manifest[k]["file"]))
        if out[k] != manifest[k].get("sha256", out[k]):
            raise RuntimeError(f"{manifest[k]['file']}: sha256 differs from the manifest's")
    return out


def f32_bundle_dir(bundle, tmp):
    """A folder whose model.toml is BUNDLE/model-f32.toml (links to the bundle's files), for the binary."""
    d = os.path.join(tmp, "bundle-f32")
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(bundle.path):
        src, dst = os.path.join(bundle.path, f), os.path.join(d, f if f != "model-f32.toml" else "model.toml")
        if f == "model.toml" or os.path.lexists(dst):
            continue
        os.symlink(src, dst)
    return d
