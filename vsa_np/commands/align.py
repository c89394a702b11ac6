"""`vsa-np align CKPT DATA --image ID [--sentid N | --sentence "text"] [--beta B] [--out fig.png]
[--json]`: align the words of a sentence to the regions of an image with a trained alignment
model and the chain MRF of Sec. 3.1.4 (Eq. 10-12), and print (or draw) the text snippets and
their regions, as in the paper's Figure 5."""
from __future__ import annotations

import argparse
import json

import numpy

DEFAULT_BETA = 3.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ckpt", metavar="CKPT", help="run folder (its best checkpoint) or a .npz")
    p.add_argument("data", metavar="DATA", help="dataset folder")
    p.add_argument("--image", required=True, metavar="ID",
                   help="the image: its imgid or its file name")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--sentid", type=int, help="align this sentence of the dataset")
    g.add_argument("--sentence", help="align this text (default: the image's first sentence)")
    p.add_argument("--beta", type=float, default=DEFAULT_BETA,
                   help=f"MRF bonus for neighbouring words on the same region; 0 = each word "
                        f"its best region (default {DEFAULT_BETA:g})")
    p.add_argument("--out", metavar="FIG", help="write the figure here (.png, .pdf, .svg)")
    p.add_argument("--json", action="store_true", help="print the alignment as JSON")


def find_image(ds, ident: str) -> int:
    from vsa_np.errors import UserError
    for i, im in enumerate(ds.images):
        if str(im["imgid"]) == ident or im["filename"] == ident:
            return i
    raise UserError(f"{ds.captions_file}: no image with imgid or file name {ident!r}")


def sentence_tokens(ds, i: int, sentid, text) -> list[str]:
    from vsa_np.data import tokenize
    from vsa_np.errors import UserError
    if text is not None:
        return tokenize(text)
    if sentid is None:
        return list(ds.images[i]["sentences"][0]["tokens"])
    for im in ds.images:
        for s in im["sentences"]:
            if s["sentid"] == sentid:
                return list(s["tokens"])
    raise UserError(f"{ds.captions_file}: no sentence with sentid {sentid}")


def run(args) -> int:
    from vsa_np.trained import check_data, load_alignment
    from vsa_np.backend import to_host
    from vsa_np.config import check_options
    from vsa_np.data import load_dataset
    from vsa_np.errors import UserError
    from vsa_np.core.mrf import snippets, viterbi_align
    from vsa_np.paths import FIGURE_SUFFIXES, output_file

    check_options(args, {"beta": {"min": 0}})     # Eq. 12's beta rewards staying in a region
    if args.out:
        output_file(args.out, "--out", FIGURE_SUFFIXES)
    model, vocab, meta = load_alignment(args.ckpt)
    regions = bool(meta.get("config", {}).get("regions", False))
    ds = load_dataset(args.data, regions=True if regions else False)
    check_data(model, meta, ds, args.ckpt)
    i = find_image(ds, args.image)
    all_tokens = sentence_tokens(ds, i, args.sentid, args.sentence)
    ids, kept = vocab.encode_positions(all_tokens)
    if not ids:
        raise UserError(f"none of the words {all_tokens} is in the model's vocabulary")
    tokens = [all_tokens[t] for t in kept]
    n = int(ds.n_regions[i]) if regions else 1
    feats = numpy.asarray(ds.region_feats[i, :n], dtype=numpy.float32)
    scores = numpy.asarray(to_host(model.word_region_scores(feats, ids)), dtype=numpy.float64)
    assignment, objective = viterbi_align(scores, args.beta)                 # the MRF, Eq. 10-12
    boxes = ds.boxes[i, :n].tolist() if (regions and ds.boxes is not None) else None
    out = {"image": ds.images[i]["filename"], "imgid": ds.images[i]["imgid"], "tokens": tokens,
           "dropped": [w for t, w in enumerate(all_tokens) if t not in set(kept)],
           "regions": boxes, "scores": scores.tolist(), "beta": args.beta,
           "assignment": assignment.tolist(), "objective": objective,
           "snippets": snippets(tokens, assignment)}
    if args.out:
        from vsa_np.alignment.figures import plot_alignment
        image = _read_image(ds, i)
        plot_alignment(args.out, tokens, scores, assignment, boxes, image,
                       title=f"{out['image']}  (beta = {args.beta:g})")
        out["figure"] = args.out
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{out['image']}: {' '.join(all_tokens)}")
    for sn in out["snippets"]:
        box = "" if boxes is None else " box " + ",".join(f"{c:g}" for c in boxes[sn["region"]])
        print(f"  region {sn['region']}{box}: {sn['text']}")
    print(f"objective {objective:.4g} (beta {args.beta:g})" +
          (f"; figure {args.out}" if args.out else ""))
    return 0


def _read_image(ds, i):
    """The image's pixels when the dataset folder has them (images/<filename>), else None."""
    path = ds.root / "images" / ds.images[i]["filename"]
    if not path.is_file():
        return None
    from PIL import Image
    return numpy.asarray(Image.open(path).convert("RGB"))
