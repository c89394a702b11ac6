"""The lessons' exercises: what each asks for, and the check that compares a student's function
with the library's on fixed inputs (CS231n's implement-then-compare cells).

In a lesson an exercise is a stub and one call:

    def affine_backward(dout, x, W):
        raise NotImplementedError        # your code here

    exercise("01.1", affine_backward)

`exercise` calls the function and the library's code on the same fixed float64 inputs and prints
the relative error of every output, max |a - b| / max(1e-8, |a| + |b|) (CS231n's rel_error; an
output that is not an array, a list of words say, gets 0 when equal and 1 when not). A stub that
still raises NotImplementedError is skipped with one line, unless worked solutions are turned on
(quick mode, the tests, or LESSONS_SOLUTIONS=1): then the function of the same name in
lessons/solutions/lessonNN.py is checked instead, so every exercise is known to be solvable.
`tests/end_to_end/test_lessons.py` runs every check below with the solutions.
"""
from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Callable

import numpy as np

from vsa_np.backend import to_host, xp

PASS_BELOW = 1e-6       # float64 throughout: a correct function is at 1e-12 or so


@dataclass
class Exercise:
    id: str               # "NN.k": lesson NN, exercise k
    name: str             # the function the student writes (and the solution's name)
    title: str
    check: Callable       # check(fn) -> [(output label, student's value, library's value)]


EXERCISES: dict[str, Exercise] = {}


def _register(id: str, name: str, title: str):
    def wrap(check):
        EXERCISES[id] = Exercise(id, name, title, check)
        return check
    return wrap


def rel_error(a, b) -> float:
    """max |a - b| / max(1e-8, |a| + |b|) for arrays of the same shape; 0/1 for anything else.
    Equal entries (infinities included) count 0; a NaN on one side only counts 1."""
    diff = _elementwise_error(a, b)
    return diff if isinstance(diff, float) else float(diff.max(initial=0.0))


def _elementwise_error(a, b):
    """The relative error of every entry, or one float when they cannot be compared entrywise."""
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        try:
            return 0.0 if a == b else 1.0
        except ValueError:                         # an array against a list of words, say
            return 1.0
    if a.shape != b.shape:
        return 1.0
    with np.errstate(invalid="ignore"):
        err = np.atleast_1d(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))
    err[np.atleast_1d(a == b)] = 0.0               # equal infinities are equal
    err[np.isnan(err)] = 1.0                       # a NaN, or two different infinities
    return err.reshape(a.shape)


def first_difference(a, b) -> str:
    """Where a student's output first differs from the library's, in words."""
    diff = _elementwise_error(a, b)
    if isinstance(diff, float):
        sa, sb = np.shape(a) if _is_array(a) else None, np.shape(b) if _is_array(b) else None
        if sa is not None and sb is not None and sa != sb:
            return f"shape {sa}, the library's {sb}"
        return f"yours {_short(a)}, the library's {_short(b)}"
    k = np.unravel_index(int(np.argmax(diff >= PASS_BELOW)), diff.shape)
    where = f"at index {tuple(int(i) for i in k)}" if diff.ndim else "the value"
    va, vb = np.asarray(a, dtype=np.float64)[k], np.asarray(b, dtype=np.float64)[k]
    return f"first difference {where}: yours {va:.6g}, the library's {vb:.6g}"


def _is_array(x) -> bool:
    return isinstance(x, np.ndarray) or (isinstance(x, (list, tuple)) and len(x) > 0
                                         and not isinstance(x[0], str))


def _short(x, n=90) -> str:
    text = repr(x.tolist() if isinstance(x, np.ndarray) else x)
    return text if len(text) <= n else text[:n - 3] + "..."


def solutions_on() -> bool:
    """Use lessons/solutions/ for stubs: in quick mode, in the tests, or with LESSONS_SOLUTIONS=1."""
    flag = os.environ.get("LESSONS_SOLUTIONS")
    if flag is not None:
        return flag not in ("", "0")
    return os.environ.get("LESSONS_QUICK", "") not in ("", "0")


