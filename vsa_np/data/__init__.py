"""Data: datasets in the paper's released layout, the vocabulary, batching, and the synthetic
shapes world. See the module docstrings of `dataset`, `features`, `vocab`, `batching`, `shapes`."""
from vsa_np.data.batching import (EncodedSplit, caption_batch, caption_batches, encode_split,
                                  ranking_batches, ranking_order, region_arrays)
from vsa_np.data.dataset import SPLITS, Dataset, load_dataset
from vsa_np.data.shapes import load_alignments, make_shapes
from vsa_np.data.tokenize import tokenize
from vsa_np.data.vocab import END, END_WORD, Vocab

__all__ = ["Dataset", "load_dataset", "SPLITS", "tokenize", "Vocab", "END", "END_WORD",
           "EncodedSplit", "encode_split", "ranking_batches", "ranking_order", "caption_batches",
           "caption_batch", "region_arrays", "make_shapes", "load_alignments"]
