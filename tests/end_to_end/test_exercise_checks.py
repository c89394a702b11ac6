"""Every exercise's check passes its worked solution and fails the plausible wrong answers.

For each exercise of `lessons/exercises.py`, WRONG lists answers a student could well write: the
mistake the exercise's text warns about (ties broken the other way, no clipping, the shortest
reference, every maximum of a pooling window, ...) and the slips of its derivation (a missing
transpose, a recurrence walked the wrong way, a gradient sent to every region). Each must fail
the check; the worked solution must pass it. No training: the whole file runs in seconds.
"""
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "lessons"), str(REPO)]
import exercises  # noqa: E402  (lessons/exercises.py, after the path above)

sol = exercises.solution


def _with(id, change):
    """The worked solution of `id` with its output passed through change(out, *args)."""
    right = sol(id)
    return lambda *args: change(right(*args), *args)


# ---- the wrong answers, one function each ------------------------------------------------------

def vocab_most_common(token_lists, threshold):
    counts = Counter(w for t in token_lists for w in t)
    return [w for w, c in counts.most_common() if c >= threshold]      # ties: first seen first


def vocab_strict(token_lists, threshold):
    counts = Counter(w for t in token_lists for w in t)
    return sorted((w for w, c in counts.items() if c > threshold), key=lambda w: (-counts[w], w))


def vocab_alphabetical(token_lists, threshold):
    counts = Counter(w for t in token_lists for w in t)
    return sorted(w for w, c in counts.items() if c >= threshold)


def tf_mask_without_end(ids):
    inputs, targets, mask = sol("00.2")(ids)
    for k, sentence in enumerate(ids):
        mask[k, len(sentence)] = False                 # the END step not trained
    return inputs, targets, mask


def tf_unpadded(ids):
    L = max(len(i) for i in ids)
    inputs, targets, mask = sol("00.2")(ids)
    return inputs[:, :L], targets[:, :L], mask[:, :L]


def tf_targets_unshifted(ids):
    inputs, targets, mask = sol("00.2")(ids)
    return inputs, inputs.copy(), mask


def affine_db_one_axis(dout, x, W):
    dx, dW, _ = sol("01.1")(dout, x, W)
    return dx, dW, dout.sum(axis=0)


def affine_dx_no_transpose(dout, x, W):
    dx, dW, db = sol("01.1")(dout, x, W)
    return dout @ np.linalg.pinv(W), dW, db


def rnn_mask_ge(dh, prev_h, Wh, h):
    dz = dh * (h >= 0)                                  # the kink counted as on: every unit
    return dz, dz @ Wh.T, prev_h.T @ dz, dz.sum(axis=0)


def rnn_no_transpose(dh, prev_h, Wh, h):
    dz = dh * (h > 0)
    return dz, dz @ Wh, prev_h.T @ dz, dz.sum(axis=0)


def rnn_no_mask(dh, prev_h, Wh, h):
    return dh, dh @ Wh.T, prev_h.T @ dh, dh.sum(axis=0)


def brnn_backward_direction_left_to_right(words, p):
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    e = relu(p["W_w"][words] @ p["W_e"] + p["b_e"])
    T, H = e.shape
    hf, hb = np.zeros((T, H)), np.zeros((T, H))
    for t in range(T):
        prev_f = hf[t - 1] if t else np.zeros(H)
        prev_b = hb[t - 1] if t else np.zeros(H)       # should read h^b_{t+1}
        hf[t] = relu(e[t] + prev_f @ p["W_f"] + p["b_f"])
        hb[t] = relu(e[t] + prev_b @ p["W_b"] + p["b_b"])
    return relu((hf + hb) @ p["W_d"] + p["b_d"])


def brnn_one_matrix(words, p):
    return sol("02.1")(words, dict(p, W_b=p["W_f"], b_b=p["b_f"]))   # W_f both ways


def word_grad_assign(dx, words, V):
    dW = np.zeros((V, dx.shape[1]))
    dW[words] += dx                                     # a repeated word keeps one gradient
    return dW


