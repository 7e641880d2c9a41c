#!/usr/bin/env python3
"""Render N random scenes to OUTDIR as NAME.png + NAME.json ({"caption", "attributes"}).

    python3 -m scripts.tools.render_scenes N OUTDIR [--seed S] [--split train|heldout|any]
"""
import argparse
import json
import os


from PIL import Image

from scripts.scenes import render_batch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int)
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="train", choices=["train", "heldout", "any"])
    args = ap.parse_args()
    os.makedirs(args.outdir, exist_ok=True)
    width = max(5, len(str(args.n - 1)))
    done = 0
    while done < args.n:  # chunks keep memory bounded; seeds derived per chunk
        k = min(1000, args.n - done)
        imgs, attrs, caps = render_batch(k, [args.seed, done], split=args.split)
        for i in range(k):
            name = f"{args.split}_{args.seed}_{done + i:0{width}d}"
            Image.fromarray(imgs[i]).save(os.path.join(args.outdir, name + ".png"))
            with open(os.path.join(args.outdir, name + ".json"), "w") as f:
                json.dump({"caption": caps[i], "attributes": attrs[i]}, f)
        done += k
    print(f"wrote {args.n} scenes to {args.outdir}")


if __name__ == "__main__":
    main()
