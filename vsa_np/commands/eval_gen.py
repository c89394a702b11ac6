"""`vsa-np eval-gen CKPT DATA [--split test] [--beam 7] [--json]`: the generator's perplexity and
caption metrics (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) on a split, beside the nearest-neighbour
baseline of Sec. 4.2 on the same images. JSON: {"model": {...}, "nearest_neighbour": {...}}.
Where the images carry ground-truth `objects` (the shapes world), each also has an `objects`
block: the captions checked against the picture (`vsa_np.generator.evaluate.object_truth`).

`--regions` evaluates region captions instead (Sec. 4.3, Table 3): every ground-truth region
phrase of `alignments.json` (the shapes world) on the split is a reference of its region, and the
model captions the region's features; with `--compare CKPT2` a second model (the full-frame one)
is scored on the same regions."""
from __future__ import annotations

import argparse
import json
import sys



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ckpt", metavar="CKPT", help="generator checkpoint (a run folder means its best)")
    p.add_argument("data", metavar="DATA", help="dataset folder")
    p.add_argument("--split", default="test", choices=("train", "val", "test"))
    p.add_argument("--beam", type=int, default=7, help="beam size (default 7, as the paper)")
    p.add_argument("--max-len", type=int, default=40, help="longest caption in words")
    p.add_argument("--max-images", type=int, default=0, help="only the first N images (0: all)")
    p.add_argument("--no-meteor", action="store_true", help="skip METEOR (it needs Java)")
    p.add_argument("--regions", action="store_true",
                   help="region captions against the ground-truth phrases of alignments.json")
    p.add_argument("--compare", metavar="CKPT2",
                   help="with --regions: a second generator scored on the same regions")
    p.add_argument("--html", metavar="OUT.html", help="write a page of the captions")
    p.add_argument("--json", action="store_true", help="print one JSON object")


KEYS = ("perplexity", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")
DIVERSITY = (("distinct", "distinct caps"), ("most_common", "top caption"),
             ("in_training", "in training"))
OBJECTS = (("precision", "obj precision"), ("recall", "obj recall"), ("chair_s", "CHAIR_s"),
           ("chair_i", "CHAIR_i"), ("repeats", "repeats obj"))


def _table(columns: dict) -> str:
    names = list(columns)
    lines = [f"{'':<14}" + "".join(f"{n:>20}" for n in names)]
    for k in KEYS:
        if any(k in c for c in columns.values()):
            cells = [columns[n].get(k) for n in names]
            lines.append(f"{k:<14}" + "".join(
                f"{'-' if v is None else format(v, '.4f'):>20}" for v in cells))
    for block, rows in (("diversity", DIVERSITY), ("objects", OBJECTS)):   # shares, in %
        for k, label in rows:
            if any(k in (c.get(block) or {}) for c in columns.values()):
                cells = [(columns[n].get(block) or {}).get(k) for n in names]
                lines.append(f"{label:<14}" + "".join(
                    f"{'-' if v is None else format(100 * v, '.1f') + '%':>20}" for v in cells))
    return "\n".join(lines)


def run(args) -> int:
    from vsa_np.data import load_dataset
    from vsa_np.feature_norm import check_scale
    from vsa_np.config import MAX_LEN
    from vsa_np.errors import DataError
    from vsa_np.trained import data_report, load_generator
    from vsa_np.paths import HTML_SUFFIXES, output_file

    if args.beam < 1 or not 1 <= args.max_len <= MAX_LEN:
        raise DataError(f"need --beam >= 1 and 1 <= --max-len <= {MAX_LEN}")
    if args.max_images < 0:
        raise DataError(f"--max-images: must be >= 0 (0: all), got {args.max_images}")
    if args.compare and not args.regions:
        raise DataError("--compare works with --regions only")
    if args.html:
        output_file(args.html, "--html", HTML_SUFFIXES)
    model, vocab, meta = load_generator(args.ckpt)
    ds = load_dataset(args.data)
    data = data_report(vocab, meta, ds, args.split)
    ds.require_features()
    if ds.feature_dim != model.D:
        raise DataError(f"{args.data}: features of dimension {ds.feature_dim}, the model reads "
                        f"{model.D}-d features")
    check_scale(model.norm, ds.feats, ds.features_file)
    meteor = not args.no_meteor
    if args.regions:
        from vsa_np.generator.region_data import evaluate_regions

        models = {"model": (model, vocab)}
        if args.compare:
            models["compare"] = load_generator(args.compare)[:2]
        result = evaluate_regions(models, ds, args.split, args.beam, args.max_len, meteor,
                                  args.max_images)
    else:
        from vsa_np.generator.evaluate import evaluate_with_baseline

        result = evaluate_with_baseline(model, ds, vocab, args.split, args.beam, args.max_len,
                                        meteor, args.max_images)
    if args.html:
        _write_html(args.html, ds, result, args)
    from vsa_np.generator.evaluate import nn_distances

    captions = {k: v.pop("captions", None) for k, v in result.items()}
    for v in result.values():
        v.pop("logprobs", None)
    if args.json:
        print(json.dumps({**result, "data": data}, indent=1))
    else:
        n = len(captions["model"])
        print(f"{args.split} split of {args.data}: {n} "
              f"{'regions' if args.regions else 'images'}, beam {args.beam}; "
              f"{data['unknown_words_percent']:.1f}% of its words unknown to the model")
        print(_table(result))
        if "distance" in result.get("nearest_neighbour", {}):
            print(f"nearest neighbour: {result['nearest_neighbour']['distance']} (the best "
                  f"validation CIDEr-D of {len(nn_distances(ds))} distances)")
    if not args.regions:
        from vsa_np.generator.evaluate import diversity_warning

        warning = diversity_warning(result["model"]["diversity"],
                                    result["nearest_neighbour"]["diversity"])
        if warning:
            print(warning, file=sys.stderr)
        if meteor and all(v.get("METEOR") is None for v in result.values()):
            from vsa_np.metrics.meteor import how_to_get

            print(how_to_get() or "METEOR n/a: the METEOR jar failed (see the warning above)",
                  file=sys.stderr)
    return 0


def _write_html(path, ds, result, args):
    from vsa_np.generator.evaluate import object_marks
    from vsa_np.generator.html import write_caption_page

    caps = result["model"]["captions"]
    marked = "objects" in result["model"]
    items = []
    for key, cap in caps.items():
        i, _, region = str(key).partition(":")          # "image" or "image:region"
        im = ds.images[int(i)]
        image = ds.root / "images" / im["filename"]
        items.append({"name": im["filename"] + (f", region {region}" if region else ""),
                      "image": image if image.is_file() else None,
                      "captions": [cap], "logprobs": [result["model"].get("logprobs", {})
                                                      .get(key, float("nan"))],
                      "references": [" ".join(s["tokens"]) for s in im["sentences"]]})
        if marked:
            items[-1]["marks"] = [object_marks(ds, int(i), cap)]
    write_caption_page(path, items, title=f"{args.ckpt} on {args.data} ({args.split})")
