"""`vsa-np gradcheck` / `python -m gradcheck`: run every registered gradient check and print a
table (or JSON). Exit code 0 when no row FAILs, 1 otherwise."""
from __future__ import annotations

import argparse
import json
import sys

HELP = "run every gradient check (float64, centered differences) and print a table"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--only", action="append", metavar="NAME",
                   help="run only this check (repeatable); --list shows the names")
    p.add_argument("--list", action="store_true", help="list the registered checks and exit")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")


def format_table(rows) -> str:
    head = f"{'check':<24} {'param':<12} {'shape':<16} {'checked':>7} {'max rel err':>12}  status"
    lines = [head, "-" * len(head)]
    for r in rows:
        shape = "x".join(str(s) for s in r.shape) or "()"
        lines.append(f"{r.check:<24} {r.param:<12} {shape:<16} {r.checked:>7} "
                     f"{r.max_rel_error:>12.2e}  {r.status}")
    counts = {s: sum(r.status == s for r in rows) for s in ("PASS", "TINY", "WARN", "FAIL", "ERROR")}
    lines.append("-" * len(head))
    lines.append(", ".join(f"{n} {s}" for s, n in counts.items()))
    return "\n".join(lines)


def run(args) -> int:
    from gradcheck.checks import load_all
    from gradcheck.registry import CHECKS, run_checks
    from vsa_np.errors import UserError

    if args.list:
        load_all()
        print("\n".join(sorted(CHECKS)))
        return 0
    try:
        rows = run_checks(args.only)
    except KeyError as e:
        raise UserError(e.args[0]) from None
    if args.json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
    else:
        print(format_table(rows))
    return 1 if any(r.status in ("FAIL", "ERROR") for r in rows) else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m gradcheck", description=HELP)
    add_arguments(p)
    from vsa_np.errors import UserError
    try:
        return run(p.parse_args(argv))
    except UserError as e:
        print(f"gradcheck: error: {e}", file=sys.stderr)
        return 2
