"""What the two training commands (`train-align`, `train-gen`) share: the same positional DATA,
`--out/--resume/--quiet/--json`, one option per config field, and the config printed at start
(the saved config of the run folder is the base on `--resume`)."""
from __future__ import annotations

import argparse
import dataclasses
import sys

from vsa_np.train_loop import LR_GRID


def add_trainer_arguments(p: argparse.ArgumentParser, config_class, data_help: str) -> None:
    from vsa_np.config import add_config_arguments

    p.add_argument("data", metavar="DATA", help=data_help)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")
    default = next(f.default for f in dataclasses.fields(config_class) if f.name == "lr")
    p.add_argument("--lr", type=_learning_rate, default=None, metavar="LR|auto",
                   help=f"learning rate, or 'auto': short trials of each rate of --lr-grid "
                        f"(default {LR_GRID}), the best on validation wins (default: {default!r})")
    add_config_arguments(p, config_class)


def _learning_rate(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def trainer_config(args, config_class):
    """(config, say): the config from the options (over the saved one on --resume), printed;
    `say` prints to stderr when stdout is reserved for --json."""
    from vsa_np.config import config_from_args
    from vsa_np.errors import UserError
    from vsa_np.paths import output_folder
    from vsa_np.train_loop import resume_config

    output_folder(args.out, "--out")           # before the data are read or anything written
    base = resume_config(args.out, config_class) if args.resume else None
    auto = args.lr == "auto"
    if auto:
        if args.resume:
            raise UserError("--lr auto chooses the rate of a new run; on --resume the run "
                            "keeps the rate it chose (or pass a number)")
        args.lr = None
    cfg = config_from_args(config_class, args, base=base)
    if auto and not cfg.lr_grid:
        cfg = dataclasses.replace(cfg, lr_grid=LR_GRID)
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    if not args.quiet:
        say("config: " + ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(cfg).items()))
    return cfg, say
