"""Gradient checks for the alignment model (Sec. 3.1): its pieces and the whole model, for both
scores (Eq. 8 and Eq. 7), in float64 with dropout off.

Kinks. The model has ReLUs (Eq. 3-6), a max over regions (Eq. 8), positive parts (Eq. 7) and
hinges (Eq. 9); a centered difference across any of them is wrong. `naive_forward` recomputes
the model with plain loops and returns every such quantity; a check uses the first random draw
whose distance to the nearest kink is over 1e-3 (the perturbation is 1e-5). The same loop
implementation is the reference the tests compare the fast, batched code against.
"""
import numpy as np

from gradcheck.registry import compare, compare_model, register
from vsa_np.backend import to_host, xp
from vsa_np.core.alignment import (AlignmentModel, brnn_backward, brnn_forward, ranking_loss,
                                   region_embed_backward, region_embed_forward, score_backward,
                                   score_forward)
from vsa_np.feature_norm import FeatureNorm

F64 = np.float64
CLEAR = 1e-3
SIZES = dict(vocab_size=11, image_dim=7, word_dim=5, hidden=6, embed=6)


def random_norm(g, D, k=2):
    """A feature normalisation of the form of feature_norm.py: a random mean, a random
    orthonormal basis (D, k), random scales."""
    U = np.linalg.qr(g.standard_normal((D, k)))[0]
    return FeatureNorm(g.standard_normal(D), U, 0.5 + g.random(k), 0.5 + g.random())


def naive_forward(params, batch, kind="eq8", margin=1.0, norm=None):
    """The model as nested loops over images, regions, sentences and words (host, float64).

    -> dict: S (N, L), loss (Eq. 9 per pair), and the kink quantities: `pre` (every ReLU input),
    `gaps` (Eq. 8: best minus second-best region score of each word and image), `dots` (Eq. 7:
    every v_i . s_t), `hinges` (every margin of Eq. 9, l != k).
    """
    P = {k: np.asarray(to_host(v), dtype=F64) for k, v in params.items()}
    regions, rmask = np.asarray(batch["regions"], F64), batch.get("region_mask")
    if norm is not None:                        # x' = Z (x - mu), Z symmetric
        if norm.mean is not None:
            regions = regions - np.asarray(to_host(norm.mean), F64)
        regions = regions @ norm.dense()
    words, wmask = np.asarray(batch["words"]), np.asarray(batch["word_mask"])
    N, R, _ = regions.shape
    rmask = np.ones((N, R), bool) if rmask is None else np.asarray(rmask)
    relu = lambda z: max(z, 0.0)  # noqa: E731
    pre = []

    def f(z):                      # ReLU on a vector, remembering its inputs
        pre.extend(z.tolist())
        return np.array([relu(x) for x in z])

    sents = []
    for l in range(words.shape[0]):
        ids = [int(w) for w, m in zip(words[l], wmask[l]) if m]
        n = len(ids)
        e = [f(P["W_w"][w] @ P["W_e"] + P["b_e"]) for w in ids]                       # Eq. 2-3
        hf, hb = [None] * n, [None] * n
        prev = np.zeros_like(P["b_f"])
        for t in range(n):                                                              # Eq. 4
            prev = hf[t] = f(e[t] + prev @ P["W_f"] + P["b_f"])
        prev = np.zeros_like(P["b_b"])
        for t in reversed(range(n)):                                                    # Eq. 5
            prev = hb[t] = f(e[t] + prev @ P["W_b"] + P["b_b"])
        sents.append([f((hf[t] + hb[t]) @ P["W_d"] + P["b_d"]) for t in range(n)])     # Eq. 6
    S = np.zeros((N, len(sents)))
    gaps, dots = [], []
    for k in range(N):
        v = [regions[k, i] @ P["W_m"] + P["b_m"] for i in range(R) if rmask[k, i]]    # Eq. 1
        for l, s in enumerate(sents):
            for st in s:
                d = sorted((vi @ st for vi in v), reverse=True)
                dots.extend(d)
                if len(d) > 1:
                    gaps.append(d[0] - d[1])
                S[k, l] += d[0] if kind == "eq8" else sum(relu(x) for x in d)        # Eq. 8 / 7
    loss, hinges = 0.0, []
    for k in range(N):                                                                  # Eq. 9
        for l in range(N):
            if l != k:
                hinges += [S[k, l] - S[k, k] + margin, S[l, k] - S[k, k] + margin]
                loss += relu(hinges[-2]) + relu(hinges[-1])
    return {"S": S, "loss": loss / N, "pre": np.array(pre), "gaps": np.array(gaps),
            "dots": np.array(dots), "hinges": np.array(hinges)}


def kink_distance(ref, kind) -> float:
    """How far the point is from the nearest kink of the loss."""
    parts = [np.abs(ref["pre"]), np.abs(ref["hinges"])]
    parts.append(ref["gaps"] if kind == "eq8" else np.abs(ref["dots"]))
    return float(min(p.min() for p in parts if p.size))


