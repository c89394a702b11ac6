# %% [markdown]
# # Lesson 04b: training the alignment model (Sec. 3.3), and what to watch while it trains
#
# Paper: Sec. 3.3, "Optimization", and Table 1. "We use SGD with mini-batches of 100
# image-sentence pairs and momentum of 0.9 to optimize the alignment model. We cross-validate the
# learning rate and the weight decay. We also use dropout regularization in all layers except in
# the recurrent layers and clip gradients elementwise at 5 (important)."
#
# **What you will learn:** one training step written out (forward, backward, clipping, weight
# decay, SGD with momentum) and the library's `train_step` that is exactly it; the model trained
# on the shapes world with its retrieval numbers as Table 1 reports them (lesson 04); why the
# trainer normalises the features and rescales the first scores; the optional whitening; the
# training diagnostics (dead ReLUs, gradient against distance in time, clipping, update-to-data
# ratios); a collapsed run and how the trainer detects it. **What you need:** lessons 02-04. **How
# long it runs:** about 10 s in quick mode (`LESSONS_QUICK=1`, measured on two shared CPU cores,
# run after the lessons before it); full mode uses more data and steps (a few minutes).

# %%
import tempfile
from pathlib import Path

import numpy as np
from _common import QUICK, alignment_config, figure_dir, lesson_world, plt, save
from exercises import exercise

from gradcheck import run_checks
from vsa_np.alignment.evaluate import split_scores
from vsa_np.alignment.retrieval import retrieval_metrics, rsum
from vsa_np.alignment.train import (AlignConfig, build_model, fit_norm, scale_initial_scores,
                                    train_alignment)
from vsa_np.backend import to_host
from vsa_np.core.alignment import AlignmentModel, brnn_forward
from vsa_np.core.layers import rnn_backward, rnn_forward
from vsa_np.core.train import (SGDMomentum, add_weight_decay, clip_elementwise, step_seed,
                               train_step)
from vsa_np.data import Vocab, load_dataset, ranking_batches
from vsa_np.data.feature_families import make_family_world
from vsa_np.errors import TrainingError
from vsa_np.feature_norm import fit_on_split

FIG = figure_dir("04b_alignment_training")

# %% [markdown]
# ## Training the alignment model, and its retrieval numbers
#
# Now the real thing on the shapes world (lesson 00): the model of lessons 02-03 (Eq. 1-9), trained
# as Sec. 3.3 says: SGD with momentum 0.9 on mini-batches of image-sentence pairs (distinct images
# per batch), gradients clipped elementwise at 5 ("important"), weight decay. One training step is
# the four lines in the loop below: the body of the library's `train_step`
# (`vsa_np/core/train.py`, the step of the one loop `vsa-np train-align` runs), with the same
# clipping and decay. What the trainer does differently: it draws dropout masks (the model the
# other lessons share uses p = 0.2; here the model has none, so the loop is deterministic and
# short); before the first step it normalises the features and rescales the first scores (the
# next section shows why), which lets it use lr 1e-3 where this loop, on raw
# features at the He scales, needs 2e-4; and it adds checkpoints (the best by validation R@K), a
# log and resuming.
# After every epoch, the validation images and sentences are scored against each other (Eq. 8
# for every pair) and ranked.

# %%
rows = run_checks(["align_model_eq8"])   # the whole model's gradients, every parameter (lesson 03)
print("gradient check of the model:", {r.param: f"{r.max_rel_error:.1e}" for r in rows})
assert all(r.status == "PASS" for r in rows)

ds = load_dataset(lesson_world())
vocab = Vocab.build(ds.sentences_of("train")[1])


epochs = 7 if QUICK else 15
model = AlignmentModel(len(vocab), ds.feature_dim, word_dim=32, hidden=64, embed=64, seed=0)
opt = SGDMomentum(lr=2e-4, momentum=0.9)
losses, history = [], []
for epoch in range(epochs):
    model.training = True
    for batch in ranking_batches(ds, vocab, "train", batch_size=50, rng=epoch):
        loss, grads = model.loss(batch)                  # Eq. 1-9, forward and backward
        clip_elementwise(grads, 5.0)                     # Sec. 3.3
        add_weight_decay(model.params, grads, 1e-4)
        opt.step(model.params, grads)                    # SGD, momentum 0.9
        losses.append(float(loss))
    model.training = False
    # S (images x sentences, Eq. 8 for every pair) and each sentence's image (library helper)
    history.append(retrieval_metrics(*split_scores(model, ds, vocab, "val", regions=True)))
    print(f"epoch {epoch + 1:2d}: loss {np.mean(losses[-10:]):7.2f}   val R@1/5/10 annotation "
          + "/".join(f"{history[-1]['annotation'][f'R@{k}']:.0f}" for k in (1, 5, 10))
          + "  search " + "/".join(f"{history[-1]['search'][f'R@{k}']:.0f}" for k in (1, 5, 10)))