def eq8_every_region(dS, v, s, seg):                    # Eq. 7's backward, without the ReLU
    dv, ds = np.zeros_like(v), np.zeros_like(s)
    for k in range(v.shape[0]):
        for t in range(len(s)):
            g = dS[k, seg[t]]
            dv[k] += g * s[t]
            ds[t] += g * v[k].sum(axis=0)
    return dv, ds


def eq8_own_image_only(dS, v, s, seg):
    dv, ds = sol("03.1")(dS, v, s, seg)
    ds = np.zeros_like(s)
    for t in range(len(s)):
        k = seg[t] if seg[t] < v.shape[0] else 0        # the image of the word's own sentence
        best = (s[t] @ v[k].T).argmax()
        ds[t] = dS[k, seg[t]] * v[k, best]
    return dv, ds


def ranking_summed(S):
    loss, dS = sol("03.2")(S)
    return loss * len(S), dS * len(S)


def ranking_rows_only(S, margin=1.0):
    B = len(S)
    d = np.diag(S)
    rows = np.maximum(S - d[:, None] + margin, 0)
    np.fill_diagonal(rows, 0)
    dS = (rows > 0).astype(float)
    dS[np.arange(B), np.arange(B)] = -dS.sum(axis=1)
    return rows.sum() / B, dS / B


def ranking_with_diagonal(S, margin=1.0):
    loss, dS = sol("03.2")(S)
    return loss + 2 * margin, dS                        # the l = k hinges (1 each) left in


def ann_optimistic(S, s2i):
    return np.array([1 + int(np.sum(S[k, s2i != k] > S[k, s2i == k].max()))
                     for k in range(S.shape[0])])


def ann_argsort_stable(S, s2i):
    return np.array([1 + int(np.flatnonzero(s2i[np.argsort(-S[k], kind="stable")] == k)[0])
                     for k in range(S.shape[0])])


def ann_argsort_reversed(S, s2i):
    return np.array([1 + int(np.flatnonzero(s2i[np.argsort(S[k], kind="stable")[::-1]] == k)[0])
                     for k in range(S.shape[0])])


def search_optimistic(S, s2i):
    return np.array([1 + int(np.sum(np.delete(S[:, l], s2i[l]) > S[s2i[l], l]))
                     for l in range(S.shape[1])])


def search_argsort_stable(S, s2i):
    return np.array([1 + int(np.flatnonzero(np.argsort(-S[:, l], kind="stable") == s2i[l])[0])
                     for l in range(S.shape[1])])


def search_argsort_reversed(S, s2i):
    return np.array([1 + int(np.flatnonzero(np.argsort(S[:, l], kind="stable")[::-1]
                                            == s2i[l])[0]) for l in range(S.shape[1])])


def search_counts_itself(S, s2i):
    return np.array([1 + int(np.sum(S[:, l] >= S[s2i[l], l])) for l in range(S.shape[1])])


def viterbi_greedy(S, beta):
    a = S.argmax(axis=1)
    return a, float(S[np.arange(len(a)), a].sum() + beta * np.sum(a[1:] == a[:-1]))


def viterbi_no_beta_in_e(S, beta):
    a, _ = sol("05.1")(S, beta)
    return a, float(S[np.arange(len(a)), a].sum())


def viterbi_sign(S, beta):
    return sol("05.1")(S, -beta)


def energy_on_changes(S, a, beta):
    return float(S[np.arange(len(a)), a].sum() + beta * np.sum(a[1:] != a[:-1]))


def energy_per_run(S, a, beta):
    runs = 1 + int(np.sum(a[1:] != a[:-1]))
    return float(S[np.arange(len(a)), a].sum() + beta * runs)


def softmax_per_step(x, y, mask):
    loss, dx = sol("06.1")(x, y, mask)
    n = mask.sum() / x.shape[0]
    return loss / n, dx / n


def softmax_unmasked(x, y, mask):
    return sol("06.1")(x, y, np.ones_like(mask))


