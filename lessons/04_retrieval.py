# %% [markdown]
# # Lesson 04: image-sentence retrieval, Recall@K and the median rank
#
# Paper: Sec. 4.1 and Table 1. "We consider a withheld set of images and sentences and retrieve
# items in one modality given a query from the other by sorting based on the image-sentence score
# S_kl (Section 3.1.3). We report the median rank of the closest ground truth result in the list
# and Recall@K, which measures the fraction of times a correct item was found among the top K."
#
# Two directions, from one matrix S of scores (n_images x n_sentences, 5 sentences per image):
#
# - image annotation: image k is the query, the sentences are sorted by S[k, :]; the rank is that
#   of the best-placed of its own 5 sentences;
# - image search: sentence l is the query, the images are sorted by S[:, l]; the rank is that of
#   its one image.
#
# R@K is the percentage of queries with rank <= K (K = 1, 5, 10), Med r the median rank (1-based).
# The first half of this lesson works on synthetic score matrices, where we control how good the
# "model" is; the second trains the alignment model on the shapes world and reports its numbers
# the way Table 1 does.

# %%
import tempfile
from pathlib import Path

import numpy as np
from _common import QUICK, alignment_config, figure_dir, lesson_world, plt, save
from exercises import exercise

from gradcheck import run_checks
from vsa_np.alignment.evaluate import split_scores
from vsa_np.alignment.retrieval import recall_metrics, retrieval_metrics, retrieval_ranks, rsum
from vsa_np.alignment.train import AlignConfig, build_model, fit_norm, scale_initial_scores
from vsa_np.backend import to_host
from vsa_np.core.alignment import AlignmentModel, brnn_forward
from vsa_np.core.layers import rnn_backward, rnn_forward
from vsa_np.core.train import (SGDMomentum, add_weight_decay, clip_elementwise, step_seed,
                               train_step)
from vsa_np.data import Vocab, load_dataset, ranking_batches
from vsa_np.data.feature_families import make_family_world
from vsa_np.feature_norm import fit_on_split

FIG = figure_dir("04_retrieval")


def synthetic_scores(n_images, signal, per_sentence=0.0, seed=0):
    """S = signal * [sentence l describes image k] + noise (+ an offset per sentence).

    Returns (S (n_images, 5 n_images), sent_to_image (5 n_images,)).
    """
    g = np.random.default_rng(seed)
    s2i = np.repeat(np.arange(n_images), 5)
    S = g.standard_normal((n_images, 5 * n_images))
    S[s2i, np.arange(5 * n_images)] += signal
    S += per_sentence * g.standard_normal(5 * n_images)[None, :]
    return S, s2i


# %% [markdown]
# ## One query by hand
#
# For image 0 of a small test set: sort all sentences by score, find where its own sentences land.
# The rank counts a wrong sentence that scores exactly as high as the best correct one as AHEAD of
# it (pessimistic ties): rank = 1 + #{wrong sentences with S >= the best correct score}. Otherwise
# a model that gives every pair the same score would get R@1 = 100.

# %%
S, s2i = synthetic_scores(20, signal=2.0)
order = np.argsort(-S[0])                      # sentences, best first
positions = np.nonzero(s2i[order] == 0)[0] + 1  # 1-based places of image 0's own sentences
print("image 0's sentences are ranked at", positions.tolist(), "-> rank", positions.min())
ann, search = retrieval_ranks(S, s2i)
print("library: annotation rank of image 0 =", ann[0])
assert ann[0] == positions.min()

l = 7  # a sentence of image 1
by_hand = 1 + int((S[:, l] > S[s2i[l], l]).sum())
print(f"sentence {l} (of image {s2i[l]}): its image ranks {by_hand}; library {search[l]}")
assert search[l] == by_hand

ties = np.zeros((3, 15))
print("all scores equal -> annotation ranks", retrieval_ranks(ties, np.repeat(np.arange(3), 5))[0],
      "(the worst possible: 10 wrong sentences ahead)")

