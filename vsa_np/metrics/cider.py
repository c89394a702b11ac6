"""CIDEr-D (Vedantam, Zitnick & Parikh, CVPR 2015), exactly as coco-caption's cider_scorer does it.

Each sentence becomes, for each n = 1..4, a vector of TF-IDF weights over n-grams:
    g_k = tf_k * (log |I| - log max(1, df_k))
where tf_k is the raw count of n-gram k in the sentence, |I| the number of images evaluated and
df_k the number of images whose references contain n-gram k (document frequencies come from the
references of the evaluated set, as in coco-caption). For hypothesis c_i and reference s_ij:
    CIDEr-D_n(c_i, S_i) = (10 / m_i) * sum_j exp(-(l_c - l_s)^2 / (2 sigma^2))
                          * <min(g(c_i), g(s_ij)), g(s_ij)> / (||g(c_i)|| ||g(s_ij)||)
with sigma = 6, m_i references, the clipping min() (the "-D": a repeated word cannot earn more than
the reference has) and the Gaussian length penalty. coco-caption measures l as the number of
bigrams (words - 1, 0 for an empty or one-word sentence), and so does this file. CIDEr-D of an
image is the mean over n; the corpus score is the mean over images. A hypothesis equal to a
reference whose n-grams are unique to its image scores 10.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from vsa_np.metrics.ngrams import NgramCorpus

SIGMA = 6.0


def cider_d_per_image(corpus: NgramCorpus, sigma: float = SIGMA) -> np.ndarray:
    """(N,) CIDEr-D of each image (the x10 scale)."""
    N = corpus.hyp.shape[0]
    present = sum((slot != 0).astype(np.int64) for slot in corpus.refs)   # (N, G) refs containing k
    df = np.asarray((present > 0).sum(axis=0), dtype=np.float64).ravel()
    idf = sp.diags(np.log(float(N)) - np.log(np.maximum(1.0, df)))
    hyp = corpus.hyp @ idf                                                  # g(c_i), (N, G)
    hyp_norm = np.sqrt(corpus.per_order(hyp.multiply(hyp)))                 # (N, n)
    hyp_bigrams = np.maximum(corpus.hyp_len - 1, 0)

    total = np.zeros((N, corpus.n))
    for s, counts in enumerate(corpus.refs):  # one reference slot at a time, all images at once
        ref = counts @ idf                                                  # g(s_ij)
        ref_norm = np.sqrt(corpus.per_order(ref.multiply(ref)))
        dot = corpus.per_order(hyp.minimum(ref).multiply(ref))              # clipped <., .>
        both = (hyp_norm != 0) & (ref_norm != 0)
        cos = np.where(both, dot / np.where(both, hyp_norm * ref_norm, 1.0), dot)
        delta = (hyp_bigrams - np.maximum(corpus.ref_len[s] - 1, 0)).astype(np.float64)
        penalty = np.e ** (-(delta ** 2) / (2 * sigma ** 2))               # Gaussian length penalty
        total += np.where(corpus.ref_mask[s][:, None], cos * penalty[:, None], 0.0)
    n_refs = corpus.ref_mask.sum(axis=0)
    return total.mean(axis=1) / n_refs * 10.0


def cider_d(corpus: NgramCorpus, sigma: float = SIGMA) -> float:
    """Corpus CIDEr-D: the mean over images (coco-caption's x10 scale, so it can exceed 1)."""
    return float(np.mean(cider_d_per_image(corpus, sigma)))