def softmax_unshifted(x, y, mask):
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(x) / np.exp(x).sum(axis=-1, keepdims=True)
        picked = np.take_along_axis(p, y[..., None], axis=-1)[..., 0]
        loss = -(np.log(picked) * mask).sum() / x.shape[0]
        dx = p.copy()
    np.put_along_axis(dx, y[..., None], np.take_along_axis(dx, y[..., None], -1) - 1, -1)
    return loss, dx * mask[..., None] / x.shape[0]


def greedy_image_every_step(model, feat, max_len):
    from vsa_np.backend import to_host, xp
    table, bv = model.input_table(), model.image_bias(xp.asarray(feat[None]))[0]
    a, state, words = table[0] + bv, model.initial_state(1), []
    for _ in range(max_len):
        state, logits = model.step(a[None], state)
        w = int(np.argmax(to_host(logits[0])))
        if w == 0:
            break
        words.append(w)
        a = table[w] + bv
    return words


def greedy_no_image(model, feat, max_len):
    return sol("06.2")(model, 0 * feat, max_len)


def greedy_keeps_end(model, feat, max_len):
    words = sol("06.2")(model, feat, max_len)
    return words + [0] if len(words) < max_len else words


def beam_drops_finished(scores, done, logp, K):
    cand = scores[:, None] + logp
    cand[done] = -np.inf                                # a finished caption leaves the beam
    order = np.argsort(-cand, axis=None, kind="stable")
    order = order[np.isfinite(cand.ravel()[order])][:K]
    if len(order) == 0:                                  # nothing left: keep the old ones
        return np.arange(len(scores)), np.zeros(len(scores), int), scores
    parent, word = np.unravel_index(order, cand.shape)
    return parent, word, cand[parent, word]


def beam_extends_finished(scores, done, logp, K):
    cand = scores[:, None] + logp                        # a finished caption keeps paying
    order = np.argsort(-cand, axis=None, kind="stable")[:K]
    parent, word = np.unravel_index(order, cand.shape)
    return parent, word, cand[parent, word]


def beam_per_parent(scores, done, logp, K):
    cand = scores[:, None] + logp
    cand[done] = -np.inf
    cand[done, 0] = scores[done]
    out = []                                              # each caption's best word, not the
    for j in range(len(scores)):                           # K best of all extensions
        w = int(np.argmax(cand[j]))
        out.append((cand[j, w], j, w))
    out.sort(key=lambda r: -r[0])
    out = out[:K]
    if len(out) < K:                                      # first step: fill from row 0
        for w in np.argsort(-cand[0], kind="stable")[1:K - len(out) + 1]:
            out.append((cand[0, w], 0, int(w)))
    return (np.array([r[1] for r in out]), np.array([r[2] for r in out]),
            np.array([r[0] for r in out]))


def _bleu_with(hyp, refs, clip, ref_len, N=4):
    def ngrams(tokens, n):
        return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))
    p = []
    for n in range(1, N + 1):
        h = ngrams(hyp, n)
        p.append(sum(min(c, clip(g, [ngrams(r, n) for r in refs])) for g, c in h.items())
                 / max(len(hyp) - n + 1, 1))
    c, r = len(hyp), ref_len(len(hyp), [len(x) for x in refs])
    bp = math.exp(1 - r / c) if c < r else 1.0
    return [bp * math.prod(p[:k]) ** (1 / k) for k in range(1, N + 1)]


def _closest(c, lengths):
    return min((abs(x - c), x) for x in lengths)[1]


def bleu_unclipped(hyp, refs):
    return _bleu_with(hyp, refs, lambda g, rs: 10 ** 9 if any(g in r for r in rs) else 0, _closest)


def bleu_clip_sum(hyp, refs):
    return _bleu_with(hyp, refs, lambda g, rs: sum(r[g] for r in rs), _closest)


def bleu_shortest_ref(hyp, refs):
    return _bleu_with(hyp, refs, lambda g, rs: max(r[g] for r in rs), lambda c, ls: min(ls))