def random_batch(g, B=4, R=3, T=5, lengths=(5, 3, 1, 4), n_regions=(3, 2, 3, 1), sizes=SIZES):
    """A small ranking batch with ragged sentences and ragged region counts."""
    lengths, n_regions = np.asarray(lengths[:B]), np.asarray(n_regions[:B])
    return {"regions": g.standard_normal((B, R, sizes["image_dim"])),
            "region_mask": np.arange(R) < n_regions[:, None],
            "words": g.integers(0, sizes["vocab_size"], (B, T)),
            "word_mask": np.arange(T) < lengths[:, None],
            "image_idx": np.arange(B), "sent_idx": np.arange(B)}


def clear_model_and_batch(kind, seed=0, **batch_kw):
    """The first (model, batch) from seed on whose loss is clear of every kink."""
    for s in range(seed, seed + 200):
        g = np.random.default_rng(s)
        model = AlignmentModel(**SIZES, score=kind, seed=s, dtype=F64,
                               norm=random_norm(g, SIZES["image_dim"]))
        for name, p in model.params.items():
            if p.ndim == 1:  # zero biases put ReLU inputs exactly at 0 where e_t = 0
                p[...] = xp.asarray(0.5 + 0.5 * g.standard_normal(p.shape))
        batch = random_batch(g, **batch_kw)
        if kink_distance(naive_forward(model.params, batch, kind, norm=model.norm),
                         kind) > CLEAR:
            return model, batch
    raise RuntimeError(f"no kink-free draw for {kind} in 200 seeds")


def _model_check(name, kind, **batch_kw):
    model, batch = clear_model_and_batch(kind, **batch_kw)
    return compare_model(name, model, batch, tol=1e-6, max_checks=40)


@register("align_model_eq8")
def check_model_eq8():
    return _model_check("align_model_eq8", "eq8")


@register("align_model_eq7")
def check_model_eq7():
    return _model_check("align_model_eq7", "eq7")


@register("align_model_1region")
def check_model_one_region():
    return _model_check("align_model_1region", "eq8", R=1, n_regions=(1, 1, 1, 1))


def _check_score(name, kind):
    for seed in range(100, 300):
        g = np.random.default_rng(seed)
        v, s = xp.asarray(g.standard_normal((3, 4, 5))), xp.asarray(g.standard_normal((7, 5)))
        mask = np.array([[1, 1, 1, 1], [1, 0, 0, 0], [1, 1, 1, 0]], bool)
        seg = xp.asarray([0, 0, 0, 1, 2, 2, 2])
        Q = to_host(s @ v.reshape(12, 5).T).reshape(7, 3, 4)
        top = np.sort(np.where(mask[None], Q, -np.inf), axis=2)
        if kind == "eq8" and np.nanmin(top[:, [0, 2], -1] - top[:, [0, 2], -2]) > CLEAR:
            break
        if kind == "eq7" and np.abs(Q).min() > CLEAR:
            break
    S, cache = score_forward(v, mask, s, seg, 3, kind)
    dS = xp.asarray(g.standard_normal(S.shape))
    dv, ds = score_backward(dS, cache)
    f = lambda: score_forward(v, mask, s, seg, 3, kind)[0]  # noqa: E731
    return [compare(name, "v", f, v, dv, df=dS), compare(name, "s", f, s, ds, df=dS)]


@register("align_score_eq8")
def check_score_eq8():
    return _check_score("align_score_eq8", "eq8")


@register("align_score_eq7")
def check_score_eq7():
    return _check_score("align_score_eq7", "eq7")


@register("align_ranking_loss")
def check_ranking_loss():
    for seed in range(300, 500):
        S = xp.asarray(np.random.default_rng(seed).standard_normal((5, 5)))
        d = np.diag(to_host(S))
        if min(np.abs(to_host(S) - d[:, None] + 1).min(),
               np.abs(to_host(S) - d[None, :] + 1).min()) > CLEAR:
            break
    _, dS = ranking_loss(S)
    return [compare("align_ranking_loss", "S", lambda: ranking_loss(S)[0], S, dS)]


@register("align_region_embed")
def check_region_embed():
    g = np.random.default_rng(500)
    x, W, b = (xp.asarray(g.standard_normal(s)) for s in ((3, 4, 6), (6, 5), (5,)))
    norm = random_norm(g, 6).to(F64)
    out, cache = region_embed_forward(x, W, b, norm=norm)
    dv = xp.asarray(g.standard_normal(out.shape))
    dW, db = region_embed_backward(dv, cache)
    f = lambda: region_embed_forward(x, W, b, norm=norm)[0]  # noqa: E731
    return [compare("align_region_embed", "W_m", f, W, dW, df=dv),
            compare("align_region_embed", "b_m", f, b, db, df=dv)]


@register("align_brnn")
def check_brnn():
    model, batch = clear_model_and_batch("eq8", seed=600)
    P = model.params
    lengths = batch["word_mask"].sum(axis=1)
    s, _, cache = brnn_forward(batch["words"], lengths, P)
    ds = xp.asarray(np.random.default_rng(600).standard_normal(s.shape))
    grads = brnn_backward(ds, cache)
    f = lambda: brnn_forward(batch["words"], lengths, P)[0]  # noqa: E731
    return [compare("align_brnn", k, f, P[k], grads[k], df=ds, max_checks=40)
            for k in sorted(grads)]


ALIGNMENT_CHECKS = ["align_model_eq8", "align_model_eq7", "align_model_1region",
                    "align_score_eq8", "align_score_eq7", "align_ranking_loss",
                    "align_region_embed", "align_brnn"]