# %% [markdown]
# ## Recall@K and the median rank
#
# `retrieval_metrics(S, sent_to_image)` gives both directions as in Table 1. R@K as a function of
# K is a cumulative histogram of the ranks; Med r is where that curve crosses 50%. Annotation has
# five chances per query (any of the five sentences will do), so it is easier than search at the
# same signal strength: the paper's BRNN gets R@1 16.5 for annotation and 11.8 for search.

# %%
n_images = 200 if QUICK else 1000
ks = np.arange(1, 51)
signals = [1.5, 2.5, 3.5]
fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
for signal in signals:
    S, s2i = synthetic_scores(n_images, signal)
    ann, search = retrieval_ranks(S, s2i)
    m = retrieval_metrics(S, s2i)
    print(f"signal {signal}: " + "   ".join(
        f"{d} " + " ".join(f"{k} {v:g}" for k, v in m[d].items()) for d in m))
    for ax, ranks in zip(axes, (ann, search)):
        curve = [recall_metrics(ranks, ks=[k])[f"R@{k}"] for k in ks]
        assert np.allclose(curve, [100 * (ranks <= k).mean() for k in ks])
        ax.plot(ks, curve, label=f"signal {signal} (Med r {np.median(ranks):g})")
for ax, title in zip(axes, ("image annotation (image -> sentences)", "image search (sentence -> images)")):
    for k in (1, 5, 10):
        ax.axvline(k, color="gray", ls=":", lw=0.8)
    ax.axhline(50, color="gray", ls="--", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks([1, 2, 5, 10, 20, 50], ["1", "2", "5", "10", "20", "50"])
    ax.set_xlabel("K")
    ax.set_title(title)
    ax.legend(fontsize=8)
axes[0].set_ylabel("Recall@K (%)")
fig.suptitle(f"Synthetic scores, {n_images} test images x 5 sentences")
save(fig, FIG, "recall_vs_k")

# %% [markdown]
# ## Recall@K depends on the size of the test set
#
# The same model looks worse on a bigger test set: with five times as many images, there are five
# times as many wrong candidates that can get ahead of the right one by chance. The paper reports
# MSCOCO on 1,000 and on 5,000 test images for this reason ("the 5000 images numbers are lower
# since Recall@K is a function of test set size"). Same signal, growing test set:

# %%
sizes = [100, 300, 1000] if QUICK else [100, 300, 1000, 3000]
r1 = []
for n in sizes:
    m = retrieval_metrics(*synthetic_scores(n, 3.0, seed=1))
    r1.append((m["annotation"]["R@1"], m["search"]["R@1"], m["search"]["med_r"]))
    print(f"{n:5d} images: annotation R@1 {r1[-1][0]:5.1f}  search R@1 {r1[-1][1]:5.1f}  "
          f"search Med r {r1[-1][2]:g}")

# %% [markdown]
# ## Why a per-sentence offset hurts only annotation
#
# The score of Eq. 8 is a SUM over the words of a sentence, so a long sentence tends to score
# higher against every image. When the query is a sentence (search), such an offset shifts all of
# its candidates equally and the order is unchanged; when the query is an image (annotation), the
# long sentences of other images crowd the top of the list. Adding an offset per sentence to the
# synthetic scores shows exactly this:

# %%
offsets = [0.0, 0.5, 1.0, 2.0]
rows = []
for off in offsets:
    m = retrieval_metrics(*synthetic_scores(n_images, 3.0, per_sentence=off, seed=2))
    rows.append((m["annotation"]["R@5"], m["search"]["R@5"]))
    print(f"per-sentence offset sd {off}: annotation R@5 {rows[-1][0]:5.1f}  search R@5 {rows[-1][1]:5.1f}")
assert len({r[1] for r in rows}) == 1  # search is untouched: same noise, offsets cancel

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax.plot(sizes, [r[0] for r in r1], "o-", label="annotation R@1")
ax.plot(sizes, [r[1] for r in r1], "s-", label="search R@1")
ax.set_xscale("log")
ax.set_xticks(sizes, [str(n) for n in sizes])
ax.set_xlabel("test images")
ax.set_ylabel("%")
ax.set_title("Same model, bigger test set")
ax.legend(fontsize=8)
ax2.plot(offsets, [r[0] for r in rows], "o-", label="annotation R@5")
ax2.plot(offsets, [r[1] for r in rows], "s-", label="search R@5")
ax2.set_xlabel("sd of a per-sentence score offset")
ax2.set_title("Sentence-length bias affects annotation only")
ax2.legend(fontsize=8)
save(fig, FIG, "test_size_and_offsets")

# %% [markdown]
# ## Training the alignment model, and its retrieval numbers
#
# Now the real thing on the shapes world (lesson 00): the model of lessons 02-03 (Eq. 1-9), trained
# as Sec. 3.3 says: SGD with momentum 0.9 on mini-batches of image-sentence pairs (distinct images
# per batch), gradients clipped elementwise at 5 ("important"), weight decay. One training step is
# the four lines in the loop below: the body of the library's `train_step`
# (`vsa_np/core/train.py`, the step of the one loop `vsa-np train-align` runs), with the same
# clipping and decay. What the trainer does differently: it draws dropout masks (its default
# p = 0.5, the other lessons' model 0.2; here the model has none, so the loop is deterministic and
# short); before the first step it normalises the features and rescales the first scores (the
# last section of this lesson shows why), which lets it use lr 1e-3 where this loop, on raw
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
# by their logarithm (`--log-probs auto`). A softmax keeps its evidence in the ratios of its tiny
# entries, which log p (the logits up to a constant) lays out for a linear map and p hides; on
# the class-probability family this lifts the test R@10 from about 48 to about 97. The model is
# then Eq. 1 on log p, and the baselines are given log p too, so both see the same input.
#
# The numbers to expect, on three feature families of the same captions
# (`vsa_np/data/feature_families.py`, `vsa-np make-shapes DIR --family NAME`):

# %%
B = 50
tmp = Path(tempfile.mkdtemp(prefix="lesson04-"))
print(f"first loss per pair (2(B-1) = {2 * (B - 1)}): raw features and He scales, normalised "
      f"features, normalised and rescaled")
print(f"{'family':<10}{'raw |x|':>10}{'normalised |x|':>16}{'raw':>12}{'normalised':>12}"
      f"{'rescaled':>10}")
for family in ("fc7", "probs", "fc7_large"):
    make_family_world(tmp / family, family, n_images=200, seed=0, dim=256)
    fds = load_dataset(tmp / family)
    fcfg = AlignConfig(embed=64, hidden=64, word_dim=32)
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
# (`tests/end_to_end/test_family_training.py` trains each family with the defaults and checks it
# against the bag-of-words baseline).
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
# 2.2e-2; medians about 1e-2); 40 steps are only the start of training, before the ratios turn
# down. In full mode the recurrent matrices stay near the rule of thumb (medians W_f 9.3e-4,
# W_b 1.5e-3) and W_e is below it (3.2e-4). Gradient against
# distance: at the He scale the gradient from the end reaches the first word undiminished (it
# even grows) while the state grows with every word; at half the scale it shrinks about
# twentyfold every five words and the state stays bounded: words mostly see their near context,
# and the sentence-long reach must be learned. After this short run W_f has hardly moved from its
# initial scale (the green curve on the blue one).

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error (skipped while it is a stub; worked solutions in
# `lessons/solutions/lesson04.py`, used in quick mode or with LESSONS_SOLUTIONS=1). The fixed
# scores are small whole numbers, so ties are everywhere, and tied entries sit both before and
# after the correct one: counting ties for the model (`>`), or reading the rank off an argsort
# (which breaks a tie by position), gives a smaller rank on some query and fails.
#
# **Exercise 04.1: annotation ranks.** S (n_images, n_sentences), s2i the image of each sentence.
# Write `annotation_ranks(S, s2i)`: for each image, the 1-based rank of its best-scoring correct
# sentence, counting every wrong sentence that scores at least as high as ahead of it.

# %%
def annotation_ranks(S, s2i):
    raise NotImplementedError  # your code here


exercise("04.1", annotation_ranks)

# %% [markdown]
# **Exercise 04.2: search ranks.** Write `search_ranks(S, s2i)`: for each sentence, the rank of
# its own image among all images, ties again counted against the model. R@K is then the share
# of ranks <= K.

# %%
def search_ranks(S, s2i):
    raise NotImplementedError  # your code here


exercise("04.2", search_ranks)
