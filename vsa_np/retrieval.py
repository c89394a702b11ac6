"""Moved to `vsa_np/alignment/retrieval.py`, beside the alignment model's other evaluation; this
module keeps the old import path working."""
from vsa_np.alignment.retrieval import (KS, recall_metrics, retrieval_metrics, retrieval_ranks,
                                        rsum)

__all__ = ["KS", "recall_metrics", "retrieval_metrics", "retrieval_ranks", "rsum"]