def solution(id: str) -> Callable:
    """The worked solution of exercise `id` (lessons/solutions/lessonNN.py)."""
    ex = EXERCISES[id]
    module = importlib.import_module(f"solutions.lesson{id.split('.')[0]}")
    return getattr(module, ex.name)


def run_check(id: str, fn: Callable) -> float:
    """Check `fn` against the library; print one line per output (and, for a wrong one, where it
    first differs); return the largest error."""
    ex = EXERCISES[id]
    worst = 0.0
    for label, mine, ref in ex.check(fn):
        err = rel_error(mine, ref)
        worst = max(worst, err)
        print(f"  {label:28} relative error {err:.2e}  {'ok' if err < PASS_BELOW else 'WRONG'}")
        if not err < PASS_BELOW:
            print(f"      {first_difference(mine, ref)}")
    return worst


def exercise(id: str, fn: Callable) -> float | None:
    """What a lesson calls after a stub: check `fn` (or the worked solution, when `fn` is still a
    stub and solutions are on); a stub without solutions is skipped with one line."""
    ex = EXERCISES[id]
    worked = False
    try:
        ex.check(fn)
    except NotImplementedError:
        if not solutions_on():
            print(f"exercise {id} ({ex.title}) skipped: write `{ex.name}` above, or run with "
                  f"LESSONS_SOLUTIONS=1 to check the worked solution in "
                  f"lessons/solutions/lesson{id.split('.')[0]}.py")
            return None
        print(f"exercise {id} ({ex.title}): `{ex.name}` is a stub; checking the worked solution")
        fn, worked = solution(id), True
    else:
        print(f"exercise {id} ({ex.title}): checking your `{ex.name}` against the library")
    worst = run_check(id, fn)
    if worst >= PASS_BELOW:
        if worked:
            raise AssertionError(f"the worked solution of exercise {id} does not pass its check")
        print(f"  exercise {id}: not yet right (largest relative error {worst:.1e})")
    return worst


def _rng():
    return np.random.default_rng(1234)


def _dev(a):
    return xp.asarray(a)


# ---- lesson 00: data --------------------------------------------------------------------------

# Counts: a 4, circle 3, then six words twice (the, is, red, blue, square, green, in the order
# they first appear, which is not alphabetical): ties decide most of the order, and threshold 2
# keeps words seen exactly twice.
_SENTENCES = [s.split() for s in ("the star is red", "a red circle and a blue square",
                                  "two green stars", "a blue circle", "the square is green",
                                  "a circle")]


@_register("00.1", "build_vocab", "a vocabulary from the training sentences")
def _check_vocab(fn):
    from vsa_np.data import Vocab

    return [(f"words, threshold {t}", list(fn(_SENTENCES, t)),
             Vocab.build(_SENTENCES, threshold=t).words) for t in (2, 3)]


@_register("00.2", "teacher_forcing", "the generator's inputs, targets and mask")
def _check_teacher_forcing(fn):
    from vsa_np.data import caption_batch
    from vsa_np.data.batching import EncodedSplit

    ids = [[3, 1, 4], [1, 5], [9, 2, 6, 5]]
    lengths = np.array([len(i) for i in ids])
    words = np.zeros((len(ids), lengths.max()), np.int64)
    for k, i in enumerate(ids):
        words[k, :len(i)] = i
    enc = EncodedSplit(np.arange(3), np.arange(3), words, lengths)
    lib = caption_batch(SimpleNamespace(feats=np.zeros((3, 1))), enc, np.arange(3))
    inputs, targets, mask = fn(ids)
    return [("inputs", inputs, lib["inputs"]), ("targets", targets, lib["targets"]),
            ("mask", mask, lib["mask"])]


# ---- lesson 01: layers ------------------------------------------------------------------------

@_register("01.1", "affine_backward", "the affine layer's backward pass")
def _check_affine(fn):
    from vsa_np.core.layers import affine_backward, affine_forward

    g = _rng()
    x, W, dout = g.standard_normal((4, 3, 5)), g.standard_normal((5, 6)), g.standard_normal((4, 3, 6))
    _, cache = affine_forward(_dev(x), _dev(W), _dev(np.zeros(6)))
    ref = [to_host(a) for a in affine_backward(_dev(dout), cache)]
    mine = fn(dout, x, W)
    return [(n, m, r) for n, m, r in zip(("dx", "dW", "db"), mine, ref)]