S_test, s2i_test = split_scores(model, ds, vocab, "test", regions=True)
test = retrieval_metrics(S_test, s2i_test)
paper = {"annotation": {"R@1": 16.5, "R@5": 40.6, "R@10": 54.2, "med_r": 7.6},
         "search": {"R@1": 11.8, "R@5": 32.1, "R@10": 44.7, "med_r": 12.4}}
print(f"\ntest, {S_test.shape[0]} images x {S_test.shape[1]} sentences (shapes world)  |  the paper's "
      f"BRNN on Flickr8K, 1000 test images (different data: for scale only)")
for d in ("annotation", "search"):
    print(f"  {d:10}  " + "  ".join(f"{k} {test[d][k]:5.1f}" for k in test[d])
          + "   |   " + "  ".join(f"{k} {paper[d][k]:5.1f}" for k in paper[d]))
assert rsum(test) > rsum(history[0]) or rsum(history[0]) > 500  # training helped

# %%
fig, axes = plt.subplots(1, 3, figsize=(15, 4))
axes[0].plot(losses, lw=0.8)
axes[0].set_yscale("log")
axes[0].set_xlabel("step")
axes[0].set_ylabel("Eq. 9 loss per pair")
axes[0].set_title("Training the alignment model")
ep = np.arange(1, epochs + 1)
for d, m in (("annotation", "o"), ("search", "s")):
    for k, c in ((1, "C0"), (5, "C1"), (10, "C2")):
        axes[1].plot(ep, [h[d][f"R@{k}"] for h in history], marker=m, color=c,
                     ls="-" if d == "annotation" else "--", ms=4, label=f"{d} R@{k}")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("%")
axes[1].set_title(f"Validation retrieval ({len(ds.split_indices('val'))} images)")
axes[1].legend(fontsize=7, ncol=2)
order = np.argsort(s2i_test, kind="stable")
shown = S_test[:, order] - S_test[:, order].mean(axis=0)    # Eq. 8 grows with sentence length
shown /= shown.std(axis=0)
im = axes[2].imshow(shown, aspect="auto", cmap="viridis", interpolation="nearest")
for k, first in enumerate(np.searchsorted(s2i_test[order], np.arange(S_test.shape[0]))):
    n_k = int((s2i_test == k).sum())
    axes[2].add_patch(plt.Rectangle((first - 0.5, k - 0.5), n_k, 1, fill=False, ec="white", lw=0.8))
axes[2].set_xlabel("test sentence (grouped by image, 5 each)")
axes[2].set_ylabel("test image")
axes[2].set_title("Test S_kl, standardised per sentence\n(white: each image's own 5 sentences)", fontsize=10)
fig.colorbar(im, ax=axes[2], shrink=0.8)
save(fig, FIG, "alignment_training")

# %% [markdown]
# ## What the trainer adds: normalised features and a rescaled start
#
# The loop above feeds the shapes world's raw features to Eq. 1 with a learning rate chosen for
# them. Users bring other features: VGG fc7 (ReLU outputs, ~70% zeros, norms near 80), a
# classifier's softmax (1000 entries summing to 1), their logarithms, z-scored or L2-normalised
# vectors. Their sizes differ by orders of magnitude, and two things in the model scale with them:
#
# - the first scores. Eq. 8 sums over the words the dot products of two h-dimensional vectors,
#   so at the He scales they are tens to thousands, while Eq. 9's margin is 1. Every hinge is
#   then far from its kink, the first gradients are huge, and within a few SGD steps the ReLUs
#   of Eq. 6 die: all scores equal, loss stuck at exactly 2(B-1) per pair (a "collapsed" run);
# - the step size. An SGD step on W_m changes v = x W_m by -lr |x|^2 dv: a feature vector 1000
#   times longer moves v a million times further for the same learning rate.
#
# So the trainer (`vsa_np/feature_norm.py`, not in the paper) first maps the features with a
# fixed linear map fitted on the training split and saved in the checkpoint, x' = (x - mu) / c,
# which centres them and gives them unit length on average (`--whiten K` also whitens the top K
# principal directions, below). Then it rescales the initial W_m and W_d so that the scores of
# the first training batch have standard deviation 0.3 (`scale_initial_scores` in
# `vsa_np/alignment/train.py`): the first loss is then about 2(B-1) per pair, the value for
# random embeddings, with every hinge active.
# Both are changes of coordinates or of initial values: the model family is still Eq. 1-9.
# One more step is not linear: class probabilities (rows >= 0 summing to 1) are first replaced
# by their logarithm (`--feature-map auto`). A softmax keeps its evidence in the ratios of its tiny
# entries, which log p (the logits up to a constant) lays out for a linear map and p hides; on
# the class-probability family this lifts the test R@10 from about 48 to about 97. The model is
# then Eq. 1 on log p, and the baselines are given log p too, so both see the same input.
#
# The numbers to expect, on three feature families of the same captions
# (`vsa_np/data/feature_families.py`, `vsa-np make-shapes DIR --family NAME`):

