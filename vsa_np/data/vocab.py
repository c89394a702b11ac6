"""The word vocabulary (paper, Section 4): words seen at least 5 times in the training split.

Index 0 is ONE special token, written `<end>`, that serves both as START (the input at the first
step of the generator, Eq. 14 with x_1 = START) and as END (the target of the last step), as in
the paper's released code. Its 2,538 Flickr8K words are the 2,537 training words seen >= 5 times
plus this token. There is no UNK: `encode` drops out-of-vocabulary words, as that code does, and
`encode_positions` says which token positions survived (the alignment ground truth of the shapes
world is per token, so callers that score alignments need the positions).

Word order: by decreasing training count, ties alphabetically, so the same captions always give
the same indices.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

import numpy as np

from vsa_np.errors import DataError

# The one special token: its index (what the models and decoders use) and how it is written (in the
# vocabulary's JSON). Fed as input it is START; predicted, it is END. `tokenize` can never make it.
END = 0
END_WORD = "<end>"


class Vocab:
    """`words[i - 1]` is the word with index i; index 0 is `<end>`; `len(vocab)` = words + 1."""

    def __init__(self, words: Sequence[str], counts: Sequence[int] | None = None,
                 threshold: int | None = None):
        self.words = list(words)
        if END_WORD in self.words:
            raise DataError(f"vocabulary: {END_WORD!r} is reserved for index {END} and cannot be "
                            "a word")
        self.index = {w: i + 1 for i, w in enumerate(self.words)}     # END + 1 onwards
        if len(self.index) != len(self.words):
            raise DataError("vocabulary: duplicate words")
        # counts[0] is the number of sentences (each ends once); counts[i] the training count of
        # word i. The generator can start its output bias at log(counts) (neuraltalk does).
        self.counts = np.asarray(counts if counts is not None else [0] * len(self), dtype=np.int64)
        if self.counts.shape != (len(self),):
            raise DataError(f"vocabulary: {self.counts.shape[0]} counts for {len(self)} entries")
        self.threshold = threshold

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], threshold: int = 5) -> "Vocab":
        """Words occurring at least `threshold` times in `token_lists` (the training split)."""
        if threshold < 1:
            raise DataError(f"vocabulary threshold must be >= 1, got {threshold}")
        counter, n_sentences = Counter(), 0
        for tokens in token_lists:
            counter.update(tokens)
            n_sentences += 1
        kept = sorted((w for w, c in counter.items() if c >= threshold),
                      key=lambda w: (-counter[w], w))
        return cls(kept, [n_sentences] + [counter[w] for w in kept], threshold)

    def require_words(self) -> "Vocab":
        """This vocabulary, or a DataError when it has no word: a model with none would train
        on nothing and report success (the trainers call this)."""
        if not self.words:
            raise DataError(f"--word-threshold {self.threshold}: no training word occurs "
                            f"{self.threshold} times or more; the vocabulary would be empty")
        return self

    def __len__(self) -> int:
        return len(self.words) + 1

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Tokens -> indices in 1..V-1; out-of-vocabulary words are dropped (no UNK)."""
        index = self.index
        return [index[w] for w in tokens if w in index]

    def encode_positions(self, tokens: Sequence[str]) -> tuple[list[int], list[int]]:
        """Like `encode`, plus the position in `tokens` of every kept word."""
        pairs = [(self.index[w], t) for t, w in enumerate(tokens) if w in self.index]
        return [i for i, _ in pairs], [t for _, t in pairs]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Indices -> words. Decoding stops at the first END (strip a leading START yourself)."""
        out = []
        for i in ids:
            i = int(i)
            if i == END:
                break
            if not 0 < i < len(self):
                raise IndexError(f"word index {i} outside the vocabulary of size {len(self)}")
            out.append(self.words[i - 1])
        return out

    def to_json(self) -> dict:
        return {"end_token": END_WORD, "threshold": self.threshold, "words": self.words,
                "counts": self.counts.tolist()}

    @classmethod
    def from_json(cls, d: dict) -> "Vocab":
        words, counts = (d.get("words"), d.get("counts")) if isinstance(d, dict) else (None, None)
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise DataError("vocabulary JSON: `words` must be a list of strings")
        if counts is not None and not (isinstance(counts, list) and all(
                isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in counts)):
            raise DataError("vocabulary JSON: `counts` must be a list of whole numbers >= 0")
        threshold = d.get("threshold")
        if threshold is not None and not (isinstance(threshold, int) and threshold >= 1):
            raise DataError(f"vocabulary JSON: `threshold` must be a whole number >= 1, got "
                            f"{str(threshold)[:20]!r}")
        return cls(words, counts, threshold)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocab) and self.words == other.words

    def __repr__(self) -> str:
        return f"Vocab({len(self.words)} words + {END_WORD!r} = {len(self)})"


UNKNOWN_WARN = 0.2        # evaluations warn when more of the words than this are unknown


def unknown_share(vocab: Vocab, token_lists: Iterable[Sequence[str]]) -> float:
    """The share of the tokens of `token_lists` that are not words of `vocab` (0 when none)."""
    total = unknown = 0
    for tokens in token_lists:
        total += len(tokens)
        unknown += sum(t not in vocab.index for t in tokens)
    return unknown / total if total else 0.0
