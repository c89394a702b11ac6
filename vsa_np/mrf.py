"""Moved to `vsa_np/alignment/mrf.py`, beside the rest of the alignment model (Sec. 3.1.4); this
module keeps the old import path working."""
from vsa_np.alignment.mrf import alignment_objective, snippets, viterbi_align, viterbi_align_batch

__all__ = ["alignment_objective", "snippets", "viterbi_align", "viterbi_align_batch"]
