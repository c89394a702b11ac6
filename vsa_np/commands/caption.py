"""`vsa-np caption CKPT --features FILE [--tasks tasks.txt] [--beam 7] [--json] [--html OUT.html]`:
captions for precomputed image features with a trained generator (Sec. 3.2, beam search).

FILE is `vgg_feats.mat` with one image per column (the layout of the paper's released examples;
`.npy`/`.npz` with one image per row also work). `--tasks` names the images, one a line, in
column order; the HTML page shows each image (looked up beside the tasks file, in its `images/`
folder, or in --images DIR) with its captions and log probabilities."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vsa_np.errors import DataError
from vsa_np.paths import HTML_SUFFIXES, output_file

HELP = "caption precomputed image features with a trained generator (beam search)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ckpt", metavar="CKPT", help="generator checkpoint (a run folder means its best)")
    p.add_argument("--features", required=True, metavar="FILE",
                   help="features: vgg_feats.mat (D, N), or .npy/.npz (N, D)")
    p.add_argument("--tasks", metavar="FILE", help="image names, one a line, in feature order")
    p.add_argument("--images", metavar="DIR", help="folder of the images (for --html)")
    p.add_argument("--beam", type=int, default=7, help="beam size (default 7, as the paper)")
    p.add_argument("--n-best", type=int, default=1, help="captions per image (<= beam)")
    p.add_argument("--max-len", type=int, default=40, help="longest caption in words")
    p.add_argument("--json", action="store_true", help="print the captions as JSON")
    p.add_argument("--html", metavar="OUT.html", help="also write an HTML page")


def read_tasks(path, n: int) -> list[str]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: tasks file not found")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"{path}: cannot read ({e})") from None
    names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) != n:
        raise DataError(f"{path}: {len(names)} image names for {n} feature vectors")
    return names


def find_image(name: str, folders) -> Path | None:
    for folder in folders:
        if folder is not None and (Path(folder) / name).is_file():
            return (Path(folder) / name).resolve()
    return None


def run(args) -> int:
    from vsa_np.data.features import read_features
    from vsa_np.feature_norm import check_scale
    from vsa_np.generator.evaluate import caption_features
    from vsa_np.generator.html import write_caption_page
    from vsa_np.generator.load import load_generator

    if args.beam < 1 or not 1 <= args.n_best <= args.beam or args.max_len < 1:
        raise DataError("need --beam >= 1, 1 <= --n-best <= --beam and --max-len >= 1")
    if args.html:
        output_file(args.html, "--html", HTML_SUFFIXES)
    model, vocab, _ = load_generator(args.ckpt)
    feats = read_features(args.features)
    if feats.shape[1] != model.D:
        raise DataError(f"{args.features}: features of dimension {feats.shape[1]}, the model "
                        f"reads {model.D}-d features")
    check_scale(model.norm, feats, args.features)
    names = (read_tasks(args.tasks, len(feats)) if args.tasks
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
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        for o in out:
            print(f"{o['image']}\t{o['logprob']:.3f}\t{o['caption']}")
    return 0
