# %% [markdown]
# # Lesson 04: image-sentence retrieval, Recall@K and the median rank
#
# Paper: Sec. 4.1 and Table 1. "We consider a withheld set of images and sentences and retrieve
# items in one modality given a query from the other by sorting based on the image-sentence score
# S_kl (Section 3.1.3). We report the median rank of the closest ground truth result in the list
# and Recall@K, which measures the fraction of times a correct item was found among the top K."
#
# **What you will learn:** how Table 1's numbers are computed from one score matrix, in both
# directions; why ties are counted against the model; why R@K falls as the test set grows; why a
# per-sentence offset hurts annotation only. **What you need:** lesson 03 (the score S_kl). **How
# long it runs:** about 2 s in quick mode (`LESSONS_QUICK=1`, measured on two shared CPU cores), a
# few seconds in full mode; no training (lesson 04b trains the model and reports its numbers this
# way).
#
# Two directions, from one matrix S of scores (n_images x n_sentences, 5 sentences per image):
#
# - image annotation: image k is the query, the sentences are sorted by S[k, :]; the rank is that
#   of the best-placed of its own 5 sentences;
# - image search: sentence l is the query, the images are sorted by S[:, l]; the rank is that of
#   its one image.
#
# R@K is the percentage of queries with rank <= K (K = 1, 5, 10), Med r the median rank (1-based).
# This lesson works on synthetic score matrices, where we control how good the "model" is.

# %%
import numpy as np
from _common import QUICK, figure_dir, plt, save
from exercises import exercise

from vsa_np.alignment.retrieval import recall_metrics, retrieval_metrics, retrieval_ranks

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
# same signal strength: on Flickr8K the paper's BRNN gets R@1 16.5 for annotation and 11.8 for
# search (Table 1).

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

# %% [markdown]
# ## Summary
#
# - Table 1's numbers come from one score matrix: annotation ranks each image's best correct
#   sentence among all sentences, search ranks each sentence's image among all images.
# - Ties count against the model, or a constant score would look perfect.
# - R@K depends on the size of the test set, and a per-sentence offset (say, a length bias)
#   moves annotation only: compare numbers only on the same split and size.
