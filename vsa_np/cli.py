"""`vsa-np`: the command line. Each subcommand is a module with

    def add_arguments(parser: argparse.ArgumentParser) -> None
    def run(args: argparse.Namespace) -> int          # the exit code

listed in COMMANDS with its one-line help. Only the module of the command that runs is imported,
so `vsa-np --help` imports no model. Exit codes: 0 success, 1 a check or run failed, 2 bad usage
or bad input (one line on stderr naming the file and the problem, no traceback).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from vsa_np import __version__
from vsa_np.errors import (BackendError, Interrupted, ResourceError, TrainingError,
                           UserError)
from vsa_np.paths import outputs_are_not_inputs

NO_SPACE = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))   # exit 1: not bad input

COMMANDS = [                     # (command, module, one line for --help)
    ("demo", "vsa_np.commands.demo",
     "run the whole paper end to end on the shapes world and write a report"),
    ("gradcheck", "gradcheck.cli",
     "run every gradient check (float64, centered differences) and print a table"),
    ("data-info", "vsa_np.commands.data_info",
     "summarise a dataset folder (Flickr8K layout, or a shapes world)"),
    ("make-shapes", "vsa_np.commands.make_shapes",
     "generate the synthetic shapes world (images, captions, features, alignments)"),
    ("score", "vsa_np.commands.score",
     "BLEU-1..4, METEOR, ROUGE-L and CIDEr-D of hypotheses against references (coco-caption)"),
    ("train-align", "vsa_np.alignment.train",
     "train the alignment model (BRNN + regions, ranking loss; Sec. 3.1)"),
    ("eval-align", "vsa_np.commands.eval_align",
     "retrieval R@K / median rank of an alignment model (Table 1), and alignment accuracy"),
    ("align", "vsa_np.commands.align",
     "align a sentence's words to an image's regions (MRF, Eq. 10-12) and draw Figure 5"),
    ("train-gen", "vsa_np.generator.train",
     "train the multimodal RNN caption generator (RMSprop; Sec. 3.2, 4.3)"),
    ("eval-gen", "vsa_np.commands.eval_gen",
     "perplexity and caption metrics of a generator on a split, with the NN baseline"),
    ("caption", "vsa_np.commands.caption",
     "caption precomputed image features with a trained generator (beam search)"),
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser; the options of command `only` (None: of every command)."""
    parser = argparse.ArgumentParser(
        prog="vsa-np",
        description="Deep Visual-Semantic Alignments (Karpathy & Fei-Fei, CVPR 2015) "
                    "in hand-written NumPy/CuPy.")
    parser.add_argument("--version", action="version", version=f"vsa-np {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_module=module_name)
        if only in (None, name):
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    only = next((a for a in argv if not a.startswith("-")), "")
    try:                   # the commands import the backend, which reads $VSA_NP_DEVICE
        parser = build_parser(only)
    except BackendError as e:
        if not {"-h", "--help"} & set(argv):
            print(f"vsa-np: error: {e}", file=sys.stderr)
            return 2
        os.environ["VSA_NP_DEVICE"] = "cpu"   # a command's --help makes no array: any device
        parser = build_parser(only)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    try:
        outputs_are_not_inputs(args)
        return int(module.run(args) or 0)
    except UserError as e:
        print(f"vsa-np {args.command}: error: {e}", file=sys.stderr)
        return 2
    except TrainingError as e:
        print(f"vsa-np {args.command}: training stopped: {e}", file=sys.stderr)
        return 1
    except ResourceError as e:
        print(f"vsa-np {args.command}: error: {e}", file=sys.stderr)
        return 1
    except Interrupted as e:
        print(f"vsa-np {args.command}: {e}", file=sys.stderr)
        return 130
    except MemoryError:
        print(f"vsa-np {args.command}: error: out of memory", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader closed the pipe (`vsa-np data-info W | head -1`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())   # no error at exit
        return 141           # 128 + SIGPIPE, as a shell reports a command killed by it
    except OSError as e:   # a file the commands' own checks did not foresee (disk full, ...)
        where = f"{e.filename}: " if e.filename else ""
        print(f"vsa-np {args.command}: error: {where}{e.strerror or e}", file=sys.stderr)
        return 1 if e.errno in NO_SPACE else 2
    except KeyboardInterrupt:
        print(f"vsa-np {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
