"""The alignment model of Sec. 3.1 (Eq. 1-12): regions and words in one space, scored and
ranked, and the MRF that aligns snippets of text to regions.

    region_embed.py   Eq. 1     regions -> v_i
    brnn.py           Eq. 2-6   words -> s_t (bidirectional RNN)
    packing.py                  ragged sentences as one flat list of words
    score.py          Eq. 7-8   image-sentence scores from word-region dot products
    ranking_loss.py   Eq. 9     bidirectional max-margin loss
    model.py                    AlignmentModel: params, loss(batch) -> (loss, grads)
"""
from vsa_np.alignment.model import AlignmentModel, init_params

__all__ = ["AlignmentModel", "init_params"]