# %%
B = 50
tmpdir = tempfile.TemporaryDirectory(prefix="lesson04b-")    # removed at the end of the lesson
tmp = Path(tmpdir.name)
print(f"first loss per pair (2(B-1) = {2 * (B - 1)}): raw features and He scales, normalised "
      f"features, normalised and rescaled")
print(f"{'family':<10}{'raw |x|':>10}{'normalised |x|':>16}{'raw':>12}{'normalised':>12}"
      f"{'rescaled':>10}")
for family in ("fc7", "probs", "fc7_large"):
    make_family_world(tmp / family, family, n_images=200, seed=0, dim=256)
    fds = load_dataset(tmp / family)
    fcfg = AlignConfig(embed=64, hidden=64, word_dim=32, whiten=0, feature_map="auto")
    fvocab = Vocab.build(fds.sentences_of("train")[1])
    fnorm = fit_norm(fds, fcfg)
    raw = np.linalg.norm(fds.feats, axis=1).mean()
    normed = np.linalg.norm(fnorm(fds.feats.astype(np.float64)), axis=1).mean()
    first = next(iter(ranking_batches(fds, fvocab, "train", batch_size=B, rng=0, regions=False)))
    loss_raw = float(build_model(fcfg, len(fvocab), fds.feature_dim).loss(first)[0])
    fmodel = build_model(fcfg, len(fvocab), fds.feature_dim, norm=fnorm)
    loss_he = float(fmodel.loss(first)[0])
    scale_initial_scores(fmodel, first, 0.3)
    loss_scaled = float(fmodel.loss(first)[0])
    print(f"{family:<10}{raw:10.3g}{normed:16.3g}{loss_raw:12.4g}{loss_he:12.1f}"
          f"{loss_scaled:10.1f}")
    assert abs(loss_scaled / (2 * (B - 1)) - 1) < 0.1

# %% [markdown]
# Raw fc7 starts near 1000 per pair and fc7 x 1e3 near a million (with the defaults before this
# normalisation, both collapsed within an epoch); fc7 x 1e-3 would start with tiny scores and
# SGD steps on W_m a million times smaller. Normalised, every family starts near 100; rescaled,
# at 2(B-1), and the same learning rate trains them all
# (`tests/end_to_end/test_family_training.py` trains fc7, probs, logprobs, zscore
# and l2 with the defaults, not the scaled fc7 families, which normalise to fc7's features, and
# checks each against the bag-of-words baseline).
#
# Whitening (a choice of this project, not in the paper). Gradient descent on a linear map learns each principal direction of its input at a
# speed proportional to that direction's variance. The spectrum of the shapes world's centred
# region features is very steep (below): what tells a colour apart sits in the strong directions
# and is learned in a few epochs; what tells a circle from a square, or small from large, sits in
# weak ones. `--whiten 64` scales the top 64 principal directions (U_k, variances lam_i) to unit
# variance and every other direction by the gain of the 64th, so no direction the data hardly
# uses is amplified more than the weakest whitened one, then applies the same unit-length scale c:
# `x' = (x - mu) Z` with `Z = (U_k diag(1/sqrt(lam_i + eps)) U_k^T + (I - U_k U_k^T) / sqrt(lam_k + eps)) / c`
# (row vectors throughout, as lesson 02 explains). The demo
# uses it for the region features (with it the MRF puts 97-100% of the object words on their
# true region); on whole-image features of the other families it did not help, so the trainer's
# default is `--whiten 0`.
#
# Z is fixed, invertible and symmetric, so `v = (x - mu) Z W_m + b_m` (row vectors, as the code
# writes it) is still Eq. 1 on the raw features, with the matrix Z W_m and the bias
# b_m - mu Z W_m. So the model FAMILY is unchanged; its training is not. SGD works in the new
# coordinates, and so do dropout and weight decay: dropout zeroes entries of x', which after
# whitening are mixtures of the raw features, and the decay |W_m|^2 = |Z^-1 (Z W_m)|^2 penalises
# the raw-coordinate matrix Z W_m least along the directions Z amplifies. A run with whitening is
# therefore a different regulariser on the same model, not the paper's training in disguise.
# The check below computes v both ways.

