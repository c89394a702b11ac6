"""Trainer configs: one plain dataclass of defaults per trainer, overridable from the command line,
saved in every checkpoint (nanoGPT style).

    @dataclass
    class AlignConfig:
        hidden: int = field(default=1000, metadata={"help": "embedding size h"})
        score: Literal["eq8", "eq7"] = "eq8"
        dropout: bool = True

    add_config_arguments(parser, AlignConfig)   # --hidden INT, --score {eq8,eq7}, --dropout/--no-dropout
    cfg = config_from_args(AlignConfig, args)   # defaults, then the options actually given

Options default to None in argparse, so only the flags a user typed override the base config; on
resume the base is the config saved in the checkpoint (`config_from_args(C, args, base=saved)`).
Field types supported: int, float, str, bool, Literal[...] (choices), Optional[X], tuple[X, ...]
and list[X] (nargs="+").
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing

from vsa_np.errors import DataError, UserError

MAX_LEN = 200        # the longest caption a decoder may be asked for (Flickr8K's longest: 38)


def _default(f: dataclasses.Field):
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def _argparse_kwargs(name: str, t) -> dict:
    """argparse keywords for a field of type t."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType) and type(None) in args:   # Optional[X]
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:
            return _argparse_kwargs(name, rest[0])
    if t is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is typing.Literal:
        return {"choices": list(args), "type": type(args[0])}
    if origin in (tuple, list) and args and args[0] in (int, float, str):
        return {"nargs": "+", "type": args[0]}
    if t in (int, float, str):
        return {"type": t}
    raise TypeError(f"config field {name!r}: type {t!r} cannot be set from the command line")


def add_config_arguments(parser: argparse.ArgumentParser, config_cls, exclude=()):
    """`--field-name` for every field of the dataclass `config_cls` but those in `exclude`, in two
    groups: the paper's hyper-parameters (fields with metadata "paper") first, then the project's
    additions. Fields whose option the command already defines are skipped. -> the groups."""
    hints = typing.get_type_hints(config_cls, include_extras=False)
    groups = {True: parser.add_argument_group("the paper's hyper-parameters (Sec. 3.3)"),
              False: parser.add_argument_group("this project's additions")}
    taken = set(parser._option_string_actions)
    for f in dataclasses.fields(config_cls):
        flags = list(dict.fromkeys([f"--{f.name.replace('_', '-')}", f"--{f.name}"]))
        if f.name in exclude or any(flag in taken for flag in flags):
            continue
        help_text = f.metadata.get("help", "")
        groups[bool(f.metadata.get("paper"))].add_argument(
            *flags, dest=f.name, default=None, help=f"{help_text} (default: {_default(f)!r})",
            **_argparse_kwargs(f.name, hints[f.name]))
    return groups


def config_from_args(config_cls, args: argparse.Namespace, base=None):
    """`base` (default: `config_cls()`) with every field that `args` sets (not None) replaced."""
    cfg = config_cls() if base is None else base
    changes = {}
    for f in dataclasses.fields(config_cls):
        value = getattr(args, f.name, None)
        if value is not None:
            changes[f.name] = tuple(value) if isinstance(_default(f), tuple) else value
    return dataclasses.replace(cfg, **changes)


RENAMED = {"log_probs": "feature_map"}   # fields of older checkpoints -> their names now


def config_from_dict(config_cls, d: dict, source: str = "config"):
    """Rebuild a config saved as a dict (checkpoint JSON). Fields missing from `d` take their
    defaults (configs may grow); unknown keys are an error naming `source`."""
    names = {f.name: f for f in dataclasses.fields(config_cls)}
    d = {RENAMED.get(k, k): v for k, v in d.items()}
    unknown = sorted(set(d) - set(names))
    if unknown:
        raise DataError(f"{source}: unknown {config_cls.__name__} fields {unknown}")
    values = {k: tuple(v) if isinstance(_default(names[k]), tuple) and isinstance(v, list) else v
              for k, v in d.items()}
    try:
        return config_cls(**values)
    except UserError as e:            # a saved value out of range: the file's fault, not a flag's
        raise DataError(f"{source}: saved {config_cls.__name__}: {e}") from None
    except Exception as e:            # noqa: BLE001 (a value of a type no check foresaw)
        raise DataError(f"{source}: saved {config_cls.__name__} is malformed "
                        f"({type(e).__name__}: {e})") from None