def bleu_longer_on_tie(hyp, refs):
    return _bleu_with(hyp, refs, lambda g, rs: max(r[g] for r in rs),
                      lambda c, ls: min((abs(x - c), -x) for x in ls)[1] * -1)


def bleu_no_penalty(hyp, refs):
    return _bleu_with(hyp, refs, lambda g, rs: max(r[g] for r in rs), lambda c, ls: 0)


def _lcs(a, b):
    L = np.zeros((len(a) + 1, len(b) + 1), int)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            L[i, j] = L[i - 1, j - 1] + 1 if a[i - 1] == b[j - 1] else max(L[i - 1, j], L[i, j - 1])
    return int(L[-1, -1])


def _f(P, R, beta=1.2):
    return 0.0 if P == 0 or R == 0 else (1 + beta ** 2) * P * R / (R + beta ** 2 * P)


def rouge_best_f(hyp, refs):
    return max(_f(_lcs(hyp, r) / len(hyp), _lcs(hyp, r) / len(r)) for r in refs)


def rouge_mean_f(hyp, refs):
    return float(np.mean([_f(_lcs(hyp, r) / len(hyp), _lcs(hyp, r) / len(r)) for r in refs]))


def rouge_f1(hyp, refs):
    ls = [_lcs(hyp, r) for r in refs]
    return _f(max(x / len(hyp) for x in ls), max(x / len(r) for x, r in zip(ls, refs)), beta=1.0)


def rouge_swapped(hyp, refs):
    ls = [_lcs(hyp, r) for r in refs]
    return _f(max(x / len(r) for x, r in zip(ls, refs)), max(x / len(hyp) for x in ls))


def runs_keep_minus_one(assignment):
    out, start = [], 0
    for j in range(1, len(assignment) + 1):
        if j == len(assignment) or assignment[j] != assignment[start]:
            out.append((assignment[start], start, j))
            start = j
    return out


def runs_end_inclusive(assignment):
    return [(r, a, b - 1) for r, a, b in sol("08.1")(assignment)]


def runs_across_gaps(assignment):
    kept = [(j, r) for j, r in enumerate(assignment) if r >= 0]
    out = []
    for j, r in kept:
        if out and out[-1][0] == r:
            out[-1] = (r, out[-1][1], j + 1)
        else:
            out.append((r, j, j + 1))
    return out


def nearest_by_dot(query, base):
    return (query @ base.T).argmax(axis=1)


def nearest_wrong_axis(query, base):
    d2 = ((query[:, None, :] - base[None, :, :]) ** 2).sum(axis=-1)
    return d2.argmin(axis=0)[:len(query)]


def conv_flipped(x, w, b, stride, pad):
    return sol("09.1")(x, w[::-1, ::-1], b, stride, pad)


def conv_window_not_strided(x, w, b, stride, pad):
    xpad = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    k = w.shape[0]
    Ho, Wo = (x.shape[1] + 2 * pad - k) // stride + 1, (x.shape[2] + 2 * pad - k) // stride + 1
    out = np.zeros((x.shape[0], Ho, Wo, w.shape[3]))
    for i in range(Ho):
        for j in range(Wo):                              # windows at (i, j), not (s i, s j)
            out[:, i, j] = np.tensordot(xpad[:, i:i + k, j:j + k], w, axes=3) + b
    return out


def conv_pad_one_side(x, w, b, stride, pad):
    x = np.pad(x, ((0, 0), (0, 2 * pad), (0, 2 * pad), (0, 0)))
    return sol("09.1")(x, w, b, stride, 0)


def pool_every_max(dout, x, p):
    N, Ho, Wo, C = dout.shape
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, i * p:(i + 1) * p, j * p:(j + 1) * p]
            hit = win == win.max(axis=(1, 2), keepdims=True)
            dx[:, i * p:(i + 1) * p, j * p:(j + 1) * p] += hit * dout[:, i:i + 1, j:j + 1]
    return dx


