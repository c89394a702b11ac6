"""Pretrained word vectors for W_w (Eq. 2) from a text file.

The paper initialises the 300-d word vectors with word2vec and notes "little change in final
performance" when they are learned from random initialisation, which is the default here. This
reads the plain-text format both word2vec (`-binary 0`) and GloVe write:

    [N D]                       optional header line (word2vec)
    word v_1 v_2 ... v_D        one word per line

Only the vocabulary's words are kept (the file is streamed, not loaded whole); the others keep
their random initialisation. The vectors stay trainable.
"""
from __future__ import annotations

from pathlib import Path

import numpy

from vsa_np.backend import to_device
from vsa_np.errors import DataError


def read_word_vectors(path, words) -> dict:
    """{word: (D,) float32} for the `words` found in the text file `path`."""
    path = Path(path)
    wanted = set(words)
    found, dim = {}, None
    try:
        with open(path, encoding="utf-8", errors="strict") as f:
            for lineno, line in enumerate(f, 1):
                parts = line.rstrip().split(" ")
                if lineno == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                    continue                                      # word2vec header "N D"
                if len(parts) < 2:
                    if line.strip():
                        raise DataError(f"{path}:{lineno}: expected 'word v1 v2 ...'")
                    continue
                if dim is None:
                    dim = len(parts) - 1
                elif len(parts) - 1 != dim:
                    raise DataError(f"{path}:{lineno}: {len(parts) - 1} numbers, the first "
                                    f"vector had {dim}")
                if parts[0] in wanted:
                    try:
                        vector = numpy.array(parts[1:], dtype=numpy.float64)
                    except ValueError:
                        raise DataError(f"{path}:{lineno}: not a number in the vector of "
                                        f"{parts[0]!r}") from None
                    if not (numpy.isfinite(vector).all()
                            and numpy.abs(vector).max() <= numpy.finfo(numpy.float32).max):
                        raise DataError(f"{path}:{lineno}: the vector of {parts[0]!r} has an "
                                        f"entry that is not a finite float32 (nan, inf or too "
                                        f"large)")
                    found[parts[0]] = vector.astype(numpy.float32)
    except FileNotFoundError:
        raise DataError(f"{path}: word vector file not found") from None
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not a UTF-8 text file ({e}); binary word2vec files must be "
                        f"converted to text first") from None
    return found


def load_word_vectors(path, vocab, W) -> int:
    """Copy the vectors of vocabulary words found in `path` into the rows of W (V, E) in place
    (row i = word index i; row 0, the <end> token, is left alone). Returns how many were found."""
    found = read_word_vectors(path, vocab.words)
    if not found:
        return 0
    dim = len(next(iter(found.values())))
    if dim != W.shape[1]:
        raise DataError(f"{path}: vectors have {dim} dimensions, the model's word vectors "
                        f"{W.shape[1]} (set --word-dim {dim})")
    rows = [i for i, w in enumerate(vocab.words, 1) if w in found]
    W[to_device(numpy.array(rows))] = to_device(
        numpy.stack([found[vocab.words[i - 1]] for i in rows]), W.dtype)
    return len(rows)
