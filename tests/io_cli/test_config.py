"""Dataclass configs from the command line and from checkpoint JSON."""
import argparse
import dataclasses
from typing import Literal, Optional

import pytest

from vsa_np.config import (add_config_arguments, config_changes, config_from_args,
                           config_from_dict)
from vsa_np.errors import DataError


@dataclasses.dataclass
class Cfg:
    hidden: int = dataclasses.field(default=1000, metadata={"help": "embedding size h"})
    lr: float = 1e-3
    score: Literal["eq8", "eq7"] = "eq8"
    dropout: bool = True
    word_vectors: Optional[str] = None
    ks: tuple[int, ...] = (1, 5, 10)
    epochs: int = 15


def parser_for(cls=Cfg, **kw):
    p = argparse.ArgumentParser()
    p.add_argument("data")
    add_config_arguments(p, cls, **kw)
    return p


def test_defaults_are_kept_when_nothing_is_given():
    args = parser_for().parse_args(["DATA"])
    assert config_from_args(Cfg, args) == Cfg()


def test_overrides_with_types():
    args = parser_for().parse_args(
        ["DATA", "--hidden", "64", "--lr=0.5", "--score", "eq7", "--no-dropout",
         "--word-vectors", "glove.txt", "--ks", "1", "3"])
    cfg = config_from_args(Cfg, args)
    assert cfg == Cfg(hidden=64, lr=0.5, score="eq7", dropout=False, word_vectors="glove.txt",
                      ks=(1, 3))
    assert type(cfg.lr) is float and type(cfg.ks) is tuple
    # the underscore spelling works too, and a base config is overridden only where given
    args = parser_for().parse_args(["DATA", "--word_vectors", "w.txt"])
    base = Cfg(hidden=8)
    assert config_from_args(Cfg, args, base=base) == Cfg(hidden=8, word_vectors="w.txt")


def test_bad_values_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as e:
        parser_for().parse_args(["DATA", "--score", "eq9"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        parser_for().parse_args(["DATA", "--hidden", "many"])
    assert "invalid int value" in capsys.readouterr().err


def test_help_shows_defaults_and_existing_options_win():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=None, help="the command's own help")
    add_config_arguments(p, Cfg, exclude=["lr"])
    text = p.format_help()
    assert "embedding size h (default: 1000)" in text
    assert "the command's own help" in text
    assert text.count("--epochs") == 2          # the usage line and the one option
    assert "--lr" not in text
    assert config_from_args(Cfg, p.parse_args(["--epochs", "2"])).epochs == 2


def test_unsupported_type():
    @dataclasses.dataclass
    class Bad:
        table: dict = dataclasses.field(default_factory=dict)
    with pytest.raises(TypeError, match="table"):
        add_config_arguments(argparse.ArgumentParser(), Bad)


def test_from_dict_and_changes():
    d = dataclasses.asdict(Cfg(hidden=7))
    d["ks"] = list(d["ks"])                 # as JSON gives it back
    assert config_from_dict(Cfg, d) == Cfg(hidden=7)
    assert config_from_dict(Cfg, {"lr": 0.1}) == Cfg(lr=0.1)     # missing fields: defaults
    with pytest.raises(DataError, match=r"ckpt\.json: unknown Cfg fields \['colour'\]"):
        config_from_dict(Cfg, {"colour": "red"}, source="ckpt.json")
    assert config_changes(Cfg(), Cfg(lr=0.5, hidden=3)) == {"hidden": (1000, 3), "lr": (1e-3, 0.5)}
