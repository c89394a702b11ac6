"""vsa-np: a from-scratch NumPy/CuPy implementation of

    A. Karpathy and L. Fei-Fei, "Deep Visual-Semantic Alignments for Generating Image
    Descriptions", CVPR 2015.

Every forward and backward pass is written by hand; `gradcheck/` checks each of them.
Array math goes through `vsa_np.backend.xp` (CuPy on a GPU, NumPy otherwise).
"""
__version__ = "0.1.0"