# %%
norm = fit_on_split(ds.region_feats, ds.split_indices("train"), ds.n_regions, whiten=64,
                    sq_norm=1.0)
mu = norm.mean
n_img = ds.split_indices("train")[:200]
n_reg = ds.n_regions[n_img]
X = np.asarray(ds.region_feats[n_img], dtype=np.float64)[np.arange(ds.region_feats.shape[1]) < n_reg[:, None]]
Xc = X - mu
lam = np.linalg.eigvalsh(Xc.T @ Xc / len(Xc))[::-1]
Z = norm.dense()
lam_w = np.linalg.eigvalsh((Xc @ Z).T @ (Xc @ Z) / len(Xc))[::-1]
print(f"centred features: the top direction holds {100 * lam[0] / lam.sum():.0f}% of the variance, "
      f"the top 16 {100 * lam[:16].sum() / lam.sum():.0f}%; after whitening the top 16 hold "
      f"{100 * lam_w[:16].sum() / lam_w.sum():.0f}%")

# the same v = (x - mu) Z W_m + b_m, computed as Eq. 1 on the raw features with the matrix Z W_m
m_w = AlignmentModel(len(vocab), ds.feature_dim, word_dim=32, hidden=64, embed=64, seed=1,
                     dtype=np.float64, norm=norm)
W_m, b_m = to_host(m_w.params["W_m"]), to_host(m_w.params["b_m"])
v_trainer = to_host(m_w.embed_regions(X[None])[0])
v_eq1 = X @ (Z @ W_m) + (b_m - mu @ Z @ W_m)
assert np.allclose(v_trainer, v_eq1, atol=1e-8)
print("normalised model == Eq. 1 with W = Z W_m on the raw features:",
      f"max difference {np.abs(v_trainer - v_eq1).max():.1e}")

fig, ax = plt.subplots(figsize=(6.5, 3.8))
ax.semilogy(np.arange(1, 201), lam[:200], label="centred features")
ax.semilogy(np.arange(1, 201), lam_w[:200], label="centred and whitened (k = 64)")
ax.axvline(64, color="gray", ls=":")
ax.set_xlabel("principal direction")
ax.set_ylabel("variance")
ax.set_title("Spectrum of the region features (training images)")
ax.legend(fontsize=8)
save(fig, FIG, "feature_spectrum")

# %% [markdown]
# ## Training diagnostics: what to watch while the trainer runs
#
# Karpathy's makemore lectures teach training by watching its insides, not only the loss. Here is
# the library's own training step (`vsa_np.core.train.train_step`: dropout, clipping, weight
# decay, SGD with momentum), on the model the trainer builds (normalised and whitened region
# features, rescaled first scores; the shared configuration of lessons 05 and 08), with two
# listeners: one on `model.loss` (the gradients before clipping) and one on the optimiser's step
# (how far each parameter moved). Every few steps we also look at the ReLUs of Eq. 3, 4, 5 and 6
# on a fixed batch: a unit that is 0 for every word of the batch is "dead" there.

# %%
dcfg = alignment_config()
dvocab = Vocab.build(ds.sentences_of("train")[1], threshold=dcfg.word_threshold)
dmodel = build_model(dcfg, len(dvocab), ds.feature_dim, norm=fit_norm(ds, dcfg))
fixed = next(iter(ranking_batches(ds, dvocab, "train", dcfg.batch_size, rng=99, regions=True)))
scale_initial_scores(dmodel, fixed, dcfg.init_scale)
dopt = SGDMomentum(dcfg.lr, dcfg.momentum)
seen = {"clipped": [], "ratio": {k: [] for k in dmodel.params}, "dead": [], "dead_steps": []}
loss_of = dmodel.loss


