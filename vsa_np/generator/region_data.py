"""Region-level generation, Sec. 4.3: the generator trained on (region, snippet) pairs instead of
(image, sentence) pairs, and its evaluation on region phrases (Table 3).

"We train the Multimodal RNN on the correspondences between regions and snippets of text, as
inferred by the alignment model." The alignment model scores every word against every region of
its image (Eq. 11), the chain MRF (Eq. 10-12) gives each word a region with a bonus beta for
neighbours on the same region, and every maximal run of words on one region is a snippet: one
training pair (the region's CNN feature, the snippet as a sentence).

The assignments can also come from the shapes world's ground truth (`alignments.json`), which
gives the oracle pairs (an upper bound, and a test that needs no alignment model), and the same
ground truth gives the held-out references of Table 3: every phrase that names region r, and r
alone, in any sentence of its image is a reference for r; the region model captions r's feature,
and so does the full-frame model (trained on whole images) for the comparison. A phrase is a run
of words whose `region_sets` entry is exactly [r]: count and plural phrases ("four shapes", "two
blue squares") name several regions (their `regions` entry is only the first member), so they
describe no single region and are left out. These phrases come from the shapes world's grammar,
not from people: the paper's Table 3 references were 9,000 phrases written by hand on MSCOCO.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsa_np.alignment.alignment_eval import split_word_region_scores
from vsa_np.trained import check_data, load_alignment
from vsa_np.core.mrf import viterbi_align_batch
from vsa_np.data import EncodedSplit
from vsa_np.data.shapes import load_alignments
from vsa_np.errors import DataError
from vsa_np.generator.evaluate import caption_features, nearest_neighbours, perplexity, score

TRUTH = "truth"   # --from-alignments truth: the shapes world's alignments.json (an oracle)


def runs(assignment) -> list[tuple[int, int, int]]:
    """Maximal runs of equal values, skipping -1: [(value, start, end)] with end exclusive."""
    out, start = [], 0
    a = list(assignment)
    for j in range(1, len(a) + 1):
        if j == len(a) or a[j] != a[start]:
            if a[start] >= 0:
                out.append((int(a[start]), start, j))
            start = j
    return out


@dataclass
class RegionPairs:
    """P (region, snippet) pairs, shaped for `vsa_np.data.caption_batch(pairs, pairs.enc, s)`:
    `feats` (P, D) the regions' features, `enc` the snippets as an encoded split whose img_idx
    is arange(P) (row p of feats), `image` and `region` (P,) where each pair comes from, and
    `snippets` the snippets' tokens (out-of-vocabulary words included)."""
    feats: np.ndarray
    image: np.ndarray
    region: np.ndarray
    enc: object
    snippets: list

    def __len__(self):
        return len(self.image)


def make_pairs(ds, vocab, images, regions, snippets) -> RegionPairs:
    """Pairs from parallel lists: image index, region index, snippet token list."""
    if not snippets:
        raise DataError(f"{ds.root}: no (region, snippet) pairs (no aligned words)")
    if ds.region_feats is None:
        raise DataError(f"{ds.root}: region features (regions.npz) are needed for region pairs")
    image, region = np.asarray(images, np.int64), np.asarray(regions, np.int64)
    encoded = [vocab.encode(s) for s in snippets]
    lengths = np.array([len(e) for e in encoded], dtype=np.int64)
    words = np.zeros((len(encoded), max(1, int(lengths.max()))), dtype=np.int64)
    for p, e in enumerate(encoded):
        words[p, :len(e)] = e
    feats = np.asarray(ds.region_feats[image, region], dtype=np.float32)
    P = len(image)
    enc = EncodedSplit(np.arange(P), np.arange(P), words, lengths)
    return RegionPairs(feats, image, region, enc, [list(t) for t in snippets])


def single_regions(rec) -> list[int]:
    """Per token of an alignments.json record, the one region it names, or -1 for a token that
    names none or several (`region_sets` of another length than 1; records without region_sets
    fall back to `regions`)."""
    sets = rec.get("region_sets")
    if sets is None:
        return list(rec["regions"])
    return [int(s[0]) if len(s) == 1 else -1 for s in sets]


def ground_truth_phrases(ds, split: str, alignments: dict) -> dict:
    """{(image, region): [phrase token lists]} from alignments.json: the runs of tokens naming one
    object region (region >= 1), and only it, in every sentence of the split's images."""
    out: dict = {}
    img_idx, token_lists, sentids = ds.sentences_of(split)
    for i, tokens, sid in zip(img_idx, token_lists, sentids):
        rec = alignments.get(int(sid))
        if rec is None or len(rec["regions"]) != len(tokens):
            raise DataError(f"{ds.root}/alignments.json: no record matching sentence {int(sid)}")
        for r, s, e in runs(single_regions(rec)):
            if r >= 1:
                out.setdefault((int(i), r), []).append(list(tokens[s:e]))
    return out


def ground_truth_pairs(ds, vocab, split: str, alignments: dict) -> RegionPairs:
    """The oracle pairs: every ground-truth phrase with its region."""
    phrases = ground_truth_phrases(ds, split, alignments)
    keys = [k for k, ps in phrases.items() for _ in ps]
    return make_pairs(ds, vocab, [k[0] for k in keys], [k[1] for k in keys],
                      [p for ps in phrases.values() for p in ps])


