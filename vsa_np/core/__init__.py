"""The paper, as the code that runs. Each file imports only the array backend and NumPy.

    layers.py      the layers, forward and backward (Eq. 2, 4-5, 14, 15)
    alignment.py   the alignment model: Eq. 1, the BRNN (Eq. 2-6), scores (Eq. 7-8), Eq. 9
    mrf.py         aligning snippets to regions by Viterbi (Eq. 10-12)
    generator.py   the multimodal RNN (Eq. 13-15) and its decoders (greedy, sampling, beam)
    train.py       the optimisers (Sec. 3.3) and the one training loop
    conv.py        convolution and pooling, for the shapes world's CNN (Sec. 3.1.1)
"""
