"""Ragged sentences as one flat list of words.

A batch holds B sentences of different lengths, left-aligned in a (B, T) array with a mask. The
recurrence (Eq. 4-5) needs that padded layout, but nothing else does: the word-wise layers (Eq. 3,
Eq. 6) and the word-region scores (Eq. 7-8) run on the W valid words only, packed row after row.
At Flickr8K's mean of 10.8 words and a batch maximum around 20-25, packing roughly halves those
matrix products. Because the padding is at the end of each row, packing keeps every sentence's
words contiguous and in order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy

from vsa_np.backend import to_device, to_host, xp


@dataclass
class Packed:
    """Where the W valid words of a (B, T) batch are.

    flat: (W,) int, positions in the flattened (B*T) padded layout
    seg:  (W,) int, the sentence (row) of each word, non-decreasing
    mask: (B, T) bool, the word mask
    B, T: the padded shape
    """
    flat: object
    seg: object
    mask: object
    B: int
    T: int

    @property
    def W(self) -> int:
        return int(self.flat.shape[0])


def pack(word_mask) -> Packed:
    """word_mask: (B, T) bool, left-aligned (True then False in every row) -> Packed.

    Computed on the host (the mask is small) and moved to the device once.
    """
    m = numpy.asarray(to_host(word_mask), dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"word_mask must be (B, T), got shape {m.shape}")
    B, T = m.shape
    lengths = m.sum(axis=1)
    if not (m == (numpy.arange(T) < lengths[:, None])).all():
        raise ValueError("word_mask must be left-aligned: padding only at the end of each row")
    flat = numpy.flatnonzero(m.ravel())
    return Packed(to_device(flat), to_device(flat // T), to_device(m), B, T)


def unpack(x, p: Packed):
    """x: (W, H) packed -> (B, T, H) padded with zeros."""
    out = xp.zeros((p.B * p.T, x.shape[1]), dtype=x.dtype)
    out[p.flat] = x
    return out.reshape(p.B, p.T, x.shape[1])


def segment_matrix(seg, n_seg: int, dtype):
    """(W, L) 0/1 matrix with a 1 at (w, seg[w]): M @ it sums the columns of M (N, W) over each
    sentence's words in ONE small matrix product; also correct for a sentence with no words."""
    return (seg[:, None] == xp.arange(n_seg)[None, :]).astype(dtype)
