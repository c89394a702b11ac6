"""`vsa-np make-shapes OUT [--images N] [--seed S]`: generate the shapes world (the project's
default dataset: real pixels, five captions per image, region features and ground-truth
word-region alignments) in the Flickr8K folder layout. See `vsa_np.data.shapes`.

`--family F` writes the same captions with whole-image features of one of the families of
`vsa_np.data.feature_families` instead (fc7-like, class probabilities, z-scored, ...; no pixels,
no regions), to check that training works on features like the ones you have.

`--cnn trained` (the default) computes the features with a CNN trained first, here, on labelled
pictures of its own (`vsa_np.data.trained_cnn`, about 3 minutes on two cores; `--cnn-from FILE`
reuses one, e.g. another world's cnn.npz); `--cnn random` with the fixed random network of
`vsa_np.data.shapes_cnn` (seconds; its whole-image features say poorly what a picture
contains). Either is saved as OUT/cnn.npz, which `vsa-np caption --images` uses to compute
features from new pictures."""
from __future__ import annotations

import argparse
import json

from vsa_np.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vsa_np.data.feature_families import FAMILIES
    from vsa_np.data.shapes import DEFAULT_CNN, DEFAULT_IMAGES

    p.add_argument("out", metavar="OUT", help="folder to write (created if absent)")
    p.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                   help=f"number of images, split 10/12 train, 1/12 val, 1/12 test "
                        f"(default {DEFAULT_IMAGES})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--feature-dim", type=int, default=4096,
                   help="dimension of the CNN's fc7 features (default 4096, as VGG)")
    p.add_argument("--cnn", choices=("trained", "random"),
                   help=f"the network of the features: a CNN trained on labelled pictures of its "
                        f"own, or a fixed random one (default {DEFAULT_CNN})")
    p.add_argument("--cnn-from", metavar="FILE",
                   help="with --cnn trained: reuse this trained network (a cnn.npz, or a world's "
                        "folder) instead of training one")
    p.add_argument("--family", choices=FAMILIES,
                   help="instead of pixels and the CNN: whole-image features of this family, "
                        "computed from each scene's content (feature_families.py; split 60/15/25)")
    p.add_argument("--force", action="store_true",
                   help="write into OUT even when it is not empty (files of the same names are "
                        "replaced; nothing else is touched)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def check_world_options(images: int, seed: int, feature_dim: int) -> None:
    """The ranges make-shapes (and the demo) accept, checked before anything is written."""
    from vsa_np.data.shapes import split_sizes

    split_sizes(images)                        # at least one image per split
    for name, value, low in (("--seed", seed, 0), ("--feature-dim", feature_dim, 1)):
        if value < low:
            raise UserError(f"{name} {value}: must be >= {low}")


def check_family_options(args) -> None:
    """--family computes features from each scene's content: no pixels, so no network."""
    given = [o for o, v in (("--cnn", args.cnn), ("--cnn-from", args.cnn_from)) if v]
    if args.family and given:
        raise UserError(f"{given[0]} has no effect with --family (its features are computed from "
                        f"each scene's content, with no pixels and no network); drop one of them")


def run(args) -> int:
    from vsa_np.data.shapes import DEFAULT_CNN
    from vsa_np.paths import output_folder

    check_world_options(args.images, args.seed, args.feature_dim)
    check_family_options(args)
    args.cnn = args.cnn or DEFAULT_CNN
    if args.cnn_from and args.cnn != "trained":
        raise UserError("--cnn-from goes with --cnn trained")
    output_folder(args.out, "OUT", empty=True, force=args.force)
    if args.family:
        from vsa_np.data.feature_families import make_family_world

        summary = make_family_world(args.out, args.family, args.images, args.seed,
                                    args.feature_dim)
        what = f"{args.family} features of dimension {summary['feature_dim']}"
    else:
        from vsa_np.data.shapes import make_shapes

        summary = make_shapes(args.out, args.images, args.seed, args.feature_dim,
                              progress=not (args.quiet or args.json), cnn=args.cnn,
                              cnn_from=args.cnn_from)
        what = (f"{summary['sentences']} sentences, {summary['bytes'] / 2**20:.1f} MiB in "
                f"{summary['seconds']:.1f} s")
        cnn = summary["cnn"]
        if cnn["kind"] == "random":
            what += "; features by the fixed random CNN"
        elif "from" in cnn:
            what += f"; features by the trained CNN of {cnn['from']}"
        else:
            acc = cnn["held_out_mean_accuracy"]
            what += (f"; features by a CNN trained here ({cnn['seconds']:.0f} s; held-out label "
                     f"accuracy {100 * acc['whole']:.1f}% on whole pictures, "
                     f"{100 * acc['crops']:.1f}% on crops)")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        im = summary["images"]
        print(f"wrote {args.out}: {sum(im.values())} images (train {im['train']}, val "
              f"{im['val']}, test {im['test']}), {what}")
        print(f"next: vsa-np data-info {args.out}")
    return 0
