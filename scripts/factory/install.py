"""Install a factory bundle as the shipped model: its graphs, manifests and
tokenizer into DEST, keeping what the factory does not make there: DEST's
hand-written model card (README.md) and its self-check scorer (scorer_*.onnx,
whose [scorer] table is written again into every new manifest).

    python3 -m scripts.factory.install runs/NAME/bundle [--dest models/scenes]

Then re-measure the card's tables (scripts/evaluate/README.md) and refit the
fast preview (scripts/export/preview_fit.py) if the decoder changed.
"""
import argparse
import os
import shutil

KEPT = ("README.md",)  # DEST's own card; the bundle's generated one stays in the run


def install(bundle_dir, dest):
    """Copy the bundle's files (all but its README) into dest; returns the
    names copied and the manifests that got dest's scorer back."""
    names = sorted(n for n in os.listdir(bundle_dir)
                   if n not in KEPT and os.path.isfile(os.path.join(bundle_dir, n)))
    if not any(n.endswith(".toml") for n in names):
        raise SystemExit(f"{bundle_dir}: no model manifest (*.toml): not a bundle")
    os.makedirs(dest, exist_ok=True)
    for n in names:
        shutil.copyfile(os.path.join(bundle_dir, n), os.path.join(dest, n))
    towers = [os.path.join(dest, f"scorer_{t}.onnx") for t in ("image", "text")]
    rescored = []
    if all(os.path.exists(p) for p in towers):
        from scripts.factory import scorer
        rescored = scorer.install(dest, *towers)
    return names, rescored


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundle", help="a factory bundle (build.py --dest)")
    ap.add_argument("--dest", default="models/scenes")
    a = ap.parse_args(argv)
    names, rescored = install(a.bundle, a.dest)
    print(f"installed {len(names)} files into {a.dest}: {', '.join(names)}")
    print("scorer kept in: " + (", ".join(os.path.basename(p) for p in rescored) or "none (no scorer_*.onnx there)"))


if __name__ == "__main__":
    main()
