"""The alignment model of Sec. 3.1 (Eq. 1-12): regions and words in one space, scored and
ranked, and the MRF that aligns snippets of text to regions.

    region_embed.py   Eq. 1     regions -> v_i
    brnn.py           Eq. 2-6   words -> s_t (bidirectional RNN)
    packing.py                  ragged sentences as one flat list of words
    score.py          Eq. 7-8   image-sentence scores from word-region dot products
    ranking_loss.py   Eq. 9     bidirectional max-margin loss
    model.py                    AlignmentModel: params, loss(batch) -> (loss, grads)
    mrf.py            Eq. 10-12 the chain MRF that aligns snippets of text to regions (Viterbi)
    train.py                    the trainer (Sec. 3.3)

Its evaluation, all here (the generator's is generator/evaluate.py):

    retrieval.py                Recall@K and median rank from a score matrix
    evaluate.py                 image-sentence retrieval on a split (Table 1)
    alignment_eval.py           MRF alignments against the shapes world's ground truth
    baseline.py                 the bag-of-words ridge baseline beside every retrieval figure
"""
from vsa_np.alignment.model import AlignmentModel, init_params

__all__ = ["AlignmentModel", "init_params"]
