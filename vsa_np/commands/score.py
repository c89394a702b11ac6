"""`vsa-np score REFS.json HYPS.json`: coco-caption's caption metrics for a set of captions.

REFS.json maps each id to a list of reference strings, HYPS.json maps the same ids to one
hypothesis string. The strings go through the evaluation tokeniser (lowercase, punctuation
stripped: the models' own tokens) unless --pretokenized says they are already tokens separated by
spaces. Prints BLEU-1..4, METEOR (when Java and pycocoevalcap are present), ROUGE-L and CIDEr-D.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from vsa_np.errors import DataError



def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("refs", metavar="REFS.json",
                        help='references: {"id": ["a reference", "another", ...], ...}')
    parser.add_argument("hyps", metavar="HYPS.json", help='hypotheses: {"id": "a caption", ...}')
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (scores as fractions, METEOR null if absent)")
    parser.add_argument("--pretokenized", action="store_true",
                        help="the strings are already tokenised: split them on spaces only")
    parser.add_argument("--no-meteor", action="store_true",
                        help="skip METEOR (it starts Java, which takes several seconds)")


def read_json(path: str):
    """The parsed JSON of `path`; a missing or unreadable file or bad JSON raises DataError."""
    from vsa_np.safe_read import load_json

    if Path(path).is_dir():
        raise DataError(f"{path}: is a folder, not a JSON file")
    return load_json(path, "JSON file")


def run(args: argparse.Namespace) -> int:
    from vsa_np.metrics import KEYS, prepare, score_all
    from vsa_np.metrics.meteor import unavailable_reason

    refs, hyps = read_json(args.refs), read_json(args.hyps)
    for data, name in ((refs, args.refs), (hyps, args.hyps)):
        if not isinstance(data, dict):
            raise DataError(f"{name}: expected a JSON object mapping ids to captions, "
                            f"got a JSON {type(data).__name__}")
    ids, refs, hyps = prepare(refs, hyps, raw_text=not args.pretokenized, text_only=True,
                              refs_name=args.refs, hyps_name=args.hyps)
    empty = [k for k, r in zip(ids, refs) if not any(r)]
    if empty:
        raise DataError(f"{args.refs}: {len(empty)} of {len(ids)} ids have only empty reference "
                        f"sentences (first: {str(empty[0])[:40]!r}); there is nothing to score "
                        f"them against")
    scores = score_all(refs, hyps, use_meteor=not args.no_meteor)
    if args.json:
        print(json.dumps(scores))
        return 0
    why = ("skipped (--no-meteor)" if args.no_meteor
           else f"absent: {unavailable_reason() or 'the jar failed'}")
    print(f"{len(hyps)} captions")
    for key in KEYS:
        value = scores[key]
        print(f"{key:<8} {value:.4f}" if value is not None else f"{key:<8} {why}")
    return 0