def listening_loss(batch):
    loss, grads = loss_of(batch)
    g = np.concatenate([np.abs(to_host(x)).ravel() for x in grads.values()])
    seen["clipped"].append(float(np.mean(g > dcfg.grad_clip)))
    return loss, grads


step_of = dopt.step


def listening_step(params, grads):
    before = {k: to_host(v).copy() for k, v in params.items()}
    step_of(params, grads)
    for k, v in params.items():
        seen["ratio"][k].append(float(np.linalg.norm(to_host(v) - before[k])
                                      / (np.linalg.norm(before[k]) + 1e-12)))


def dead_fractions():
    """Share of units of Eq. 3, 4, 5, 6 that are 0 for every word of the fixed batch."""
    lengths = fixed["word_mask"].sum(axis=1)
    s, _, c = brnn_forward(fixed["words"], lengths, dmodel.params)
    # brnn_forward's cache (a BrnnCache): each word's place in the time-major layout of the
    # sorted sentences (lesson 02), e (the output of Eq. 3), and the caches of Eq. 4 and Eq. 5,
    # each starting with its h, (B, T, H) sorted, 0 on the padding
    slot, e, (hf, *_), (hb, *_) = c.slot, c.relu_e, c.forward, c.backward
    H = hf.shape[2]
    words_of = lambda h: h.transpose(1, 0, 2).reshape(-1, H)[slot]  # noqa: E731
    layers = {"e (Eq. 3)": e, "h^f (Eq. 4)": words_of(hf), "h^b (Eq. 5)": words_of(hb),
              "s (Eq. 6)": s}
    return {k: float(np.mean(np.all(to_host(x) <= 0, axis=0))) for k, x in layers.items()}


dmodel.loss, dopt.step = listening_loss, listening_step
step = 0
for epoch in range(2 if QUICK else 4):
    for batch in ranking_batches(ds, dvocab, "train", dcfg.batch_size,
                                 rng=np.random.default_rng([dcfg.seed, epoch]), regions=True):
        if step % 5 == 0:
            dmodel.training = False
            seen["dead"].append(dead_fractions())
            seen["dead_steps"].append(step)
        train_step(dmodel, dopt, batch, dcfg, step_seed(dcfg.seed, step))
        step += 1
dmodel.loss, dopt.step = loss_of, step_of          # the listeners off again
print(f"{step} steps of the trainer's step; gradient entries clipped at {dcfg.grad_clip:g}: "
      f"{100 * np.mean(seen['clipped'][:5]):.2f}% in the first 5 steps, "
      f"{100 * np.mean(seen['clipped'][-5:]):.2f}% in the last 5")
print("dead units (0 for every word of a batch of 50 sentences), first and last look: "
      + ", ".join(f"{k} {100 * seen['dead'][0][k]:.0f}% -> {100 * seen['dead'][-1][k]:.0f}%"
                  for k in seen["dead"][0]))
print("update / data ratio |dW| / |W| per step, median over the run (rule of thumb ~1e-3; the "
      "biases start at 0):")
print("  " + "  ".join(f"{k} {np.median(r):.1e}" for k, r in seen["ratio"].items()))
print("  the same, median of the first 5 steps -> of the last 5: " + "  ".join(
    f"{k} {np.median(r[:5]):.1e} -> {np.median(r[-5:]):.1e}" for k, r in seen["ratio"].items()
    if k.startswith("W")))

# %% [markdown]
# **Gradient against distance in time.** Why do W_f and W_b start at HALF the He scale? Through
# a ReLU recurrence the gradient that reaches word t from the state at word T is multiplied by
# W^T (masked by the active units) once per step. At the He scale sqrt(2 / H) that product keeps
# its size on average, and the states themselves keep growing, since every step adds the next
# input e_t; at half the He scale each step roughly halves it, so the recurrence stays bounded
# over a 37-word sentence and a word's context fades over a few words (lesson 02's influence
# figure). Below, 50 random sequences of 37 ReLU inputs of unit size: the gradient of the last
# state reaching each earlier input, and the size of the state, at 0.5 and 1.0 of the He scale
# and with the trained W_f.

