"""`vsa-np data-info DIR [--json]`: what a dataset folder holds (images and sentences per split,
vocabulary at the paper's threshold of 5 (Sec. 4), feature dimension, regions per image, caption
lengths). Works on captions-only folders too; bad folders get one line naming the file and the
problem (exit code 2)."""
from __future__ import annotations

import argparse
import json



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="DIR", help="dataset folder, or its dataset*.json file")
    p.add_argument("--threshold", type=int, default=5,
                   help="keep training words seen at least this often (default 5, as the paper)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def summarise(ds, threshold: int = 5) -> dict:
    """The data-info summary of a loaded Dataset (keys documented in issue 3)."""
    from vsa_np.data.dataset import SPLITS
    from vsa_np.data.vocab import Vocab

    sentences = {s: len(ds.sentences_of(s)[1]) for s in SPLITS}
    vocab = Vocab.build(ds.sentences_of("train")[1], threshold)
    lengths = [len(s["tokens"]) for im in ds.images for s in im["sentences"]]
    if ds.feats is None:
        regions = None
    elif ds.regions_file is None:
        regions = 1
    else:
        regions = int(ds.region_feats.shape[1])
    return {"images": {s: int(len(ds.split_indices(s))) for s in SPLITS},
            "sentences": sentences,
            "vocab": {"words": len(vocab.words), "size": len(vocab)},
            "feature_dim": ds.feature_dim,
            "regions_per_image": regions,
            "caption_length": {"mean": round(sum(lengths) / len(lengths), 4),
                               "max": max(lengths)}}


def format_summary(ds, info: dict, threshold: int) -> str:
    def split_line(d):
        return "  ".join(f"{k} {v}" for k, v in d.items())

    if info["feature_dim"] is None:
        feats = "none (captions only; training needs vgg_feats.mat or feats.npy)"
    else:
        feats = f"{info['feature_dim']}-d, from {ds.features_file.name}"
    if info["regions_per_image"] is None:
        regions = "none"
    elif ds.regions_file is None:
        regions = "1 per image (the whole image; no regions.npz)"
    else:
        regions = (f"up to {info['regions_per_image']} per image (mean "
                   f"{ds.n_regions.mean():.2f}), from {ds.regions_file.name}")
    lines = [f"dataset    {ds.name} ({ds.captions_file})",
             f"images     {split_line(info['images'])}",
             f"sentences  {split_line(info['sentences'])}",
             f"vocabulary {info['vocab']['words']} words seen >= {threshold} times in train; "
             f"{info['vocab']['size']} with <end> (START/END, index 0)",
             f"features   {feats}",
             f"regions    {regions}",
             f"captions   {info['caption_length']['mean']:.2f} tokens on average, longest "
             f"{info['caption_length']['max']}"]
    return "\n".join(lines)


def run(args) -> int:
    from vsa_np.data.dataset import load_dataset

    ds = load_dataset(args.path)
    info = summarise(ds, args.threshold)
    print(json.dumps(info, indent=2) if args.json else format_summary(ds, info, args.threshold))
    return 0
