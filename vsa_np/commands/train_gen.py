"""`vsa-np train-gen DATA --out DIR [options]`: train the multimodal RNN generator of Sec. 3.2 (see
`vsa_np.generator.train`). Every field of `GenConfig` is an option; `--resume` continues the run in
DIR (options given then override the saved config). With `--from-alignments ALIGN_CKPT --beta B`
it trains on the (region, snippet) pairs of that alignment model's MRF (Sec. 4.3)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "train the multimodal RNN caption generator (RMSprop; Sec. 3.2, 4.3)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from vsa_np.commands._trainer import add_trainer_arguments
    from vsa_np.generator.train import GenConfig

    add_trainer_arguments(p, GenConfig, "dataset folder with features (Flickr8K layout, "
                          "e.g. a shapes world from `vsa-np make-shapes`)")


def run(args) -> int:
    from vsa_np.generator.train import GenConfig, train_generator
    from vsa_np.commands._trainer import trainer_config

    cfg, say = trainer_config(args, GenConfig)
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
    base = summary.get("baseline_val")
    if val and base and "diversity" in val:
        say(f"nearest-neighbour captions on validation: BLEU-4 {base['BLEU-4']:.4f}, CIDEr-D "
            f"{base['CIDEr-D']:.4f}, {100 * base['diversity']['distinct']:.0f}% distinct; the "
            f"last model: {100 * val['diversity']['distinct']:.0f}% distinct "
            f"(vsa-np eval-gen compares the best checkpoint on the test split)")
    written = [str(p) for p in (Path(args.out) / "best.npz", Path(args.out) / "last.npz")
               if p.is_file()]                  # only what is there
    say(f"checkpoints: {', '.join(written) or 'none written'}; "
        f"next: vsa-np eval-gen {args.out}/best {args.data}")
    return 0
