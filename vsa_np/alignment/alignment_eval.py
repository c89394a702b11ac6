"""Scoring text-region alignments against ground truth (the shapes world's alignments.json).

The paper can only show its alignments (Figure 5): Flickr8K has no word-region ground truth.
The shapes world does: every token that names an object (its size, colour and shape words, the
count of a plural phrase) lists the regions it may align to. A word is aligned correctly when
the region the decoder gives it is one of those. Accuracy is over such object words, for

    the naive arg-max    each word its best region (the MRF with beta = 0)
    the MRF (Eq. 10-12)  Viterbi with a bonus beta for neighbours on the same region

with beta chosen on the validation split and reported on the test split.

Which regions a word may take. The truth names object boxes; region 0 is the whole picture
(the paper keeps it among the 20 regions, Sec. 3.1.1), which contains every object and names
none of them. With features from a CNN trained to say what a picture contains, the whole
picture's vector matches every object word about as well as the object's own box does, and Eq. 8
has no reason to prefer the box (both are in the matching image). So a word decoded onto region
0 is "somewhere in this picture": not wrong, and not an answer to "which box". The report scores
the decoding over the boxes (`whole_image=False`, the headline figure) and, beside it, over all
regions as in the paper, with the share of object words that the whole picture takes there.

All sentences of a split are decoded together: word-region scores v_i . s_t for every word of
every sentence against the regions of its own image (blocks of words, one batched product), then
`vsa_np.alignment.mrf.viterbi_align_batch` over the padded (L, T, R) score tensor.
"""
from __future__ import annotations

import numpy

from vsa_np.alignment.evaluate import embed_split
from vsa_np.core.mrf import viterbi_align_batch
from vsa_np.backend import to_host, xp
from vsa_np.data import encode_split
from vsa_np.errors import DataError

BETAS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0, 50.0)   # the grid searched on val
WORD_BLOCK = 1024


def split_word_region_scores(model, ds, vocab, split: str):
    """-> (scores (L, T, R) float64 with -inf at padded regions, word_mask (L, T), region_mask
    (L, R), positions (L, T) token positions of the kept words (-1 on padding), sentids (L,),
    images (L,) indices into ds.images), for every sentence of `split` (region features)."""
    v, rmask, s, seg, sent_to_image, sentids = embed_split(model, ds, vocab, split, True)
    enc = encode_split(ds, vocab, split)
    L, R = len(sentids), v.shape[1]
    T = max(1, int(enc.lengths.max(initial=0)))
    word_mask = numpy.arange(T) < enc.lengths[:, None]
    img_of_word = xp.asarray(sent_to_image)[seg]                       # (W,)
    flat = numpy.zeros((s.shape[0], R))
    for w0 in range(0, s.shape[0], WORD_BLOCK):                        # v_i . s_t, Eq. 11
        sl = slice(w0, w0 + WORD_BLOCK)
        flat[sl] = to_host(xp.einsum("wrm,wm->wr", v[img_of_word[sl]], s[sl]))
    scores = numpy.full((L, T, R), -numpy.inf)
    scores[word_mask] = flat
    region_mask = rmask[sent_to_image]
    scores[~numpy.broadcast_to(region_mask[:, None, :], scores.shape)] = -numpy.inf
    positions = numpy.full((L, T), -1, dtype=numpy.int64)
    _, token_lists, _ = ds.sentences_of(split)
    for l, tokens in enumerate(token_lists):                           # host bookkeeping only
        _, pos = vocab.encode_positions(tokens)
        positions[l, :len(pos)] = pos
    return scores, word_mask, region_mask, positions, sentids, ds.split_indices(split)[
        sent_to_image]


def gold_sets(alignments: dict, sentids, positions, where: str):
    """(L, T) list-of-lists of acceptable regions for each kept word ([] = not an object word)."""
    out = []
    for sid, pos in zip(sentids, positions):
        rec = alignments.get(int(sid))
        if rec is None:
            raise DataError(f"{where}: no alignment record for sentence {int(sid)}")
        sets = rec["region_sets"]
        out.append([sets[p] if p >= 0 else [] for p in pos])
    return out


