"""Caption metrics written from scratch, equal to coco-caption's (the `pycocoevalcap` package) on
the same tokens: BLEU-1..4, METEOR (through the official jar), ROUGE-L and CIDEr-D, the scores of
the paper's Tables 2 and 3 (Sec. 4.2).

    from vsa_np.metrics import score_all
    score_all({"img1": ["a dog runs", "the dog is running"]}, {"img1": "a dog running"})
    -> {"BLEU-1": ..., "BLEU-2": ..., "BLEU-3": ..., "BLEU-4": ..., "METEOR": ... or None,
        "ROUGE-L": ..., "CIDEr-D": ...}        (fractions, as coco-caption returns them)

A sentence is a list of tokens or a string of tokens separated by white space; `raw_text=True`
runs strings through the evaluation tokeniser (`vsa_np.data.tokenize`, the one the models are trained on) first.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from vsa_np.errors import DataError
from vsa_np.metrics.bleu import corpus_bleu
from vsa_np.metrics.cider import cider_d
from vsa_np.metrics.meteor import meteor_score
from vsa_np.metrics.ngrams import build_corpus
from vsa_np.metrics.rouge import rouge_l
from vsa_np.data.tokenize import tokenize

KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")


def _sentence(s, raw_text: bool, text_only: bool, where: str) -> list[str]:
    if isinstance(s, str):
        return tokenize(s) if raw_text else s.split()
    if not text_only and isinstance(s, (list, tuple)) and all(isinstance(w, str) for w in s):
        return list(s)
    wanted = "a string" if text_only else "a string or a list of word strings"
    raise DataError(f"{where}: expected {wanted}, got {type(s).__name__}")


def prepare(refs, hyps, raw_text: bool = False, text_only: bool = False,
            refs_name: str = "references", hyps_name: str = "hypotheses"):
    """Check and tokenise the inputs -> (ids, refs as N lists of token lists, hyps as N token
    lists). refs and hyps are both mappings id -> ... (the same ids) or both sequences of the same
    length; each reference entry is a non-empty list of sentences, each hypothesis one sentence
    (a string, or a list of tokens unless text_only). Problems raise DataError naming refs_name
    and hyps_name (file names, in the CLI)."""
    for value, name in ((refs, refs_name), (hyps, hyps_name)):
        if not isinstance(value, (Mapping, Sequence)) or isinstance(value, str):
            raise DataError(f"{name}: expected a mapping from ids to sentences, "
                            f"got {type(value).__name__}")
        if len(value) == 0:
            raise DataError(f"{name}: empty, there is nothing to score")
    if isinstance(refs, Mapping) != isinstance(hyps, Mapping):
        raise DataError(f"{refs_name} and {hyps_name}: one maps ids to sentences, "
                        f"the other is a list")
    if isinstance(refs, Mapping):
        ids = list(refs)
        if set(ids) != set(hyps):
            only_r = sorted(map(str, set(ids) - set(hyps)))
            only_h = sorted(map(str, set(hyps) - set(ids)))
            raise DataError(
                f"{refs_name} and {hyps_name} have different ids: {len(only_r)} only in "
                f"{refs_name} {only_r[:3]}, {len(only_h)} only in {hyps_name} {only_h[:3]}")
        ref_list, hyp_list = [refs[k] for k in ids], [hyps[k] for k in ids]
    else:
        if len(refs) != len(hyps):
            raise DataError(f"{refs_name} has {len(refs)} entries but {hyps_name} has {len(hyps)}")
        ids, ref_list, hyp_list = list(range(len(refs))), list(refs), list(hyps)

    out_refs, out_hyps = [], []
    for k, r, h in zip(ids, ref_list, hyp_list):
        if not isinstance(r, (list, tuple)) or len(r) == 0:
            raise DataError(f"{refs_name}: id {k!r} must map to a non-empty list of reference "
                            f"sentences, got {'an empty list' if r == [] else type(r).__name__}")
        out_refs.append([_sentence(s, raw_text, text_only, f"{refs_name}: id {k!r}") for s in r])
        out_hyps.append(_sentence(h, raw_text, text_only, f"{hyps_name}: id {k!r}"))
    return ids, out_refs, out_hyps


def score_all(refs, hyps, *, raw_text: bool = False, use_meteor: bool = True) -> dict:
    """All the metrics of coco-caption as fractions; METEOR is None when unavailable (no Java or
    no pycocoevalcap) or when use_meteor is False. See `prepare` for the input forms."""
    _, refs, hyps = prepare(refs, hyps, raw_text)
    corpus = build_corpus(refs, hyps, n=4)
    b = corpus_bleu(corpus)
    return {"BLEU-1": b[0], "BLEU-2": b[1], "BLEU-3": b[2], "BLEU-4": b[3],
            "METEOR": meteor_score(refs, hyps) if use_meteor else None,
            "ROUGE-L": rouge_l(refs, hyps), "CIDEr-D": cider_d(corpus)}
