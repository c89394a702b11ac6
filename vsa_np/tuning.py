"""Choosing a run's settings: the options both training commands share (`add_trainer_arguments`,
`trainer_config`) and the paper's cross-validation of the learning rate (`search_lr`, what
`--lr auto` runs; Sec. 3.3)."""
from __future__ import annotations

import argparse
import dataclasses
import math
import shutil
import sys

from vsa_np.config import add_config_arguments, config_from_args
from vsa_np.errors import TrainingError, UserError
from vsa_np.paths import output_folder
from vsa_np.rundir import open_trials, resume_config


def search_lr(train, data, out, cfg, higher_is_better: bool, log=print) -> tuple:
    """The paper's cross-validation of the learning rate and the weight decay (Sec. 3.3), as
    short trials: train `cfg.lr_trial_epochs` epochs with each pair of `cfg.lr_grid` x
    `cfg.wd_grid` (the config's own decay when that is empty), in a fresh `out/.lr-trials-*`
    folder of its own that is removed however the trials end, keep the pair whose best validation
    value (the trainer's `best_value`) is best, and print the table. A trial that diverges or
    collapses scores worst. -> (chosen lr, chosen weight decay, table [{"lr", "weight_decay",
    "value", "stopped"}])."""

    # held through the trials (refused before minutes of them); the run's RunDir takes it over
    tries = open_trials(out, ".lr-trials-")
    trials = tries.folder
    grid = [(lr, wd) for wd in (cfg.wd_grid or (cfg.weight_decay,)) for lr in cfg.lr_grid]
    log(f"cross-validation: {len(grid)} trials of {cfg.lr_trial_epochs} epoch(s) "
        f"({len(grid) * cfg.lr_trial_epochs} epochs, {len(grid) * cfg.lr_trial_epochs / cfg.epochs:.1f} "
        f"times the {cfg.epochs}-epoch run itself)")
    table = []
    try:
        for lr, wd in grid:
            trial = dataclasses.replace(cfg, lr=lr, weight_decay=wd, epochs=cfg.lr_trial_epochs,
                                        lr_grid=(), wd_grid=())
            try:
                summary = train(data, trials / f"lr={lr:g},wd={wd:g}", trial, quiet=True,
                                log=lambda *a: None)
                value, stopped = summary["best_value"], None
            except TrainingError as e:
                value, stopped = None, str(e).split(";")[0]
            table.append({"lr": lr, "weight_decay": wd, "value": value, "stopped": stopped})
    except BaseException:            # bad input or interrupted: nothing left behind
        shutil.rmtree(trials, ignore_errors=True)
        tries.abandon()
        raise
    shutil.rmtree(trials, ignore_errors=True)
    scored = [r for r in table if r["value"] is not None and math.isfinite(r["value"])]
    if not scored:
        tries.abandon()
        raise TrainingError("every learning rate of the grid diverged or collapsed in its "
                            "trial: " + "; ".join(f"lr {r['lr']:g}, weight decay "
                                                  f"{r['weight_decay']:g}: {r['stopped']}"
                                                  for r in table))
    pick = (max if higher_is_better else min)(scored, key=lambda r: r["value"])
    log(f"trials ({cfg.lr_trial_epochs} epoch(s) each, best validation value):")
    for r in table:
        result = f"{r['value']:.4g}" if r["value"] is not None else f"stopped ({r['stopped']})"
        log(f"  lr {r['lr']:<8g} weight decay {r['weight_decay']:<8g} {result}"
            f"{'   <- chosen' if r is pick else ''}")
    return pick["lr"], pick["weight_decay"], table


LR_GRID = (1e-4, 3e-4, 1e-3)   # the rates `--lr auto` tries,
WD_STEPS = (0.1, 1.0, 10.0)    # each with the weight decay times these


def add_trainer_arguments(p: argparse.ArgumentParser, config_cls, data_help: str) -> None:
    """What both training commands take: DATA, --out/--resume/--quiet/--json, --lr (a number or
    'auto'), and one option per config field."""
    p.add_argument("data", metavar="DATA", help=data_help)
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")
    default = next(f.default for f in dataclasses.fields(config_cls) if f.name == "lr")
    paper = add_config_arguments(p, config_cls, exclude=("lr",))[True]
    paper.add_argument("--lr", type=_learning_rate, default=None, metavar="LR|auto",
                       help=f"learning rate, or 'auto': short trials of each rate of --lr-grid "
                            f"(default {LR_GRID}) with each weight decay of --wd-grid (default: "
                            f"--weight-decay x {WD_STEPS}), the best pair on validation wins "
                            f"(the paper cross-validates both; default: {default!r})")


def _learning_rate(text: str):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'auto', got {text!r}") from None


def trainer_config(args, config_cls):
    """(config, say): the config from the options (over the saved one on --resume), printed;
    `say` prints to stderr when stdout is reserved for --json."""
    output_folder(args.out, "--out")           # before the data are read or anything written
    base = resume_config(args.out, config_cls) if args.resume else None
    auto = args.lr == "auto"
    if auto:
        if args.resume:
            raise UserError("--lr auto chooses the rate of a new run; on --resume the run "
                            "keeps the rate it chose (or pass a number)")
        args.lr = None
    cfg = config_from_args(config_cls, args, base=base)
    if auto and not cfg.lr_grid:
        cfg = dataclasses.replace(cfg, lr_grid=LR_GRID)
    if auto and not cfg.wd_grid:
        cfg = dataclasses.replace(cfg, wd_grid=tuple(cfg.weight_decay * s for s in WD_STEPS))
    say = (lambda *a: print(*a, file=sys.stderr)) if args.json else print
    if not args.quiet:
        say("config: " + ", ".join(f"{k}={v!r}" for k, v in dataclasses.asdict(cfg).items()))
    return cfg, say