@_register("01.2", "rnn_step_backward", "one ReLU RNN step backward (Eq. 4 / 14)")
def _check_rnn_step(fn):
    from vsa_np.core.layers import rnn_step_backward, rnn_step_forward

    g = _rng()
    a, prev_h = g.standard_normal((4, 5)), g.standard_normal((4, 5))
    Wh, b, dh = 0.5 * g.standard_normal((5, 5)), 0.1 * g.standard_normal(5), g.standard_normal((4, 5))
    h, cache = rnn_step_forward(_dev(a), _dev(prev_h), _dev(Wh), _dev(b))
    ref = [to_host(x) for x in rnn_step_backward(_dev(dh), cache)]
    mine = fn(dh, prev_h, Wh, to_host(h))
    return [(n, m, r) for n, m, r in zip(("da", "dprev_h", "dWh", "db"), mine, ref)]


# ---- lesson 02: the BRNN ----------------------------------------------------------------------

def _brnn_params(g, V=7, E=4, H=5, M=3):
    return {"W_w": g.standard_normal((V, E)), "W_e": g.standard_normal((E, H)) * 0.6,
            "b_e": np.full(H, 0.1), "W_f": g.standard_normal((H, H)) * 0.4, "b_f": np.full(H, 0.1),
            "W_b": g.standard_normal((H, H)) * 0.4, "b_b": np.full(H, 0.1),
            "W_d": g.standard_normal((H, M)) * 0.6, "b_d": np.full(M, 0.1)}


@_register("02.1", "brnn_sentence", "Eq. 2-6 for one sentence")
def _check_brnn(fn):
    from vsa_np.core.alignment import brnn_forward

    params = _brnn_params(_rng())
    words = np.array([[2, 5, 1, 6]])
    s, _, _ = brnn_forward(words, np.array([4]), {k: _dev(v) for k, v in params.items()})
    return [("s (T, M)", fn(words[0], params), to_host(s))]


@_register("02.2", "word_vector_grad", "Eq. 2 backward: the scatter-add onto W_w")
def _check_word_grad(fn):
    from vsa_np.core.layers import embedding_backward, embedding_forward

    g = _rng()
    ids, dx = np.array([[3, 1, 3, 0, 6]]), g.standard_normal((1, 5, 4))
    _, cache = embedding_forward(_dev(ids), _dev(np.zeros((8, 4))))
    ref = to_host(embedding_backward(_dev(dx), cache))
    return [("dW_w", fn(dx[0], ids[0], 8), ref)]


@_register("02.3", "brnn_sentence_backward", "Eq. 2-6 backward for one sentence")
def _check_brnn_backward(fn):
    from vsa_np.core.alignment import brnn_backward, brnn_forward

    g = _rng()
    params = _brnn_params(g)
    words = np.array([[2, 5, 1, 5, 6]])                 # word 5 twice
    s, _, cache = brnn_forward(words, np.array([5]), {k: _dev(v) for k, v in params.items()})
    ds = g.standard_normal(s.shape)
    ref = brnn_backward(_dev(ds), cache)
    mine = fn(ds, words[0], params)
    return [(f"d{k}", _get(mine, k), to_host(ref[k])) for k in params]


def _get(grads, name):
    return grads.get(name) if isinstance(grads, dict) else None


# ---- lesson 03: score and ranking loss --------------------------------------------------------

@_register("03.1", "eq8_backward", "Eq. 8 backward: dv and ds")
def _check_eq8(fn):
    from vsa_np.core.alignment import score_backward, score_forward

    g = _rng()
    v, s, seg = g.standard_normal((3, 4, 5)), g.standard_normal((6, 5)), np.array([0, 0, 1, 1, 1, 2])
    dS = g.standard_normal((3, 3))
    _, cache = score_forward(_dev(v), None, _dev(s), _dev(seg), 3, "eq8")
    dv, ds = (to_host(a) for a in score_backward(_dev(dS), cache))
    mine = fn(dS, v, s, seg)
    return [("dv", mine[0], dv), ("ds", mine[1], ds)]


