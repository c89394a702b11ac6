"""Mini-batches for the two models, as dicts of host NumPy arrays (the models move them to the
device).

ranking (alignment model, Eq. 8-9; B pairs of corresponding image k and sentence k):
    regions (B, R, D) float32, region_mask (B, R) bool, words (B, T) int64 (left-aligned word
    indices, 0 as padding), word_mask (B, T) bool, image_idx (B,) (into `ds.images`),
    sent_idx (B,) (the sentences' `sentid`). The B images of a batch are distinct, so the
    off-diagonal pairs of the score matrix S_kl really are mismatched. R and T are the largest in
    the batch.
caption (generator, Eq. 13-15):
    feats (B, D) float32, inputs (B, T) int64 = [0 (START), w_1 .. w_L, pad], targets (B, T)
    int64 = [w_1 .. w_L, 0 (END), pad], mask (B, T) bool (True on the L + 1 real steps),
    image_idx (B,). T = longest sentence in the batch + 1.

Each split is encoded once (one Python pass over its sentences) into a padded index matrix that
is cached on the dataset; every batch after that is a few fancy-indexing operations.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vsa_np.data.vocab import END, Vocab


@dataclass
class EncodedSplit:
    """All sentences of one split as word indices. S sentences, L the longest."""
    img_idx: np.ndarray   # (S,) index into ds.images
    sentids: np.ndarray   # (S,)
    words: np.ndarray     # (S, L) int64, left-aligned, 0-padded
    lengths: np.ndarray   # (S,) words kept (out-of-vocabulary words are dropped)


def encode_split(ds, vocab: Vocab, split: str, max_len: int | None = None) -> EncodedSplit:
    """Encode (and cache on `ds.cache`) the sentences of `split`; `max_len` truncates."""
    key = ("encoded", split, len(vocab), hash(tuple(vocab.words)), max_len)
    if key not in ds.cache:
        img_idx, token_lists, sentids = ds.sentences_of(split)
        encoded = [vocab.encode(t)[:max_len] for t in token_lists]
        lengths = np.array([len(e) for e in encoded], dtype=np.int64)
        words = np.zeros((len(encoded), max(1, lengths.max(initial=0))), dtype=np.int64)
        words[np.arange(words.shape[1]) < lengths[:, None]] = np.concatenate(
            [np.asarray(e, dtype=np.int64) for e in encoded] or [np.zeros(0, np.int64)])
        ds.cache[key] = EncodedSplit(img_idx, sentids, words, lengths)
    return ds.cache[key]


def _generator(rng) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def region_arrays(ds, img_idx: np.ndarray, regions: bool = True):
    """(regions (B, R, D) float32, region_mask (B, R) bool) of the images `img_idx`; R is the
    largest region count among them. regions=False: the whole-image feature only (R = 1)."""
    ds.require_features()
    if not regions or ds.region_feats is None:
        return (np.asarray(ds.feats[img_idx], dtype=np.float32)[:, None, :],
                np.ones((len(img_idx), 1), dtype=bool))
    n = ds.n_regions[img_idx]
    R = int(n.max())
    feats = np.asarray(ds.region_feats[img_idx, :R], dtype=np.float32)
    return feats, np.arange(R) < n[:, None]


def ranking_order(img_idx: np.ndarray, batch_size: int, rng) -> list[np.ndarray]:
    """One epoch of the ranking loss: a list of arrays of sentence positions (into `img_idx`),
    each holding sentences of distinct images, every sentence exactly once.

    Round r takes, for every image, its r-th sentence (in a random per-image order); the rounds
    are shuffled and concatenated. Where a batch straddles two rounds, the next round is
    reordered so that the images already in the batch come after it.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = _generator(rng)
    S = len(img_idx)
    # a random rank of each sentence among the sentences of its image
    perm = rng.permutation(S)
    order = perm[np.argsort(img_idx[perm], kind="stable")]  # grouped by image, random within
    group_start = np.r_[0, np.flatnonzero(np.diff(img_idx[order])) + 1]
    sizes = np.diff(np.r_[group_start, S])
    rank = np.empty(S, dtype=np.int64)
    rank[order] = np.arange(S) - np.repeat(group_start, sizes)
    batches, pending = [], np.zeros(0, dtype=np.int64)
    for r in range(int(rank.max(initial=-1)) + 1):
        this_round = rng.permutation(np.flatnonzero(rank == r))
        if len(pending):
            clash = np.isin(img_idx[this_round], img_idx[pending])
            this_round = np.concatenate([this_round[~clash], this_round[clash]])
            take = min(batch_size - len(pending), int((~clash).sum()))
            batches.append(np.concatenate([pending, this_round[:take]]))
            this_round = this_round[take:]
        full = len(this_round) // batch_size * batch_size
        batches.extend(np.split(this_round[:full], full // batch_size) if full else [])
        pending = this_round[full:]
    if len(pending):
        batches.append(pending)
    return batches


def ranking_batches(ds, vocab: Vocab, split: str, batch_size: int, rng, regions: bool = True):
    """Yield one epoch of ranking batches of `split` (see the module docstring). Sentences with
    no in-vocabulary word have nothing to score and are left out. `rng`: a seed or Generator."""
    enc = encode_split(ds, vocab, split)
    usable = np.flatnonzero(enc.lengths > 0)
    for pos in ranking_order(enc.img_idx[usable], batch_size, rng):
        s = usable[pos]
        img = enc.img_idx[s]
        region_feats, region_mask = region_arrays(ds, img, regions)
        T = int(enc.lengths[s].max())
        yield {"regions": region_feats, "region_mask": region_mask,
               "words": enc.words[s, :T], "word_mask": np.arange(T) < enc.lengths[s][:, None],
               "image_idx": img, "sent_idx": enc.sentids[s]}


def caption_batch(ds, enc: EncodedSplit, s: np.ndarray) -> dict:
    """The caption batch of the sentences at positions `s` of an encoded split."""
    lengths = enc.lengths[s]
    L = int(lengths.max(initial=0))
    words = enc.words[s, :L]
    end = np.full((len(s), 1), END, dtype=np.int64)
    return {"feats": np.asarray(ds.feats[enc.img_idx[s]], dtype=np.float32),
            "inputs": np.hstack([end, words]),      # START (= END, index 0), then the words
            "targets": np.hstack([words, end]),     # the words, then END (padding is 0 too)
            "mask": np.arange(L + 1) <= lengths[:, None],
            "image_idx": enc.img_idx[s]}


def caption_batches(ds, vocab: Vocab, split: str, batch_size: int, rng, shuffle: bool = True,
                    max_len: int | None = None):
    """Yield one epoch of caption batches over every sentence of `split`, shuffled by `rng`
    (a seed or Generator); the last batch may be smaller."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    ds.require_features()
    enc = encode_split(ds, vocab, split, max_len)
    S = len(enc.lengths)
    order = _generator(rng).permutation(S) if shuffle else np.arange(S)
    for start in range(0, S, batch_size):
        yield caption_batch(ds, enc, order[start:start + batch_size])