# %%
H = dmodel.params["W_f"].shape[0]
gen = np.random.default_rng(0)
a_in = np.maximum(gen.standard_normal((50, 37, H)), 0)
reach = {}
for label, Wh in (("0.5 He (the init)", 0.5 * np.sqrt(2 / H) * gen.standard_normal((H, H))),
                  ("1.0 He", np.sqrt(2 / H) * gen.standard_normal((H, H))),
                  ("trained W_f", to_host(dmodel.params["W_f"]).astype(np.float64))):
    hs, cache = rnn_forward(a_in, Wh, np.zeros(H))
    dh = np.zeros_like(hs)
    dh[:, -1] = gen.standard_normal((50, H)) / np.sqrt(H)
    da = rnn_backward(dh, cache)[0]
    reach[label] = (np.linalg.norm(da, axis=2).mean(axis=0)[::-1], np.linalg.norm(hs, axis=2).mean(axis=0))
    print(f"{label:18}: gradient at distance 0 / 5 / 20: " + " / ".join(
        f"{reach[label][0][d]:.2e}" for d in (0, 5, 20)) + f";  |h_t| at t = 1 / 37: "
        f"{reach[label][1][0]:.1f} / {reach[label][1][-1]:.1f}")
assert reach["0.5 He (the init)"][0][20] < reach["1.0 He"][0][20]

fig, axes = plt.subplots(2, 2, figsize=(12, 7.5))
steps_d = seen["dead_steps"]
for k in seen["dead"][0]:
    axes[0, 0].plot(steps_d, [100 * d[k] for d in seen["dead"]], "o-", ms=3, label=k)
axes[0, 0].set_xlabel("step")
axes[0, 0].set_ylabel("% of units dead on a batch")
axes[0, 0].set_title("Dead ReLUs per layer")
axes[0, 0].legend(fontsize=8)
for label, (g_d, _) in reach.items():
    axes[0, 1].semilogy(np.arange(len(g_d)), g_d, label=label)
axes[0, 1].set_xlabel("distance T - t (words back)")
axes[0, 1].set_ylabel("|d h_T / d a_t| (mean over 50)")
axes[0, 1].set_title("Gradient against distance through Eq. 4")
axes[0, 1].legend(fontsize=8)
axes[1, 0].plot(100 * np.array(seen["clipped"]), lw=0.8)
axes[1, 0].set_xlabel("step")
axes[1, 0].set_ylabel(f"% of gradient entries over {dcfg.grad_clip:g}")
axes[1, 0].set_title("What elementwise clipping touches")
for k, r in seen["ratio"].items():
    if k.startswith("W_"):          # the biases start at 0: their first ratio is meaningless
        axes[1, 1].semilogy(r, lw=0.8, label=k)
axes[1, 1].axhline(1e-3, color="k", ls=":", lw=1)
axes[1, 1].set_xlabel("step")
axes[1, 1].set_ylabel("|update| / |parameter|")
axes[1, 1].set_title("Update-to-data ratio per weight matrix")
axes[1, 1].legend(fontsize=7, ncol=3)
fig.tight_layout()
save(fig, FIG, "training_diagnostics")

# %% [markdown]
# How to read them. Dead units: a few percent is normal for ReLUs; a layer near 100% has stopped
# learning (the "collapsed" run of the trainer's warning: all scores equal). Here Eq. 6's output
# units are the ones that die as training starts (the printed line; none in Eq. 3-5): a unit of s
# that is 0 for every word contributes nothing to any score, and watching this number is how a
# collapse is caught early. Clipping: with the per-pair loss of `ranking_loss` it touches a
# few hundredths of a percent of the entries (lesson 03 has the sum for comparison), so it guards
# against the rare huge step rather than shaping every step. Update-to-data ratios: Karpathy's
# rule of thumb is about 1e-3 per step; far above, a parameter's learning rate is too high for
# it, far below, it hardly learns. In full mode W_m, W_d and W_w start well above it and come
# down as training goes on: the line "median of the first 5 steps -> of the last 5" prints, in
# full mode, W_m 4.7e-3 -> 1.1e-3, W_w 6.2e-3 -> 1.1e-3, W_d 3.3e-2 -> 1.9e-3 (medians 1.6e-3
# to 3.1e-3 over the full lesson's 400 steps). Quick mode's 40 steps show the opposite: the
# ratios rise (W_m 6.5e-3 -> 1.4e-2, W_w 7.7e-3 -> 1.8e-2, W_e 9.2e-4 -> 2.6e-3; W_d stays at
# 2.2e-2; medians between 2e-3 and 3e-2); 40 steps are only the start of training, before the ratios turn
# down. In full mode the recurrent matrices stay near the rule of thumb (medians W_f 9.3e-4,
# W_b 1.5e-3) and W_e is below it (3.2e-4). Gradient against
# distance: at the He scale the gradient from the end reaches the first word undiminished (it
# even grows) while the state grows with every word; at half the scale it shrinks about
# fifteenfold every five words and the state stays bounded: words mostly see their near context,
# and the sentence-long reach must be learned. After this short run W_f has hardly moved from its
# initial scale (the green curve on the blue one).