@_register("03.2", "ranking_loss_grad", "Eq. 9 per pair and its dS")
def _check_ranking(fn):
    from vsa_np.core.alignment import ranking_loss

    S = _rng().standard_normal((5, 5)) + 2 * np.eye(5)
    loss, dS = ranking_loss(_dev(S))
    mine = fn(S)
    return [("loss", mine[0], float(loss)), ("dS", mine[1], to_host(dS))]


def _eq8_eq9_inputs(B, R, M, seed):
    """B images of R regions, B sentences of 2-6 words, scaled so that about half the hinges of
    Eq. 9 are active."""
    g = np.random.default_rng(seed)
    seg = np.repeat(np.arange(B), g.integers(2, 7, B))
    return 0.5 * g.standard_normal((B, R, M)), 0.5 * g.standard_normal((len(seg), M)), seg


@_register("03.3", "eq8_eq9", "Eq. 8 and Eq. 9 forward and backward, vectorised")
def _check_eq8_eq9(fn):
    from vsa_np.core.alignment import ranking_loss, score_backward, score_forward

    out = []
    for B, R, M, seed in ((4, 3, 5, 0), (30, 6, 16, 1)):
        v, s, seg = _eq8_eq9_inputs(B, R, M, seed)
        S, cache = score_forward(_dev(v), None, _dev(s), _dev(seg), B, "eq8")
        loss, dS = ranking_loss(S)
        dv, ds = score_backward(dS, cache)
        mine = fn(v, s, seg)
        out += [(f"loss, B = {B}", mine[0], float(loss)), (f"dv, B = {B}", mine[1], to_host(dv)),
                (f"ds, B = {B}", mine[2], to_host(ds))]
    return out


# ---- lesson 04: retrieval ---------------------------------------------------------------------

def _retrieval_inputs():
    """4 images, 12 sentences (image k owns sentences 3k..3k+2), small whole numbers so that
    ties are everywhere: a wrong sentence ties with an image's best correct one both before it
    (image 3) and after it (images 0 and 2), sentence 5 scores the same on every image, and in
    image search the own image ties with another listed before it (sentences 4, 10) and after it
    (sentences 1, 7). Ties counted for the model, or broken by position, give smaller ranks."""
    S = np.array([[3, 5, 2, 1, 3, 1, 0, 5, 1, 2, 1, 0],
                  [4, 0, 1, 2, 3, 1, 5, 0, 2, 1, 4, 0],
                  [1, 5, 3, 0, 1, 1, 3, 1, 0, 3, 2, 1],
                  [0, 1, 4, 1, 2, 1, 2, 1, 0, 3, 4, 2]], np.float64)
    return S, np.repeat(np.arange(4), 3)


@_register("04.1", "annotation_ranks", "image annotation ranks, ties pessimistic")
def _check_ann(fn):
    from vsa_np.alignment.retrieval import retrieval_ranks

    S, s2i = _retrieval_inputs()
    return [("annotation ranks", fn(S, s2i), retrieval_ranks(S, s2i)[0])]


@_register("04.2", "search_ranks", "image search ranks, ties pessimistic")
def _check_search(fn):
    from vsa_np.alignment.retrieval import retrieval_ranks

    S, s2i = _retrieval_inputs()
    return [("search ranks", fn(S, s2i), retrieval_ranks(S, s2i)[1])]


# ---- lesson 04b: training the alignment model -------------------------------------------------