def pool_last_max(dout, x, p):
    flipped = sol("09.2")(dout[:, ::-1, ::-1], x[:, ::-1, ::-1][:, (x.shape[1] % p):,
                                                               (x.shape[2] % p):], p)
    dx = np.zeros_like(x)
    Ho, Wo = dout.shape[1] * p, dout.shape[2] * p
    dx[:, :Ho, :Wo] = flipped[:, ::-1, ::-1]
    return dx


def pool_spread(dout, x, p):
    hit = pool_every_max(np.ones_like(dout), x, p)
    N, Ho, Wo, C = dout.shape
    count = np.ones_like(x)
    for i in range(Ho):
        for j in range(Wo):
            n = hit[:, i * p:(i + 1) * p, j * p:(j + 1) * p].sum(axis=(1, 2), keepdims=True)
            count[:, i * p:(i + 1) * p, j * p:(j + 1) * p] = n
    return pool_every_max(dout, x, p) / count



# ---- the derivation exercises: the worked solutions with one slip each ------------------------

def _brnn_backward(ds, words, p, carry_f=True, b_walk="right_to_left", both_dirs=True,
                   scatter=True, transpose=True):
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    x = p["W_w"][words]
    e = relu(x @ p["W_e"] + p["b_e"])
    T, H = e.shape
    hf, hb = np.zeros((T, H)), np.zeros((T, H))
    for t in range(T):
        hf[t] = relu(e[t] + (hf[t - 1] if t else np.zeros(H)) @ p["W_f"] + p["b_f"])
    for t in reversed(range(T)):
        hb[t] = relu(e[t] + (hb[t + 1] if t < T - 1 else np.zeros(H)) @ p["W_b"] + p["b_b"])
    u = hf + hb
    dz = ds * (relu(u @ p["W_d"] + p["b_d"]) > 0)
    g = {"W_d": u.T @ dz, "b_d": dz.sum(axis=0)}
    du = dz @ p["W_d"].T
    dzf, carry = np.zeros((T, H)), np.zeros(H)
    for t in reversed(range(T)):
        dzf[t] = (du[t] + (carry if carry_f else 0)) * (hf[t] > 0)
        carry = dzf[t] @ (p["W_f"].T if transpose else p["W_f"])
    g["W_f"], g["b_f"] = np.vstack([np.zeros((1, H)), hf[:-1]]).T @ dzf, dzf.sum(axis=0)
    dzb, carry = np.zeros((T, H)), np.zeros(H)
    order = range(T) if b_walk == "right_to_left" else reversed(range(T))
    for t in order:
        dzb[t] = (du[t] + carry) * (hb[t] > 0)
        carry = dzb[t] @ p["W_b"].T
    g["W_b"], g["b_b"] = np.vstack([hb[1:], np.zeros((1, H))]).T @ dzb, dzb.sum(axis=0)
    da = ((dzf + dzb) if both_dirs else dzf) * (e > 0)
    g["W_e"], g["b_e"] = x.T @ da, da.sum(axis=0)
    g["W_w"] = np.zeros_like(p["W_w"])
    if scatter:
        np.add.at(g["W_w"], words, da @ p["W_e"].T)
    else:
        g["W_w"][words] += da @ p["W_e"].T
    return g


def brnn_bw_truncated(ds, words, p):
    return _brnn_backward(ds, words, p, carry_f=False)


def brnn_bw_backward_walked_wrong_way(ds, words, p):
    return _brnn_backward(ds, words, p, b_walk="left_to_right")


def brnn_bw_forward_direction_only(ds, words, p):
    return _brnn_backward(ds, words, p, both_dirs=False)


def brnn_bw_assign(ds, words, p):
    return _brnn_backward(ds, words, p, scatter=False)


def brnn_bw_no_transpose(ds, words, p):
    return _brnn_backward(ds, words, p, transpose=False)


