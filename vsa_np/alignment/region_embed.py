"""Image regions into the multimodal space, Eq. 1 of the paper (Sec. 3.1.1):

    v = W_m [CNN(I_b)] + b_m            W_m: D x h (stored input-major, as x @ W)

All B*R regions of a batch go through ONE matrix product (B*R, D) x (D, h); at the paper's scale
(B = 100, R = 20, D = 4096, h = 1000) that is 16 GFLOP, the largest single piece of a training
step. The backward pass computes only dW_m and db_m: the CNN features are inputs, not
parameters, so the (B*R, D) input gradient (another 16 GFLOP) is never formed. That is why this
layer has its own backward instead of `affine_backward`.

Dropout (Sec. 3.3, "dropout in all layers except the recurrent ones") is applied to the CNN
features on their way in.

Normalisation. Before Eq. 1 the features go through the fixed map of `vsa_np.feature_norm`
(`norm`): centred, and scaled (or whitened) to unit variance, fitted on the training features and
saved with the model. It is an invertible linear change of coordinates, so the model is still
Eq. 1 on the raw features (with W_m' = Z W_m and a shifted b_m); it is there so that SGD and the
initial scale see features of the same size whatever the CNN (see feature_norm.py).
Dropout acts on the normalised features: dropped before a whitening, the noise of the large
entries would be spread into the weak directions and amplified there (on the shapes world that
takes the MRF's object-word accuracy from 97% down to 82%).
"""
from vsa_np.layers import dropout_forward


def region_embed_forward(regions, W, b, p_drop=0.0, train=False, rng=None, norm=None):
    """regions: (N, R, D)   W: (D, H)   b: (H,)   norm: a `FeatureNorm` (on this device) or
    None   ->   v: (N, R, H), cache.

    (Here H is the multimodal size h.) Padded regions are embedded like the others; the score
    layer keeps them out of every max and sum with the region mask.
    """
    N, R, D = regions.shape
    x = regions.reshape(N * R, D)
    if norm is not None:
        x = norm(x)
    x, _ = dropout_forward(x, p_drop, train, rng)  # the dropped input is all backward needs
    v = x @ W + b  # Eq. 1
    return v.reshape(N, R, -1), x


def region_embed_backward(dv, cache):
    """dv: (N, R, H) -> dW (D, H), db (H,). (No gradient for the CNN features.)"""
    x = cache
    dv = dv.reshape(x.shape[0], -1)
    return x.T @ dv, dv.sum(axis=0)