def alignment_setup():
    """A tiny alignment model in float64 (no dropout, no feature map) and one batch of 5 pairs:
    3 regions per image (image 4 has 2, and a padded slot the mask leaves out), sentences of 2
    to 6 words."""
    from vsa_np.core.alignment import AlignmentModel

    g = np.random.default_rng(7)
    lengths = np.array([4, 6, 2, 5, 3])
    words = g.integers(1, 9, (5, 6)) * (np.arange(6) < lengths[:, None])
    mask = np.ones((5, 3), bool)
    mask[4, 2] = False
    regions = g.standard_normal((5, 3, 6))
    regions[4, 2] = 2 * regions[4, 0]   # what a padded slot holds is not promised: unmasked, it wins
    batch = {"regions": regions, "region_mask": mask, "words": words,
             "word_mask": np.arange(6) < lengths[:, None]}
    model = AlignmentModel(9, 6, word_dim=4, hidden=5, embed=4, dropout=0.0, seed=0,
                           dtype=np.float64)
    for k in ("b_e", "b_f", "b_b", "b_d"):              # few dead ReLUs in an untrained model
        model.params[k] += 0.1
    return model, batch


def _host_params(model):
    return {k: np.array(to_host(v)) for k, v in model.params.items()}


@_register("04b.1", "alignment_loss", "Eq. 1-9 forward and backward from the core's functions")
def _check_alignment_loss(fn):
    model, batch = alignment_setup()
    loss, grads = model.loss(batch)
    mine_loss, mine = fn(_host_params(model), batch)
    return [("loss per pair", mine_loss, float(loss))] + [
        (f"d{k}", _get(mine, k), to_host(grads[k])) for k in model.params]


STEP_CONFIG = SimpleNamespace(lr=0.05, momentum=0.9, grad_clip=0.02, weight_decay=0.1)


@_register("04b.2", "alignment_step", "one training step: clip, weight decay, SGD momentum")
def _check_alignment_step(fn):
    """Three steps of yours against three of `vsa_np.core.train.train_step` from the same
    start. A small clip (0.02) clips most entries, a large decay (0.1) shows where it goes."""
    from vsa_np.core.train import SGDMomentum, train_step

    model, batch = alignment_setup()
    params, velocity = _host_params(model), {}
    opt, cfg = SGDMomentum(STEP_CONFIG.lr, STEP_CONFIG.momentum), STEP_CONFIG
    out = []
    for step in range(3):
        ref = float(train_step(model, opt, batch, cfg, seed=step))
        out.append((f"loss at step {step + 1}", fn(params, velocity, batch, cfg), ref))
    out += [(f"{k} after 3 steps", params[k], to_host(model.params[k])) for k in model.params]
    out += [(f"velocity of {k}", _get(velocity, k), to_host(opt.state["velocity"][k]))
            for k in ("W_m", "b_m", "W_f")]
    return out


# ---- lesson 05: the MRF -----------------------------------------------------------------------

@_register("05.1", "viterbi", "Viterbi for Eq. 10, with the walk back")
def _check_viterbi(fn):
    from vsa_np.core.mrf import viterbi_align

    g = _rng()
    out = []
    for beta in (-0.5, 0.0, 0.7, 2.0):
        S = g.standard_normal((7, 4))
        a_ref, e_ref = viterbi_align(S, beta)
        a, e = fn(S, beta)
        out += [(f"assignment, beta {beta}", a, a_ref), (f"E, beta {beta}", e, e_ref)]
    return out


@_register("05.2", "mrf_energy", "the objective E of Eq. 10 for an assignment")
def _check_energy(fn):
    from vsa_np.core.mrf import alignment_objective

    g = _rng()
    S = g.standard_normal((8, 3))
    out = []
    for a in ([0, 0, 2, 2, 2, 1, 0, 0], [1, 1, 1, 1, 0, 2, 2, 2]):     # 4 runs, 3 runs
        a = np.array(a)
        out += [(f"E of {a.tolist()}, beta {b}", fn(S, a, b), alignment_objective(S, a, b))
                for b in (-1.0, 0.5)]
    return out


# ---- lesson 06: the generator -----------------------------------------------------------------

def _tiny_generator():
    from vsa_np.core.generator import CaptionModel

    return CaptionModel(9, 6, hidden=8, word_dim=5, dropout=0.0, seed=3, dtype=np.float64)