def mrf_pairs(align_ckpt, ds, vocab, split: str, beta: float) -> RegionPairs:
    """Sec. 4.3: the snippets of the MRF alignments (Eq. 10-12, bonus beta) that the alignment
    model in `align_ckpt` infers on every sentence of `split`."""
    amodel, avocab, ameta = load_alignment(align_ckpt)
    check_data(amodel, ameta, ds, align_ckpt)
    scores, wmask, rmask, positions, sentids, images = split_word_region_scores(
        amodel, ds, avocab, split)
    assignment, _ = viterbi_align_batch(scores, beta, wmask, rmask)
    _, token_lists, _ = ds.sentences_of(split)
    img_out, reg_out, snip_out = [], [], []
    for a, pos, tokens, img in zip(assignment, positions, token_lists, images):
        n = int((pos >= 0).sum())
        for r, s, e in runs(a[:n]):
            img_out.append(int(img))
            reg_out.append(r)
            snip_out.append([tokens[p] for p in pos[s:e]])
    return make_pairs(ds, vocab, img_out, reg_out, snip_out)


def region_training_data(ds, vocab, cfg):
    """(train (source, enc), validate) for `train_generator` with cfg.from_alignments: the MRF
    pairs of the train split (or, with the value "truth", the ground-truth pairs); validation:
    perplexity of the val split's pairs, and the metrics of the captions of its regions against
    their snippets."""
    if cfg.from_alignments == TRUTH:           # the oracle: the world's own alignments
        alignments = load_alignments(ds.root, ds)
        train, val = (ground_truth_pairs(ds, vocab, split, alignments)
                      for split in ("train", "val"))
    else:
        train, val = (mrf_pairs(cfg.from_alignments, ds, vocab, split, cfg.beta)
                      for split in ("train", "val"))
    refs = {}
    for p, (i, r) in enumerate(zip(val.image, val.region)):
        refs.setdefault((int(i), int(r)), []).append(val.snippets[p])

    def validate(model):
        out = perplexity(model, val, val.enc)
        out.update(caption_regions({"model": (model, vocab)}, ds, refs, cfg.eval_beam,
                                   cfg.max_len, cfg.meteor, cfg.eval_images)["model"])
        return out

    return (train, train.enc), validate


def caption_regions(models: dict, ds, refs: dict, beam: int, max_len: int, meteor: bool,
                    max_regions: int = 0) -> dict:
    """Score each model's captions of the regions in `refs` ({(image, region): [token lists]})
    -> {name: {metrics..., "captions": {"image:region": caption}}}."""
    keys = list(refs)[:max_regions] if max_regions > 0 else list(refs)
    img = np.array([k[0] for k in keys], dtype=np.int64)
    reg = np.array([k[1] for k in keys], dtype=np.int64)
    feats = np.asarray(ds.region_feats[img, reg], dtype=np.float32)
    names = [f"{i}:{r}" for i, r in keys]
    references = {n: refs[k] for n, k in zip(names, keys)}
    out = {}
    for name, (model, vocab) in models.items():
        words, logprob = caption_features(model, vocab, feats, beam, max_len)
        hyps = {n: w[0] for n, w in zip(names, words)}
        out[name] = score(references, hyps, meteor)
        out[name]["captions"] = {n: " ".join(h) for n, h in hyps.items()}
        out[name]["logprobs"] = {n: lp[0] for n, lp in zip(names, logprob)}
    return out


def evaluate_regions(models: dict, ds, split: str = "test", beam: int = 7, max_len: int = 40,
                     meteor: bool = True, max_regions: int = 0) -> dict:
    """Table 3 on the shapes world: every model captions the object regions of the split, scored
    against the ground-truth phrases of alignments.json; beside them the nearest-neighbour
    baseline: the first ground-truth phrase of the closest training region (L2 of the region
    features). That baseline copies a TRUE phrase of a training region (from the world's grammar),
    which the region model (trained on MRF snippets) never sees: an oracle-data baseline, stronger
    than the paper's, whose nearest neighbour could only copy what its data held."""
    if ds.region_feats is None:
        raise DataError(f"{ds.root}: region features (regions.npz) are needed for --regions")
    alignments = load_alignments(ds.root, ds)
    refs = ground_truth_phrases(ds, split, alignments)
    out = caption_regions(models, ds, refs, beam, max_len, meteor, max_regions)
    keys = list(refs)[:max_regions] if max_regions > 0 else list(refs)
    train = ground_truth_phrases(ds, "train", alignments)
    tkeys = list(train)
    tfeats = ds.region_feats[[k[0] for k in tkeys], [k[1] for k in tkeys]]
    nn = nearest_neighbours(ds.region_feats[[k[0] for k in keys], [k[1] for k in keys]], tfeats)
    hyps = {f"{i}:{r}": train[tkeys[j]][0] for (i, r), j in zip(keys, nn)}
    out["nearest_neighbour"] = score({f"{i}:{r}": refs[(i, r)] for i, r in keys}, hyps, meteor)
    out["nearest_neighbour"]["captions"] = {k: " ".join(h) for k, h in hyps.items()}
    return out