def alignment_accuracy(assignment, gold) -> tuple[float, int]:
    """(% of object words whose assigned region is acceptable, number of object words)."""
    hits = total = 0
    for a_row, g_row in zip(assignment, gold):
        for a, g in zip(a_row, g_row):
            if g:
                total += 1
                hits += int(a) in g
    return (100.0 * hits / total if total else float("nan")), total


def boxes_only(region_mask):
    """The region mask without region 0 (the whole picture) wherever an image has other
    regions: the candidates of "which box does this word name"."""
    rm = numpy.array(region_mask, dtype=bool)
    rm[:, 0] &= ~rm[:, 1:].any(axis=1)
    return rm


def whole_image_share(assignment, gold) -> float:
    """% of object words decoded onto region 0, the whole picture."""
    on = [int(a) == 0 for a_row, g_row in zip(assignment, gold) for a, g in zip(a_row, g_row) if g]
    return 100.0 * sum(on) / len(on) if on else float("nan")


def _split_truth(model, ds, vocab, alignments: dict, split: str, where: str):
    """The word-region scores of a split and the acceptable regions of its words:
    (scores, word_mask, region_mask, gold)."""
    scores, wmask, rmask, positions, sentids, _ = split_word_region_scores(model, ds, vocab, split)
    return scores, wmask, rmask, gold_sets(alignments, sentids, positions, where)


def _by_beta(scores, wmask, rmask, gold, betas, whole_image: bool) -> dict:
    """Decode at every beta over the boxes (or, `whole_image`, over every region too)."""
    if not whole_image:
        rmask = boxes_only(rmask)
    acc, on_whole, n = {}, {}, 0
    for beta in betas:
        assignment, _ = viterbi_align_batch(scores, beta, wmask, rmask)
        acc[float(beta)], n = alignment_accuracy(assignment, gold)
        on_whole[float(beta)] = whole_image_share(assignment, gold)
    return {"n_words": n, "accuracy": acc, "on_whole_image": on_whole}


def evaluate_alignment(model, ds, vocab, alignments: dict, split: str, betas=BETAS,
                       where: str = "alignments.json", whole_image: bool = False) -> dict:
    """{"n_words": object words, "accuracy": {beta: %}, "on_whole_image": {beta: %}} for every
    beta (0 = naive arg-max); `whole_image`: region 0 is a candidate too (the paper's 20)."""
    return _by_beta(*_split_truth(model, ds, vocab, alignments, split, where), betas, whole_image)


def alignment_report(model, ds, vocab, alignments: dict, betas=BETAS, where="alignments.json"):
    """Beta chosen on val, accuracies on test, decoding over the boxes: {"beta", "val": {...},
    "test": {"argmax", "mrf", "n_words"}, "with_whole_image": the same decoding with region 0
    among the candidates, {"beta", "argmax", "mrf", "on_whole_image": % of object words the
    MRF puts there}} (see the module's docstring). Each split is scored once, decoded both ways."""
    truth = {split: _split_truth(model, ds, vocab, alignments, split, where)
             for split in ("val", "test")}
    out = {}
    for whole in (False, True):
        val = _by_beta(*truth["val"], betas, whole)
        best = max(val["accuracy"], key=lambda b: (val["accuracy"][b], -b))
        test = _by_beta(*truth["test"], (0.0, best), whole)
        out[whole] = {"beta": best, "val": {"accuracy_by_beta": val["accuracy"],
                                            "n_words": val["n_words"]},
                      "test": {"argmax": test["accuracy"][0.0], "mrf": test["accuracy"][best],
                               "n_words": test["n_words"]},
                      "on_whole_image": test["on_whole_image"][best]}
    w = out[True]
    return {**{k: out[False][k] for k in ("beta", "val", "test")},
            "with_whole_image": {"beta": w["beta"], "argmax": w["test"]["argmax"],
                                 "mrf": w["test"]["mrf"], "on_whole_image": w["on_whole_image"]}}