@_register("06.1", "softmax_loss", "Eq. 15's loss over the time steps and its gradient")
def _check_softmax(fn):
    from vsa_np.core.layers import softmax_loss

    g = _rng()
    x, y = g.standard_normal((3, 4, 6)), g.integers(0, 6, (3, 4))
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], bool)
    x[2, 1] += 800          # a confident step: exp(800) overflows unless the maximum comes off
    # the library's loss on the M valid rows only (x[mask] is a copy, which softmax_loss
    # overwrites with its gradient), scattered back to (N, T, V) with zeros on the padding
    loss, d_rows = softmax_loss(_dev(x[mask]), _dev(y[mask]), x.shape[0])
    dx = np.zeros_like(x)
    dx[mask] = to_host(d_rows)
    mine = fn(x, y, mask)
    return [("loss", mine[0], float(loss)), ("dx", mine[1], dx)]


@_register("06.2", "greedy_decode", "greedy decoding with the model's step (Eq. 13-15)")
def _check_greedy(fn):
    from vsa_np.core.generator import greedy

    model = _tiny_generator()
    feats = 2 * _rng().standard_normal((12, 6))     # some captions end early, some run to max_len
    ref = greedy(model, _dev(feats), max_len=6).tokens
    return [(f"caption of image {i}", list(fn(model, feats[i], 6)), ref[i][0]) for i in range(len(feats))]


def beam_decode_with(beam_step, model, feat, K, max_len):
    """Beam search for ONE image driven by a `beam_step(scores, done, logp, K)` function, with the
    library's rules: a finished caption stays in the beam with its score unchanged and competes;
    after max_len words END is forced; the search stops when every kept caption is finished.
    -> (best caption's words, its log probability)."""
    table = model.input_table()
    a = (table[0] + model.image_bias(xp.asarray(np.asarray(feat)[None]))[0])[None]
    state = model.initial_state(1)
    scores, done, words = np.zeros(1), np.zeros(1, bool), [[]]
    for t in range(max_len + 1):
        state, logits = model.step(a, state)
        z = to_host(logits).astype(np.float64)
        logp = z - z.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        if t == max_len:
            logp[:, 1:] = -np.inf                                  # out of room: END
        parent, word, scores = (np.asarray(x) for x in beam_step(scores, done, logp, K))
        words = [words[p] + ([] if done[p] or w == 0 else [int(w)]) for p, w in zip(parent, word)]
        done = done[parent] | (word == 0)
        state, a = state[xp.asarray(parent)], table[xp.asarray(word)]
        if done.all():
            break
    best = int(np.argmax(scores))
    return words[best], float(scores[best])


@_register("06.3", "beam_step", "one step of beam search")
def _check_beam_step(fn):
    from vsa_np.core.generator import beam_search

    model = _tiny_generator()
    feats = 2 * _rng().standard_normal((12, 6))     # some captions end early, some run to max_len
    out = []
    for K in (2, 3):
        ref = beam_search(model, _dev(feats), beam=K, max_len=8)
        for i in range(len(feats)):
            w, lp = beam_decode_with(fn, model, feats[i], K, 8)
            out += [(f"K {K}, image {i}: best caption", w, ref.tokens[i][0]),
                    (f"K {K}, image {i}: its log p", lp, ref.logprob[i][0])]
    return out


@_register("06.4", "caption_backward", "Eq. 13-15 and backpropagation through time")
def _check_caption_backward(fn):
    model = _tiny_generator()
    g = _rng()
    out = []
    for words in ([3, 1, 4, 1, 5], [2, 6]):
        feat = g.standard_normal(6)
        batch = {"feats": feat[None], "inputs": np.array([[0] + words]),
                 "targets": np.array([words + [0]]), "mask": np.ones((1, len(words) + 1), bool)}
        loss, grads = model.loss(batch)
        mine_loss, mine = fn({k: np.array(to_host(v)) for k, v in model.params.items()}, feat,
                             words)
        out.append((f"loss of {words}", mine_loss, float(loss)))
        out += [(f"d{k} of {words}", _get(mine, k), to_host(grads[k])) for k in model.params]
    return out


# ---- lesson 07: metrics -----------------------------------------------------------------------

