"""The generator of Sec. 3.2 (the multimodal RNN) and its tools.

    model.py        CaptionModel: parameters, loss and gradients of Eq. 13-15; load_generator
                    (load.py is its old import path)
    decode.py       greedy, sampling with temperature, beam search (batched over images)
    train.py        GenConfig and the trainer (RMSprop, clipping, dropout, checkpoints)
    evaluate.py     perplexity and caption metrics on a split; the nearest-neighbour baseline
    html.py         an HTML page of images with their captions
    region_data.py  (region, snippet) training pairs from MRF alignments (Sec. 4.3)
"""
from vsa_np.generator.model import CaptionModel

__all__ = ["CaptionModel"]
