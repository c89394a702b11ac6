"""`vsa-np demo [--out DIR] [--quick]`: the whole paper on the shapes world, with no download:
make the data, train and evaluate the alignment model, align with the MRF, train the generator
on full images and on region snippets, caption with beam search, and write a report."""
from __future__ import annotations

import json



def add_arguments(p) -> None:
    p.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--quick", action="store_true",
                   help="a smaller world and fewer epochs (about 2 minutes on 2 cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and the models")
    p.add_argument("--cnn", choices=("trained", "random"),
                   help="the network of the image features (make-shapes --cnn; default: the "
                        "demo's, see DemoConfig)")
    p.add_argument("--cnn-from", metavar="FILE",
                   help="with --cnn trained: reuse this network (a cnn.npz) instead of training")
    p.add_argument("--force", action="store_true",
                   help="reuse a non-empty --out: the files of a previous demo there are "
                        "removed first (nothing else is touched)")
    p.add_argument("--json", action="store_true", help="print the results as JSON at the end")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    from vsa_np.demo import run_demo

    cnn = {k: v for k, v in (("cnn", args.cnn), ("cnn_from", args.cnn_from)) if v}
    res = run_demo(args.out, quick=args.quick, quiet=True if args.quiet else None,
                   seed=args.seed, force=args.force, **cnn)
    if args.json:
        print(json.dumps(res, indent=1, default=float))
    return 0