_REFS = [s.split() for s in ("a black dog is running on the grass", "a dog runs across a field",
                             "the black dog plays on the grass with a ball")]
_HYP = "a black dog is running on a field".split()
# References of 6, 9 and 13 words. The hypotheses repeat n-grams ("a dog a dog": clipping at the
# most any ONE reference has, not at the sum over them) and sit at 8 words (closest reference 9,
# not the shortest 6), 11 words (9 and 13 equally close: the shorter), 5 words (below them all).
_BLEU_REFS = [s.split() for s in ("a dog runs on the grass", "a black dog is running on the green "
                                  "grass", "the black dog and a white dog play on grass in the "
                                  "park")]
_BLEU_HYPS = [s.split() for s in ("a dog a dog runs on the grass", "the black dog is running on "
                                  "the grass in the park", "a dog runs on the")]


@_register("07.1", "bleu", "BLEU-1..4 with clipped counts and the brevity penalty")
def _check_bleu(fn):
    from vsa_np.metrics.bleu import corpus_bleu
    from vsa_np.metrics.ngrams import build_corpus

    out = []
    for hyp, refs in [(h, _BLEU_REFS) for h in _BLEU_HYPS] + [(_HYP, _REFS)]:
        ref = corpus_bleu(build_corpus([refs], [hyp]))
        out.append((f"BLEU-1..4 of {' '.join(hyp)!r}", fn(hyp, refs), ref))
    return out


# "a dog runs on the grass": the best precision comes from the long reference (LCS 5 of 6), the
# best recall from the short one (LCS 2 of 2): P and R are maximised separately.
_ROUGE_REFS = [s.split() for s in ("a dog", "the big dog runs fast on the green grass today")]


@_register("07.2", "rouge_l", "ROUGE-L from the longest common subsequence")
def _check_rouge(fn):
    from vsa_np.metrics.rouge import rouge_l_per_image

    cases = [("a dog runs on the grass".split(), _ROUGE_REFS), (_HYP, _REFS), (_HYP[::-1], _REFS)]
    return [(f"ROUGE-L of {' '.join(h)!r}", fn(h, r), rouge_l_per_image([r], [h])[0])
            for h, r in cases]


# ---- lesson 08: regions -----------------------------------------------------------------------

@_register("08.1", "snippet_runs", "the MRF's snippets: maximal runs on one region")
def _check_runs(fn):
    from vsa_np.generator.region_data import runs

    cases = ([1, 1, 0, 2, 2, 2, 0], [-1, 3, 3, -1, -1, 1], [2, -1, 2, 2], [4], [])
    return [(f"runs of {a}", [tuple(r) for r in fn(a)], runs(a)) for a in cases]


@_register("08.2", "nearest_rows", "the nearest-neighbour baseline's search (L2)")
def _check_nn(fn):
    from vsa_np.generator.evaluate import nearest_neighbours

    g = _rng()
    # rows of very different lengths: the largest dot product is often not the nearest row
    query, base = g.standard_normal((6, 5)), g.standard_normal((20, 5)) * g.uniform(0.2, 3, (20, 1))
    return [("nearest training row", fn(query, base), nearest_neighbours(query, base))]


# ---- lesson 09: the image side ----------------------------------------------------------------

@_register("09.1", "conv_loops", "a convolution (stride, zero padding) with loops")
def _check_conv(fn):
    from vsa_np.core.conv import conv_forward

    g = _rng()
    x, w, b = g.standard_normal((2, 6, 7, 3)), g.standard_normal((3, 3, 3, 4)), g.standard_normal(4)
    return [(f"out, stride {s}, pad {p}", fn(x, w, b, s, p),
             to_host(conv_forward(_dev(x), _dev(w), _dev(b), s, p)[0]))
            for s, p in ((1, 1), (2, 0))]