# %% [markdown]
# ## A collapsed run, and how the trainer catches it
#
# The failure this lesson's diagnostics are for. Take a small region model as the trainer builds
# it by default (features normalised but not whitened, unlike the shared model above; first
# scores rescaled to std 0.3; no dropout here), and train it with a learning rate ten times the
# default (1e-2 instead of 1e-3). Every step we record the training loss and, on a fixed batch,
# the standard deviation of its 50 x 50 scores and the share of Eq. 6's output units that are 0
# for every word.

# %%
Bc = 50
ccfg = AlignConfig(regions=True, epochs=3, batch_size=Bc, embed=64, hidden=64, word_dim=32,
                   lr=1e-2, momentum=0.9, weight_decay=1e-4, grad_clip=5.0, dropout=0.0,
                   whiten=0, init_scale=0.3, word_threshold=5, seed=0, feature_map="auto")
cvocab = Vocab.build(ds.sentences_of("train")[1], threshold=ccfg.word_threshold)
cmodel = build_model(ccfg, len(cvocab), ds.feature_dim, norm=fit_norm(ds, ccfg))
cfixed = next(iter(ranking_batches(ds, cvocab, "train", Bc, rng=0, regions=True)))
scale_initial_scores(cmodel, cfixed, ccfg.init_scale)
copt = SGDMomentum(ccfg.lr, ccfg.momentum)
trace, cstep = [], 0                                   # (loss, std of S, dead share of s)
for epoch in range(ccfg.epochs):
    for batch in ranking_batches(ds, cvocab, "train", Bc,
                                 rng=np.random.default_rng([ccfg.seed, epoch]), regions=True):
        loss = float(train_step(cmodel, copt, batch, ccfg, step_seed(ccfg.seed, cstep)))
        cstep += 1
        cmodel.training = False
        v = cmodel.embed_regions(cfixed["regions"])
        s, seg = cmodel.embed_sentences(cfixed["words"], cfixed["word_mask"])
        S_f = to_host(cmodel.scores(v, cfixed["region_mask"], s, seg, v.shape[0]))
        trace.append((loss, float(S_f.std()), float(np.mean(np.all(to_host(s) <= 0, axis=0)))))
collapsed_at = next((i + 1 for i, t in enumerate(trace) if t[1] < 1e-6), None)
print(f"lr 1e-2, {cstep} steps: loss per pair at steps 1 / 5 / last: {trace[0][0]:.1f} / "
      f"{trace[4][0]:.1f} / {trace[-1][0]:.1f} (2(B-1) = {2 * (Bc - 1)}); std of the fixed "
      f"batch's scores {trace[0][1]:.2f} -> {trace[-1][1]:.2g}; dead units of s "
      f"{100 * trace[0][2]:.0f}% -> {100 * trace[-1][2]:.0f}%; every score equal from step "
      f"{collapsed_at}")
assert collapsed_at is not None and trace[-1][0] == 2 * (Bc - 1) and trace[-1][2] == 1.0

fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
for ax, k, label in zip(axes, range(3), ("loss per pair", "std of the scores", "% of s dead")):
    ax.plot(np.arange(1, cstep + 1), [t[k] * (100 if k == 2 else 1) for t in trace], "o-", ms=3)
    ax.set_xlabel("step")
    ax.set_title(label)
axes[0].axhline(2 * (Bc - 1), color="gray", ls=":", label="2(B-1)")
axes[0].legend(fontsize=8)
fig.suptitle("A collapsed run: lr 1e-2, ten times the trainer's default", fontsize=10)
fig.tight_layout()
save(fig, FIG, "collapsed_run")

