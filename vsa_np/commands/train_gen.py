"""`vsa-np train-gen DATA --out DIR [options]`: train the multimodal RNN generator of Sec. 3.2 (see
`vsa_np.generator.train`). Every field of `GenConfig` is an option; `--resume` continues the run in
DIR (options given then override the saved config). With `--from-alignments ALIGN_CKPT --beta B`
it trains on the (region, snippet) pairs of that alignment model's MRF (Sec. 4.3)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

HELP = "train the multimodal RNN caption generator (RMSprop; Sec. 3.2, 4.3)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vsa_np.config import add_config_arguments
    from vsa_np.generator.train import GenConfig

    p.add_argument("data", metavar="DATA", help="dataset folder with features (Flickr8K layout, "
                                                "e.g. a shapes world from `vsa-np make-shapes`)")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no per-epoch lines")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_config_arguments(p, GenConfig)


def run(args) -> int:
    from vsa_np.config import config_from_args
    from vsa_np.generator.train import GenConfig, train_generator
    from vsa_np.train_loop import resume_config

    base = resume_config(args.out, GenConfig) if args.resume else None
    cfg = config_from_args(GenConfig, args, base=base)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    if not args.quiet:
        say("config: " + ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(cfg).items()))
    summary = train_generator(args.data, args.out, cfg, resume=args.resume,
                              quiet=True if args.quiet else None)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    val = (summary["last"] or {}).get("val", {})
    say(f"{summary['steps']} steps in {summary['train_seconds']:.1f} s; best {summary['best_key']}"
        f" {summary['best']} at step {summary['best_step']}")
    if val:
        say("last validation: " + ", ".join(f"{k} {val[k]:.4f}" for k in
                                           ("perplexity", "BLEU-4", "CIDEr-D") if k in val))
    say(f"checkpoints: {args.out}/best.npz, {args.out}/last.npz; "
        f"next: vsa-np eval-gen {args.out}/best {args.data}")
    return 0