@_register("09.2", "maxpool_backward", "max pooling backward: each window's gradient on its max")
def _check_maxpool(fn):
    from vsa_np.core.conv import maxpool_backward, maxpool_forward

    g = _rng()
    # whole numbers in -2..2: about 4 windows in 10 hold their maximum twice or more (5 rows:
    # the last one is not covered by any window)
    x = np.clip(np.round(g.standard_normal((2, 5, 6, 3))), -2, 2)
    out, cache = maxpool_forward(_dev(x), 2)
    dout = g.standard_normal(out.shape)
    return [("dx", fn(dout, x, 2), to_host(maxpool_backward(_dev(dout), cache)))]


# ---- lesson 10: real captions -----------------------------------------------------------------

class _TinyCaptions:
    """A dataset the linear baseline can fit, small enough to check by hand: 8 training images of
    3 sentences, 2 validation and 3 test images of 2, 6-d features. The training features have
    mean 0 and mean variance 1, so the baseline's standardisation leaves every feature as it is,
    and sentences have 2 to 5 distinct words, so unit rows matter."""

    WORDS = "a dog cat runs sits on the grass red ball jumps".split()

    def __init__(self):
        g = np.random.default_rng(10)
        counts = {"train": (8, 3), "val": (2, 2), "test": (3, 2)}
        self._split, self.images, tokens, img = [], [], [], []
        for split, (n, per) in counts.items():
            for _ in range(n):
                k = len(self.images)
                self._split.append(split)
                self.images.append({"sentences": []})
                for _ in range(per):
                    words = list(g.choice(self.WORDS, size=int(g.integers(2, 6)), replace=True))
                    tokens.append(words)
                    img.append(k)
        tokens[-1] = tokens[-1] + ["zebra"]            # a word the training never saw
        self._tokens, self._img = tokens, np.array(img)
        X = g.standard_normal((len(self.images), 6)) * g.uniform(0.5, 2.0, 6)
        train = self.split_indices("train")
        X -= X[train].mean(axis=0)
        X /= np.sqrt((X[train] ** 2).mean())
        self.feats = X

    def require_features(self):
        return None

    def split_indices(self, split):
        return np.flatnonzero(np.array(self._split) == split)

    def sentences_of(self, split):
        keep = np.flatnonzero(np.isin(self._img, self.split_indices(split)))
        return self._img[keep], [self._tokens[i] for i in keep], keep


def ridge_setup():
    """(the tiny dataset, the library's baseline fitted on it with ridge members only, and the
    inputs of exercise 10.1: binary bags of words (not unit rows) and features of the training
    sentences and of the test split)."""
    from vsa_np.alignment.baseline import LinearBaseline, word_counts

    ds = _TinyCaptions()
    base = LinearBaseline(ds, threshold=1, models=("ridge",))
    out = {}
    for split in ("train", "test"):
        img, tokens, _ = ds.sentences_of(split)
        bags = (word_counts(tokens, base.vocab) > 0).astype(np.float64)
        images = ds.split_indices(split)
        out[split] = (bags, ds.feats[img] if split == "train" else ds.feats[images])
    return ds, base, out


@_register("10.1", "ridge_scores", "the ridge member of the linear baseline (cosine scores)")
def _check_ridge(fn):
    _, base, data = ridge_setup()
    (B, Y), (Bq, Yq) = data["train"], data["test"]
    rows = []
    for lam in (0.3, 3.0):
        member = next(m for m in base.members if m.image == "raw" and m.words == "binary"
                      and m.setting["lambda"] == lam)
        rows.append((f"S (test), lambda {lam:g}", fn(B, Y, Bq, Yq, lam),
                     base.scores("test", member)[0]))
    return rows


@_register("10.2", "caption_diversity", "distinct captions and captions copied from training")
def _check_diversity(fn):
    from vsa_np.generator.evaluate import caption_diversity

    said = ["a dog runs", "a dog runs", "a dog runs", "a cat sits", "a dog runs on grass",
            "a cat sits", "two dogs play", "a red ball"]
    captions = {i: s.split() for i, s in enumerate(said)}
    train = {tuple(s.split()) for s in ("a dog runs", "a red ball", "a dog jumps")}
    mine = fn(captions, train)
    ref = caption_diversity(captions, train)
    return [(k, mine[k], ref[k]) for k in ("distinct", "most_common", "in_training")]