# %% [markdown]
# What happened: a few large steps push the pre-activations of Eq. 6 below zero for every word,
# one unit after another (the right panel); a unit of s that is 0 for every word sends no
# gradient back (the ReLU's gradient is 0 there), so it never comes back. When the last one dies
# every s_t is 0, every score S_kl is 0 (middle panel), every hinge of Eq. 9 sits at exactly its
# margin, and the loss is exactly 2(B-1) = 98 per pair from then on (left panel), whatever the
# batch. Eq. 9 sends no gradient from then on (every gradient of the loss is 0); only weight
# decay and the momentum left over still move the weights, and nothing brings the units back. The
# printed line: in quick mode every
# score of the fixed batch is equal from step 28 of 60 (the units of s 5% dead at step 1, 100% at
# the end); in full mode from step 38 of 300 (8% -> 100%).
#
# The trainer (`vsa_np/alignment/train.py`, class `Watch`) checks every validation for exactly
# this: the standard deviation of the validation scores below 1e-6 stops the run with a message
# (a `TrainingError`) that names the step and says what to try; the checkpoints kept so far stay
# on disk. The same configuration, given to the trainer, is stopped at its first validation
# whose scores are all equal: in quick mode at step 60, the third (the validation sentences kept
# a live unit of s a little longer than the fixed batch), in full mode at step 100, the first,
# before any checkpoint was written (the printed messages).

# %%
try:
    train_alignment(lesson_world(), tmp / "collapsed", ccfg, quiet=True, log=lambda *a: None)
    caught = "the trainer did not stop the run"
except TrainingError as err:
    print("the trainer stopped it:", err)
    caught = str(err)
assert "collapsed" in caught

# %% [markdown]
# ## One training step, written out
#
# Sec. 3.3 in one update, for every parameter W with gradient g (from Eq. 1-9 and back):
#
#     g <- clip(g, -5, 5)                      elementwise, "important"
#     g <- g + lambda W                        weight decay, on the matrices only (not biases)
#     v <- mu v - lr g                         momentum mu = 0.9, v starts at 0
#     W <- W + v
#
# The order matters: the decay is added after clipping, so a clipped entry still feels it, and
# the clip acts on the loss's gradient only. `vsa_np.core.train.train_step` is these lines:
# `clip_elementwise`, `add_weight_decay`, `SGDMomentum.step`. The two exercises below write the
# step from the core's functions, and the check runs three steps of yours against three of
# `train_step` from the same start (`exercises.alignment_setup`: five pairs, a padded region).

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error and, when wrong, the first entry that differs (worked solutions
# in `lessons/solutions/lesson04b.py`, used in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 04b.1: the model's loss and gradients.** Write `alignment_loss(params, batch) ->
# (loss, grads)` from the core's functions in `vsa_np/core/alignment.py` (`region_embed_forward`,
# `brnn_forward`, `score_forward`, `ranking_loss` and the backward passes; no dropout, no
# feature map), with `grads` keyed like `params`: what `AlignmentModel.loss` does. The batch has a
# padded region slot (`batch["region_mask"]`) that holds a real region scaled by 2 (a plain copy
# would only tie): leave the mask out and it wins words, and the check fails.

# %%
def alignment_loss(params, batch):
    raise NotImplementedError  # your code here


exercise("04b.1", alignment_loss)

# %% [markdown]
# **Exercise 04b.2: one training step.** Write `alignment_step(params, velocity, batch, cfg)`:
# your `alignment_loss`, then the four lines above with `cfg.grad_clip`, `cfg.weight_decay`,
# `cfg.momentum`, `cfg.lr`, updating `params` and `velocity` (a dict, empty at the start) in
# place; return the loss. The check uses a small clip (0.02, most entries clipped) and a large
# decay (0.1), so decaying the biases, decaying before clipping, clipping the gradient's norm
# instead of its entries, or leaving out the momentum each fail it.

# %%
def alignment_step(params, velocity, batch, cfg):
    raise NotImplementedError  # your code here


exercise("04b.2", alignment_step)

# %%
tmpdir.cleanup()                                      # the feature families and the run above

# %% [markdown]
# ## Summary
#
# - One step of Sec. 3.3 is clip, decay, momentum: `train_step`, four lines, and the trainer's
#   loop calls only it; the numbers of this lesson's run are reported as Table 1 does (lesson 04).
# - Features of any size are mapped to unit length on average and the first scores rescaled to
#   std 0.3, so the first loss is 2(B-1) per pair and one learning rate fits every feature family.
# - Whitening is Eq. 1 in other coordinates: the same model, a different regulariser.
# - Watch dead units, clipping and update-to-data ratios; a run whose Eq. 6 units all die sits at
#   2(B-1) for ever, and the trainer stops it at the next validation.
