"""`vsa-np caption CKPT --features FILE [--tasks tasks.txt] [--beam 7] [--json] [--html OUT.html]`:
captions for precomputed image features with a trained generator (Sec. 3.2, beam search).

`vsa-np caption CKPT --images DIR [--cnn FILE]` computes the features from the pixels of the PNG /
JPEG files in DIR (pictures of the shapes world) with the network that computed the training
features: the `cnn.npz` that make-shapes saved beside the data the generator was trained on, or
the one given with --cnn; each picture is one whole-image crop, as make-shapes does (Eq. 13).

FILE is `vgg_feats.mat` with one image per column (the layout of the paper's released examples;
`.npy`/`.npz` with one image per row also work). `--tasks` names the images, one a line, in
column order; the HTML page shows each image (looked up beside the tasks file, in its `images/`
folder, or in --images DIR) with its captions and log probabilities."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from vsa_np.config import MAX_LEN
from vsa_np.errors import DataError
from vsa_np.paths import HTML_SUFFIXES, output_file
from vsa_np.safe_read import reading



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ckpt", metavar="CKPT", help="generator checkpoint (a run folder means its best)")
    p.add_argument("--features", metavar="FILE",
                   help="features: vgg_feats.mat (D, N), or .npy/.npz (N, D); without it, "
                        "computed from the pictures in --images")
    p.add_argument("--tasks", metavar="FILE", help="image names, one a line, in feature order")
    p.add_argument("--images", metavar="DIR",
                   help="folder of the images (for --html; without --features, the pictures "
                        "to caption, features computed from their pixels)")
    p.add_argument("--cnn", metavar="FILE",
                   help="with --images and no --features: the network (a cnn.npz, or a world's "
                        "folder; default: the one beside the generator's training data)")
    p.add_argument("--beam", type=int, default=7, help="beam size (default 7, as the paper)")
    p.add_argument("--n-best", type=int, default=1, help="captions per image (<= beam)")
    p.add_argument("--max-len", type=int, default=40, help="longest caption in words")
    p.add_argument("--json", action="store_true", help="print the captions as JSON")
    p.add_argument("--html", metavar="OUT.html", help="also write an HTML page")


def read_tasks(path, n: int) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: tasks file not found")
    with reading(p, "tasks file"):
        text = p.read_bytes().decode("utf-8")
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != n:
        raise DataError(f"{path}: {len(names)} image names for {n} feature vectors")
    return names


def find_image(name: str, folders) -> Path | None:
    for folder in folders:
        if folder is not None and (Path(folder) / name).is_file():
            return (Path(folder) / name).resolve()
    return None


PICTURES = (".png", ".jpg", ".jpeg")


def features_from_pixels(args, meta):
    """(features (N, D), names) of the pictures in args.images, by the world's network."""
    import numpy as np
    from PIL import Image

    from vsa_np.data.shapes import load_network
    from vsa_np.data.trained_cnn import crops_of

    folder = Path(args.images)
    if not folder.is_dir():
        raise DataError(f"--images {folder}: not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PICTURES)
    if not files:
        raise DataError(f"--images {folder}: no PNG or JPEG pictures in it")
    where = args.cnn or (Path(meta["data"]) if meta.get("data") else None)
    if where is None:
        raise DataError("--images: give --cnn FILE (the checkpoint does not say which data, "
                        "hence which network, it was trained on)")
    net = load_network(where)
    feats = np.empty((len(files), net.feature_dim), dtype=np.float32)
    for k, f in enumerate(files):
        with reading(f, "picture"):
            pixels = np.asarray(Image.open(f).convert("RGB"))
        H, W = pixels.shape[:2]
        size = getattr(net, "whole_size", net.input_size)         # as make-shapes reads it
        feats[k] = net(crops_of(pixels, [(0, 0, W, H)], size))[0]   # CNN(I), read by Eq. 13
    args.features = f"{folder} (features by {where})"
    return feats, [f.name for f in files]


def run(args) -> int:
    from vsa_np.data.features import read_features
    from vsa_np.feature_norm import check_scale
    from vsa_np.generator.evaluate import caption_features
    from vsa_np.generator.html import write_caption_page
    from vsa_np.trained import load_generator

    if args.beam < 1 or not 1 <= args.n_best <= args.beam or not 1 <= args.max_len <= MAX_LEN:
        raise DataError(f"need --beam >= 1, 1 <= --n-best <= --beam and 1 <= --max-len <= "
                        f"{MAX_LEN}")
    if args.html:
        output_file(args.html, "--html", HTML_SUFFIXES)
    if args.features is None and args.images is None:
        raise DataError("give --features FILE, or --images DIR to compute the features from "
                        "the pictures' pixels")
    model, vocab, meta = load_generator(args.ckpt)
    if args.features is None:
        feats, names_from_pixels = features_from_pixels(args, meta)
    else:
        feats, names_from_pixels = read_features(args.features), None
    if feats.shape[1] != model.D:
        raise DataError(f"{args.features}: features of dimension {feats.shape[1]}, the model "
                        f"reads {model.D}-d features")
    check_scale(model.norm, feats, args.features)
    names = names_from_pixels or (read_tasks(args.tasks, len(feats)) if args.tasks
             else [str(i) for i in range(len(feats))])
    words, logprob = caption_features(model, vocab, feats, args.beam, args.max_len, args.n_best)
    out = [{"image": name, "caption": " ".join(w[0]), "logprob": lp[0],
            "candidates": [{"caption": " ".join(c), "logprob": v} for c, v in zip(w, lp)]}
           for name, w, lp in zip(names, words, logprob)]
    if args.html:
        base = Path(args.tasks).parent if args.tasks else Path(args.features).parent
        folders = [args.images, base / "images", base]
        items = [{"name": o["image"], "image": find_image(o["image"], folders),
                  "captions": [c["caption"] for c in o["candidates"]],
                  "logprobs": [c["logprob"] for c in o["candidates"]]} for o in out]
        write_caption_page(args.html, items, title=f"captions by {args.ckpt}")
        missing = [it["name"] for it in items if it["image"] is None]
        if missing:
            print(f"warning: {len(missing)} of {len(items)} images not found (first: "
                  f"{missing[0]}; looked in {', '.join(str(f) for f in folders if f)}); "
                  f"{args.html} shows their captions without the picture", file=sys.stderr)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for o in out:
            print(f"{o['image']}\t{o['logprob']:.3f}\t{o['caption']}")
    return 0
