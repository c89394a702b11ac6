"""Around the alignment model of `vsa_np.core.alignment`: its trainer (`train.py`, the
`train-align` command), retrieval on a split (`evaluate.py`, `retrieval.py`, Table 1), the MRF
alignments against ground truth (`alignment_eval.py`), the linear (ridge / CCA) baseline
(`baseline.py`), figures, and word vectors read from a file."""