def eq8_eq9_every_region(v, s, seg):
    loss, dv, ds = sol("03.3")(v, s, seg)
    B = v.shape[0]
    S = np.einsum("krm,wm->kwr", v, s).max(axis=2) @ (seg[:, None] == np.arange(B))
    d = np.diag(S)
    rows, cols = S - d[:, None] + 1 > 0, S - d[None, :] + 1 > 0
    np.fill_diagonal(rows, False)
    np.fill_diagonal(cols, False)
    dS = (rows + 0.0) + cols
    dS[np.arange(B), np.arange(B)] = -(rows.sum(axis=1) + cols.sum(axis=0))
    dm = (dS / B) @ (seg[:, None] == np.arange(B)).T
    dv = np.einsum("kw,wm->km", dm, s)[:, None, :] * np.ones_like(v)     # to every region
    return loss, dv, ds


def eq8_eq9_summed(v, s, seg):
    loss, dv, ds = sol("03.3")(v, s, seg)
    B = v.shape[0]
    return loss * B, dv * B, ds * B


def eq8_eq9_own_image_only(v, s, seg):
    loss, dv, _ = sol("03.3")(v, s, seg)
    best = np.einsum("krm,wm->kwr", v, s).argmax(axis=2)
    dS = _eq9_dS(v, s, seg)
    ds = np.zeros_like(s)
    for t in range(len(s)):                                 # each word back to the image of
        k = seg[t]                                          # its own sentence only
        ds[t] = dS[k, k] * v[k, best[k, t]]
    return loss, dv, ds


def _eq9_dS(v, s, seg):
    B = v.shape[0]
    Q = np.einsum("krm,wm->kwr", v, s).max(axis=2)
    S = Q @ (seg[:, None] == np.arange(B))
    return sol("03.2")(S)[1]


def eq8_eq9_best_word(v, s, seg):
    loss, _, _ = sol("03.3")(v, s, seg)
    B = v.shape[0]
    dS = _eq9_dS(v, s, seg)
    dm = dS @ (seg[:, None] == np.arange(B)).T.astype(float)
    Q = np.einsum("krm,wm->kwr", v, s)
    bw = Q.argmax(axis=1)                                   # each region's best word
    dv, ds = np.zeros_like(v), np.zeros_like(s)
    for k in range(B):
        for r in range(v.shape[1]):
            t = bw[k, r]
            dv[k, r] += dm[k, t] * s[t]
            ds[t] += dm[k, t] * v[k, r]
    return loss, dv, ds


def align_loss_eq7(params, batch):
    from vsa_np.core.alignment import AlignmentModel
    model = AlignmentModel(9, 6, word_dim=4, hidden=5, embed=4, score="eq7", dropout=0.0,
                           dtype=np.float64, params=params)
    loss, grads = model.loss(batch)
    return float(loss), grads


def align_loss_no_region_grads(params, batch):
    loss, grads = sol("04b.1")(params, batch)
    return loss, {k: g for k, g in grads.items() if k not in ("W_m", "b_m")}


def align_loss_no_mask(params, batch):
    return sol("04b.1")(params, dict(batch, region_mask=None))


def _step(params, velocity, batch, cfg, decay_biases=False, decay_first=False, norm_clip=False,
          momentum=True):
    loss, grads = sol("04b.1")(params, batch)
    if norm_clip:
        total = np.sqrt(sum((g * g).sum() for g in grads.values()))
        grads = {k: g * min(1.0, cfg.grad_clip / total) for k, g in grads.items()}
    for name, g in grads.items():
        decay = cfg.weight_decay * params[name] if (decay_biases or params[name].ndim >= 2) else 0
        if decay_first:
            g = (g + decay).clip(-cfg.grad_clip, cfg.grad_clip)
        else:
            g = (g if norm_clip else g.clip(-cfg.grad_clip, cfg.grad_clip)) + decay
        v = velocity.setdefault(name, 0 * params[name])
        v *= cfg.momentum if momentum else 0.0
        v -= cfg.lr * g
        params[name] += v
    return loss


def step_decays_biases(params, velocity, batch, cfg):
    return _step(params, velocity, batch, cfg, decay_biases=True)


def step_decay_before_clip(params, velocity, batch, cfg):
    return _step(params, velocity, batch, cfg, decay_first=True)


def step_clips_the_norm(params, velocity, batch, cfg):
    return _step(params, velocity, batch, cfg, norm_clip=True)