def config_changes(old, new) -> dict:
    """{field: (old value, new value)} for the fields that differ between two configs."""
    a, b = dataclasses.asdict(old), dataclasses.asdict(new)
    return {k: (a.get(k), b[k]) for k in b if a.get(k) != b[k]}


def require(ok: bool, field_name: str, problem: str) -> None:
    """Raise a UserError naming the option of `field_name` unless `ok` (for configs'
    `__post_init__`, so the CLI, the demo and the library refuse the same values)."""
    if not ok:
        raise UserError(f"--{field_name.replace('_', '-')}: {problem}")


def positive(value) -> bool:
    """A finite number > 0."""
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def _kind_ok(value, t) -> bool:
    """`value` has config field type `t` (an int is a float; a bool is not a number)."""
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (typing.Union, types.UnionType):
        return any(_kind_ok(value, a) for a in args)
    if t is type(None):
        return value is None
    if origin is typing.Literal:
        return value in args
    if origin in (tuple, list):
        return isinstance(value, (tuple, list)) and all(_kind_ok(v, args[0]) for v in value)
    if t is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, t)


def in_range(value, spec: dict) -> str | None:
    """None when the number `value` is finite and within `spec` ({"min", "max": inclusive,
    "above", "below": exclusive}); else the rule it breaks, in words."""
    if not math.isfinite(value):
        return "must be a finite number"
    for key, ok, words in (("min", lambda v, b: v >= b, ">="), ("max", lambda v, b: v <= b, "<="),
                           ("above", lambda v, b: v > b, ">"), ("below", lambda v, b: v < b, "<")):
        if key in spec and not ok(value, spec[key]):
            return f"must be {words} {spec[key]}"
    return None


def check_fields(cfg) -> None:
    """Every field of the config dataclass `cfg` has its type, every number (also inside a
    tuple) is finite, and within the range its metadata gives ({"min": 0, "below": 1}, ...)."""
    hints = typing.get_type_hints(type(cfg))
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        t = hints[f.name]
        words = _WORDS.get(t) or str(t).replace("typing.", "")
        require(_kind_ok(value, t), f.name, f"must be {words}, got {value!r:.40}")
        numbers = value if isinstance(value, (tuple, list)) else [value]
        for v in numbers:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                problem = in_range(v, f.metadata)
                require(problem is None, f.name, f"{problem}, got {v!r}")


def check_options(args, ranges: dict) -> None:
    """The same rules for a command's own options: ranges = {dest: {"min": ..., ...}}; an
    option left at None is not checked."""
    for dest, spec in ranges.items():
        value = getattr(args, dest, None)
        if value is not None:
            problem = in_range(value, spec)
            require(problem is None, dest, f"{problem}, got {value!r}")


def check_common(cfg) -> None:
    """The ranges the two trainers' configs share (and, first, `check_fields`)."""
    check_fields(cfg)
    for name in ("epochs", "batch_size", "hidden", "word_dim", "word_threshold",
                 "lr_trial_epochs"):
        require(isinstance(getattr(cfg, name), int) and getattr(cfg, name) >= 1, name,
                f"must be a whole number >= 1, got {getattr(cfg, name)!r}")
    require(isinstance(cfg.seed, int) and cfg.seed >= 0, "seed",
            f"must be a whole number >= 0, got {cfg.seed!r}")
    require(positive(cfg.lr), "lr", f"must be a positive number, got {cfg.lr!r}")
    bad = [v for v in cfg.lr_grid if not positive(v)]
    require(not bad, "lr_grid", f"every rate must be a positive number, got {bad}")
    bad = [v for v in cfg.wd_grid if not (v >= 0 and math.isfinite(v))]
    require(not bad, "wd_grid", f"every weight decay must be a number >= 0, got {bad}")
    require(0 <= cfg.dropout < 1, "dropout", f"must be in [0, 1), got {cfg.dropout!r}")
    require(cfg.whiten >= 0, "whiten", f"must be >= 0, got {cfg.whiten!r}")
    require(cfg.weight_decay >= 0 and math.isfinite(cfg.weight_decay), "weight_decay",
            f"must be >= 0, got {cfg.weight_decay!r}")
    require(cfg.grad_clip >= 0 and math.isfinite(cfg.grad_clip), "grad_clip",
            f"must be >= 0 (0: off), got {cfg.grad_clip!r}")
