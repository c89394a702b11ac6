"""`vsa-np`: the command line. Each subcommand lives in its own module and is imported only
when it runs, so `vsa-np --help` stays fast.

A subcommand module defines

    HELP = "one line for `vsa-np --help`"
    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int          # the exit code

and is listed in COMMANDS below. Exit codes: 0 success, 1 a check or run failed, 2 bad usage or
bad input (a clear message on stderr, no traceback).
"""
from __future__ import annotations

import argparse
import importlib
import sys

from vsa_np.errors import UserError, TrainingError

# (subcommand, module): add a line here when a new subcommand is written.
COMMANDS = [
    ("demo", "vsa_np.commands.demo"),
    ("gradcheck", "gradcheck.cli"),
    ("data-info", "vsa_np.commands.data_info"),
    ("make-shapes", "vsa_np.commands.make_shapes"),
    ("score", "vsa_np.commands.score"),
    ("train-align", "vsa_np.commands.train_align"),
    ("eval-align", "vsa_np.commands.eval_align"),
    ("align", "vsa_np.commands.align"),
    ("train-gen", "vsa_np.commands.train_gen"),
    ("eval-gen", "vsa_np.commands.eval_gen"),
    ("caption", "vsa_np.commands.caption"),
]


def _help_line(module_name: str) -> str:
    try:
        return importlib.import_module(module_name).HELP
    except Exception as e:  # a broken module should not break --help for the others
        return f"(unavailable: {type(e).__name__}: {e})"


def build_parser() -> argparse.ArgumentParser:
    from vsa_np import __version__

    parser = argparse.ArgumentParser(
        prog="vsa-np",
        description="Deep Visual-Semantic Alignments (Karpathy & Fei-Fei, CVPR 2015) "
                    "in hand-written NumPy/CuPy.")
    parser.add_argument("--version", action="version", version=f"vsa-np {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS:
        help_line = _help_line(module_name)
        p = sub.add_parser(name, help=help_line, description=help_line)
        p.set_defaults(_module=module_name)
        try:
            importlib.import_module(module_name).add_arguments(p)
        except Exception:
            pass  # reported when the command itself is run
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        return int(module.run(args) or 0)
    except UserError as e:
        print(f"vsa-np {args.command}: error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"vsa-np {args.command}: training stopped: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"vsa-np {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
