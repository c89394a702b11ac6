"""Output paths, checked before any work starts: a command that will write a folder or a file
says so at once, in one line naming the option and the path, instead of failing with a Python
traceback after minutes of training (or leaving a half-written folder behind).

    output_folder(args.out, "--out")                  # a folder to create or write into
    output_folder(args.out, "OUT", empty=True)        # ... that must not hold anything yet
    output_file(args.html, "--html", (".html",))      # a file to create or replace

Each returns the path (a `Path`) or raises `UserError` (exit code 2 from the CLI)."""
from __future__ import annotations

import os
from pathlib import Path

from vsa_np.errors import UserError

HTML_SUFFIXES = (".html", ".htm")
FIGURE_SUFFIXES = (".png", ".pdf", ".svg")


def _writable_ancestor(p: Path, option: str) -> None:
    """The nearest existing ancestor of `p` must be a writable folder (what creating p needs)."""
    a = p.parent
    while not a.exists() and a != a.parent:
        a = a.parent
    if not a.is_dir():
        raise UserError(f"{option} {p}: {a} is a file, not a folder")
    if not os.access(a, os.W_OK | os.X_OK):
        raise UserError(f"{option} {p}: cannot write in {a} (permission denied)")


def output_folder(path, option: str, empty: bool = False, force: bool = False) -> Path:
    """A folder the command will create (parents too) or write into.

    empty: the folder must be absent or empty (data sets: nothing a user had may be mixed or
    overwritten), unless `force`."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise UserError(f"{option} {p}: is a file, not a folder")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise UserError(f"{option} {p}: cannot write in this folder (permission denied)")
        if empty and not force and any(p.iterdir()):
            raise UserError(f"{option} {p}: the folder is not empty; choose a new folder, or "
                            f"pass --force to replace the files this command writes there "
                            f"(nothing else is touched)")
    else:
        _writable_ancestor(p, option)
    return p


def output_file(path, option: str, suffixes: tuple = ()) -> Path:
    """A file the command will create or replace. `suffixes` (lower case, with the dot): the
    types it can write; another suffix is refused."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"{option} {p}: is a folder; give a file name")
    if suffixes and p.suffix.lower() not in suffixes:
        raise UserError(f"{option} {p}: cannot write a {p.suffix or 'suffix-less'} file "
                        f"(use {', '.join(suffixes)})")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{option} {p}: cannot replace this file (permission denied)")
    _writable_ancestor(p, option)
    return p


# What the commands read and what they write, by option name (`vsa_np.cli` checks every command).
INPUT_OPTIONS = ("ckpt", "data", "path", "features", "tasks", "images", "cnn", "cnn_from", "refs",
                 "hyps", "word_vectors", "from_alignments")
OUTPUT_OPTIONS = ("out", "html")


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def outputs_are_not_inputs(args) -> None:
    """UserError when an output of a command (`--out`, `--html`, OUT) is one of its inputs (the
    same file or folder, a link to it included): writing it would replace what is read."""
    inputs = {name: getattr(args, name) for name in INPUT_OPTIONS
              if isinstance(getattr(args, name, None), str)}
    for out_name in OUTPUT_OPTIONS:
        out = getattr(args, out_name, None)
        if not isinstance(out, str):
            continue
        for name, value in inputs.items():
            if _same(Path(out), Path(value)) or Path(out).resolve() == Path(value).resolve():
                raise UserError(f"{out}: this command would write its output there, and it "
                                f"is also what it reads ({name.replace('_', '-').upper()}); "
                                f"choose another path")