def step_without_momentum(params, velocity, batch, cfg):
    return _step(params, velocity, batch, cfg, momentum=False)


def _caption(p, feat, words, carry=True, bv_every_step=False, h_now=False, with_end=True,
             relu_mask=True):
    inputs, targets = [0] + list(words), list(words) + [0]
    if not with_end:
        inputs, targets = inputs[:-1], targets[:-1]
    T, H = len(inputs), p["W_hh"].shape[0]
    bv = feat @ p["W_hi"]
    x = p["W_w"][inputs]
    a = x @ p["W_hx"]
    a[0] += bv
    h = np.zeros((T, H))
    for t in range(T):
        h[t] = np.maximum(a[t] + (h[t - 1] if t else np.zeros(H)) @ p["W_hh"] + p["b_h"], 0)
    z = h @ p["W_oh"] + p["b_o"]
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(T), targets].sum()
    dz = np.exp(logp)
    dz[np.arange(T), targets] -= 1
    g = {"W_oh": h.T @ dz, "b_o": dz.sum(axis=0)}
    dh = dz @ p["W_oh"].T
    da, c = np.zeros((T, H)), np.zeros(H)
    for t in reversed(range(T)):
        da[t] = (dh[t] + (c if carry else 0)) * ((h[t] > 0) if relu_mask else 1)
        c = da[t] @ p["W_hh"].T
    prev = h if h_now else np.vstack([np.zeros((1, H)), h[:-1]])
    g["W_hh"], g["b_h"] = prev.T @ da, da.sum(axis=0)
    g["W_hi"] = np.outer(feat, da.sum(axis=0) if bv_every_step else da[0])
    g["W_hx"] = x.T @ da
    g["W_w"] = np.zeros_like(p["W_w"])
    np.add.at(g["W_w"], inputs, da @ p["W_hx"].T)
    return loss, g


def caption_truncated(p, feat, words):
    return _caption(p, feat, words, carry=False)


def caption_bv_every_step(p, feat, words):
    return _caption(p, feat, words, bv_every_step=True)


def caption_dwhh_with_h_t(p, feat, words):
    return _caption(p, feat, words, h_now=True)


def caption_without_end(p, feat, words):
    return _caption(p, feat, words, with_end=False)


def caption_no_relu_mask(p, feat, words):
    return _caption(p, feat, words, relu_mask=False)


def _unit(X):
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1.0)


def ridge_rows_not_unit(B, Y, Bq, Yq, lam):
    W = np.linalg.solve(B.T @ B + lam * np.eye(B.shape[1]), B.T @ Y)
    return _unit(Yq) @ _unit(Bq @ W).T


def ridge_lambda_everywhere(B, Y, Bq, Yq, lam):
    B, Bq = _unit(B), _unit(Bq)
    W = np.linalg.solve(B.T @ B + lam, B.T @ Y)          # lambda on every entry, not the diagonal
    return _unit(Yq) @ _unit(Bq @ W).T


def ridge_lambda_on_features(B, Y, Bq, Yq, lam):
    B, Bq = _unit(B), _unit(Bq)
    W = np.linalg.lstsq(B, Y, rcond=None)[0] / (1 + lam)  # shrinks W, not a ridge solve
    return _unit(Yq) @ _unit(Bq @ W).T


def ridge_dot_products(B, Y, Bq, Yq, lam):
    B, Bq = _unit(B), _unit(Bq)
    W = np.linalg.solve(B.T @ B + lam * np.eye(B.shape[1]), B.T @ Y)
    return Yq @ (Bq @ W).T


def diversity_said_once(captions, train):
    out = sol("10.2")(captions, train)
    counts = Counter(tuple(c) for c in captions.values())
    out["distinct"] = sum(n == 1 for n in counts.values()) / len(captions)
    return out


def diversity_training_per_distinct(captions, train):
    out = sol("10.2")(captions, train)
    distinct = {tuple(c) for c in captions.values()}
    out["in_training"] = sum(c in train for c in distinct) / len(distinct)
    return out


