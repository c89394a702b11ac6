"""`vsa-np train-align DATA --out DIR [--regions] [--score eq8|eq7] [--epochs N] [options]`:
train the alignment model of Sec. 3.1 (see `vsa_np.alignment.train`). Every field of
`AlignConfig` is an option; `--resume` continues the run in DIR (options given then override
the saved config)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train the alignment model (BRNN + regions, ranking loss; Sec. 3.1)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vsa_np.commands._trainer import add_trainer_arguments
    from vsa_np.alignment.train import AlignConfig

    add_trainer_arguments(p, AlignConfig, "dataset folder (Flickr8K layout, e.g. a shapes "
                          "world from `vsa-np make-shapes`)")


def run(args) -> int:
    from vsa_np.alignment.train import AlignConfig, train_alignment
    from vsa_np.alignment.baseline import compare_line, retrieval_table
    from vsa_np.commands._trainer import trainer_config

    cfg, say = trainer_config(args, AlignConfig)
    summary = train_alignment(args.data, args.out, cfg, resume=args.resume,
                              quiet=True if args.quiet else None, log=say)
    if args.json:
        print(json.dumps(summary, indent=1))
        return 0
    val = summary["last_val"] or {}
    say(f"{summary['steps']} steps in {summary['train_time']:.1f} s; best validation R@K sum "
        f"{summary['best_rsum']} at step {summary['best_step']}")
    for d in ("annotation", "search"):
        if d in val:
            m = val[d]
            say(f"last val {d:<10} R@1 {m['R@1']:.1f}  R@5 {m['R@5']:.1f}  "
                f"R@10 {m['R@10']:.1f}  med r {m['med_r']:g}")
    if summary["best_val"]:
        say("best checkpoint against the bag-of-words baseline, validation split:")
        say(retrieval_table({"model": summary["best_val"],
                             "bag-of-words": summary["baseline_val"]}))
        say(compare_line(summary["best_val"], summary["baseline_val"]))
    written = [str(p) for p in (Path(args.out) / "best.npz", Path(args.out) / "last.npz")
               if p.is_file()]                  # only what is there
    say(f"checkpoints: {', '.join(written) or 'none written'}; "
        f"next: vsa-np eval-align {args.out} {args.data}")
    return 0
