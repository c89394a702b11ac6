"""Image regions into the multimodal space, Eq. 1 of the paper (Sec. 3.1.1):

    v = W_m [CNN(I_b)] + b_m            W_m: D x h (stored input-major, as x @ W)

All B*R regions of a batch go through ONE matrix product (B*R, D) x (D, h); at the paper's scale
(B = 100, R = 20, D = 4096, h = 1000) that is 16 GFLOP, the largest single piece of a training
step. The backward pass computes only dW_m and db_m: the CNN features are inputs, not
parameters, so the (B*R, D) input gradient (another 16 GFLOP) is never formed. That is why this
layer has its own backward instead of `affine_backward`.

Dropout (Sec. 3.3, "dropout in all layers except the recurrent ones") is applied to the CNN
features on their way in.

Centring. CNN features after a ReLU are all >= 0 with a large common mean (fc7 and the shapes
world's "fc7" alike), so the gradient dW_m = x^T dv has one huge common direction and plain SGD
needs a tiny learning rate for W_m that starves the rest of the model. Subtracting a fixed mean
feature mu (computed once on the training regions, saved with the model) gives

    v = W_m [CNN(I_b) - mu] + b_m  =  W_m CNN(I_b) + (b_m - W_m mu)

the same family of functions as Eq. 1 (only b_m is reparametrised), much better conditioned.
`mean=None` is Eq. 1 on the raw features.

Whitening (`white`, whitening.py) goes one step further for the same reason: a fixed invertible
Z after the centring, v = W_m Z (x - mu) + b_m, so that every direction of the features has about
the same variance and SGD learns the weak ones (shape, size) as fast as the strong (colour).
Dropout acts on the whitened features: dropped before Z, the noise of the large entries would be
spread into the weak directions and amplified there (on the shapes world that takes the MRF's
object-word accuracy from 97% down to 82%).
"""
from vsa_np.alignment.whitening import whiten
from vsa_np.layers import dropout_forward


def region_embed_forward(regions, W, b, p_drop=0.0, train=False, rng=None, mean=None,
                         white=None):
    """regions: (N, R, D)   W: (D, H)   b: (H,)   mean: (D,) or None   white: (basis (D, k),
    scale (k,), rest) or None   ->   v: (N, R, H), cache.

    (Here H is the multimodal size h.) Padded regions are embedded like the others; the score
    layer keeps them out of every max and sum with the region mask.
    """
    N, R, D = regions.shape
    x = regions.reshape(N * R, D)
    if mean is not None:
        x = x - mean
    if white is not None:
        x = whiten(x if mean is not None else x.copy(), *white)
    x, _ = dropout_forward(x, p_drop, train, rng)  # the dropped input is all backward needs
    v = x @ W + b  # Eq. 1
    return v.reshape(N, R, -1), x


def region_embed_backward(dv, cache):
    """dv: (N, R, H) -> dW (D, H), db (H,). (No gradient for the CNN features.)"""
    x = cache
    dv = dv.reshape(x.shape[0], -1)
    return x.T @ dv, dv.sum(axis=0)
