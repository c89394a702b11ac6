"""One epoch of generator training at the paper's scale, on the CPU or GPU (run by hand).

Flickr8K's 30,000 real training captions (../shared/data/flickr8k/), its 2,538-word vocabulary
(words seen >= 5 times, plus START/END), random 4096-d "fc7" features (the real ones are not
shipped), hidden 512, batch 100: 300 RMSprop steps of `vsa_np.core.train.train_step`, the
trainer's own step. Prints the wall time of the epoch and the median step; then, with the model
just trained (a language model of Flickr8K, so captions of realistic lengths), the time of a
beam search (beam 7) over `--decode` images of random features (issue 7's target: 1000 images
in under 10 s on two cores).

    OPENBLAS_NUM_THREADS=2 python bench/gen_epoch.py [--steps N] [--decode 1000] [--json]
        [--cell rnn|lstm] [--image-every-step]     (the LSTM: the demo's generator)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "flickr8k"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DEFAULT_DATA), help="Flickr8K folder")
    p.add_argument("--steps", type=int, default=0, help="stop after N steps (0: a whole epoch)")
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--word-dim", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--cell", choices=("rnn", "lstm"), default="rnn")
    p.add_argument("--image-every-step", action="store_true")
    p.add_argument("--decode", type=int, default=1000, help="images to beam-search (0: none)")
    p.add_argument("--beam", type=int, default=7)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)

    sys.path.insert(0, str(REPO))
    from vsa_np.backend import device_name, synchronize
    from vsa_np.data import Vocab, caption_batch, encode_split, load_dataset
    from vsa_np.core.generator import CaptionModel, beam_search
    from vsa_np.core.train import RMSProp, epoch_order, train_step
    from vsa_np.generator.train import GenConfig

    ds = load_dataset(args.data)
    ds.feats = np.random.default_rng(0).standard_normal((len(ds), 4096), dtype=np.float32)
    vocab = Vocab.build(ds.sentences_of("train")[1], 5)
    enc = encode_split(ds, vocab, "train")
    cfg = GenConfig(hidden=args.hidden, word_dim=args.word_dim, batch_size=args.batch_size,
                    lr=3e-4, dropout=0.5, cell=args.cell, image_every_step=args.image_every_step)
    model = CaptionModel(len(vocab), 4096, hidden=cfg.hidden, word_dim=cfg.word_dim,
                         dropout=cfg.dropout, word_counts=vocab.counts, cell=cfg.cell,
                         image_every_step=cfg.image_every_step)
    opt = RMSProp(cfg.lr, decay=cfg.decay)
    S, B = len(enc.lengths), cfg.batch_size
    n = math.ceil(S / B) if args.steps <= 0 else args.steps
    order = epoch_order(S, 0, 0)
    times, losses = [], []
    t_epoch = time.perf_counter()
    for b in range(n):
        batch = caption_batch(ds, enc, order[(b * B) % S:][:B])
        t = time.perf_counter()
        losses.append(float(train_step(model, opt, batch, cfg, seed=b)))
        synchronize()
        times.append(time.perf_counter() - t)
    wall = time.perf_counter() - t_epoch
    out = {"device": device_name, "threads": os.environ.get("OPENBLAS_NUM_THREADS"),
           "cell": cfg.cell, "image_every_step": cfg.image_every_step,
           "sentences": S, "vocab": len(vocab), "hidden": cfg.hidden, "word_dim": cfg.word_dim,
           "batch": B, "steps": n, "epoch_s" if args.steps <= 0 else "wall_s": round(wall, 2),
           "step_ms_median": round(1000 * float(np.median(times)), 1),
           "loss_first": round(losses[0], 3), "loss_last": round(losses[-1], 3)}
    if args.decode > 0:
        feats = np.random.default_rng(1).standard_normal((args.decode, 4096), dtype=np.float32)
        t = time.perf_counter()
        caps = beam_search(model, feats, beam=args.beam, max_len=40)
        synchronize()
        out.update({"decode_images": args.decode, "beam": args.beam,
                    "decode_s": round(time.perf_counter() - t, 2),
                    "mean_caption_words": round(float(np.mean([len(c[0]) for c in caps.tokens])),
                                                2)})
    print(json.dumps(out) if args.json else
          "\n".join(f"{k:<16} {v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