def diversity_most_common_count(captions, train):
    out = sol("10.2")(captions, train)
    out["most_common"] = Counter(tuple(c) for c in captions.values()).most_common(1)[0][1]
    return out


WRONG = {
    "00.1": [vocab_most_common, vocab_strict, vocab_alphabetical],
    "00.2": [tf_mask_without_end, tf_unpadded, tf_targets_unshifted],
    "01.1": [affine_db_one_axis, affine_dx_no_transpose],
    "01.2": [rnn_mask_ge, rnn_no_transpose, rnn_no_mask],
    "02.1": [brnn_backward_direction_left_to_right, brnn_one_matrix],
    "02.2": [word_grad_assign],
    "02.3": [brnn_bw_truncated, brnn_bw_backward_walked_wrong_way, brnn_bw_forward_direction_only,
             brnn_bw_assign, brnn_bw_no_transpose],
    "03.1": [eq8_every_region, eq8_own_image_only],
    "03.2": [ranking_summed, ranking_rows_only, ranking_with_diagonal],
    "03.3": [eq8_eq9_every_region, eq8_eq9_summed, eq8_eq9_own_image_only, eq8_eq9_best_word],
    "04.1": [ann_optimistic, ann_argsort_stable, ann_argsort_reversed],
    "04.2": [search_optimistic, search_argsort_stable, search_argsort_reversed,
             search_counts_itself],
    "04b.1": [align_loss_eq7, align_loss_no_region_grads, align_loss_no_mask],
    "04b.2": [step_decays_biases, step_decay_before_clip, step_clips_the_norm,
              step_without_momentum],
    "05.1": [viterbi_greedy, viterbi_no_beta_in_e, viterbi_sign],
    "05.2": [energy_on_changes, energy_per_run],
    "06.1": [softmax_per_step, softmax_unmasked, softmax_unshifted],
    "06.2": [greedy_image_every_step, greedy_no_image, greedy_keeps_end],
    "06.3": [beam_drops_finished, beam_extends_finished, beam_per_parent],
    "06.4": [caption_truncated, caption_bv_every_step, caption_dwhh_with_h_t,
             caption_without_end, caption_no_relu_mask],
    "07.1": [bleu_unclipped, bleu_clip_sum, bleu_shortest_ref, bleu_longer_on_tie,
             bleu_no_penalty],
    "07.2": [rouge_best_f, rouge_mean_f, rouge_f1, rouge_swapped],
    "08.1": [runs_keep_minus_one, runs_end_inclusive, runs_across_gaps],
    "08.2": [nearest_by_dot, nearest_wrong_axis],
    "09.1": [conv_flipped, conv_window_not_strided, conv_pad_one_side],
    "09.2": [pool_every_max, pool_last_max, pool_spread],
    "10.1": [ridge_rows_not_unit, ridge_lambda_everywhere, ridge_lambda_on_features,
             ridge_dot_products],
    "10.2": [diversity_said_once, diversity_training_per_distinct, diversity_most_common_count],
}


def test_every_exercise_has_wrong_answers():
    assert sorted(WRONG) == sorted(exercises.EXERCISES), "an exercise without wrong answers here"


@pytest.mark.parametrize("ex_id", sorted(exercises.EXERCISES))
def test_the_worked_solution_passes(ex_id):
    assert exercises.run_check(ex_id, sol(ex_id)) < exercises.PASS_BELOW


@pytest.mark.parametrize("ex_id, wrong", [(i, w) for i in sorted(WRONG) for w in WRONG[i]],
                         ids=lambda x: x if isinstance(x, str) else x.__name__)
def test_a_plausible_wrong_answer_fails(ex_id, wrong, capsys):
    worst = exercises.run_check(ex_id, wrong)
    out = capsys.readouterr().out
    assert not worst < exercises.PASS_BELOW, f"{wrong.__name__} passes the check of {ex_id}"
    assert "WRONG" in out and ("first difference" in out or "yours" in out or "shape" in out), \
        "a failing check should say where the answer first differs"
