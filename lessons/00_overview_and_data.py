# %% [markdown]
# # Lesson 00: the paper in one page, and the data it learns from
#
# Paper: Sec. 3 (overview, Figure 2), Sec. 3.1.1 (image regions), Sec. 4 (datasets and
# preprocessing).
#
# **What you will learn:** the paper's two models and this course's map; Flickr8K's sentences and
# vocabulary and a real fc7 feature (when the shared data folder is there); the shapes world the
# lessons train on, its ground truth, what its features know, and the two batch forms. **What you
# need:** NumPy; nothing from the paper yet. **How long it runs:** about 11 s in quick mode
# (`LESSONS_QUICK=1`, measured on two shared CPU cores, run after the lessons before it; it makes
# the shapes world the first time, 35 s of it in full mode); full mode uses more data and steps.
#
# The paper has two models, trained one after the other (Figure 2):
#
# 1. an **alignment model** (Sec. 3.1, Eq. 1-9): image regions (Eq. 1) and the words of a sentence
#    (a bidirectional RNN, Eq. 2-6) are embedded in one space, where an image-sentence score
#    (Eq. 8) is trained with a ranking loss (Eq. 9) from nothing but (image, sentence) pairs. A
#    chain MRF (Eq. 10-12) then turns its word-region scores into snippets of text on regions;
# 2. a **multimodal RNN** (Sec. 3.2, Eq. 13-15) that generates text from an image: trained on full
#    images and their sentences, or on the regions and snippets the first model inferred.
#
# | lesson | part |
# |---|---|
# | 01 | layers and gradient checks (the building blocks of both models) |
# | 02, 03 | the BRNN (Eq. 2-6); the score and the ranking loss (Eq. 7-9) |
# | 04 | retrieval: Recall@K, median rank, ties (Sec. 4.1, Table 1) |
# | 04b | training the alignment model: one step, normalised features, diagnostics, a collapse (Sec. 3.3) |
# | 05 | the MRF and Viterbi (Eq. 10-12) |
# | 06 | the multimodal RNN (Eq. 13-15), greedy and beam search decoding |
# | 07 | the evaluation metrics (BLEU, METEOR, CIDEr, ROUGE-L; Tables 2-3) |
# | 08 | region-level generation (Sec. 4.3, Table 3) |
# | 09 | the image side: convolution, pooling, a CNN trained from scratch (Sec. 3.1.1) |
# | 10 | real captions: both models and their baselines on 1000 real Flickr8K pictures (Sec. 4) |
#
# In vsa-np the paper's maths is `vsa_np/core/`: the layers, the alignment model, the MRF, the
# generator and its decoders, the optimisers and the training loop, one file each; the lessons
# import it directly. The rest of the package reads the data, runs and evaluates it.
#
# This lesson is about the inputs: sentences, and CNN features of images and of their regions.

# %%
import json
from collections import Counter

import numpy as np
from _common import figure_dir, lesson_world, plt, save, shared_data
from exercises import exercise
from PIL import Image

from vsa_np.data import Vocab, caption_batches, load_dataset, load_alignments, ranking_batches
from vsa_np.data.features import read_named_features

FIG = figure_dir("00_overview_and_data")

# %% [markdown]
# ## Flickr8K: the sentences
#
# Sec. 4: Flickr8K has 8,000 images with 5 sentences each, written by people on Amazon Mechanical
# Turk; 6,000 train, 1,000 validation, 1,000 test. "We convert all sentences to lowercase, discard
# non-alphanumeric characters. We filter words to those that occur at least 5 times in the training
# set, which results in 2538 [...] words for Flickr8k". The 2,538 counts one special token: in
# vsa-np, index 0 is `<end>`, fed as START at the first step of the generator and predicted as END
# after the last word (the paper's released code does the same).
#
# The captions (not the image features, about 130 MB) are in the project's shared data folder when
# it is there; the cell below uses them if it can and says so if not.

# %%
shared = shared_data()
flickr = shared / "flickr8k" if shared else None
if flickr is not None and flickr.is_dir():
    f8k = load_dataset(flickr / "dataset_flickr8k.json", features=False, regions=False)
    _, train_tokens, _ = f8k.sentences_of("train")
    vocab = Vocab.build(train_tokens, threshold=5)
    lengths = np.array([len(s["tokens"]) for im in f8k.images for s in im["sentences"]])
    print(f"Flickr8K: {len(f8k)} images, {len(lengths)} sentences; splits "
          + ", ".join(f"{s} {len(f8k.split_indices(s))}" for s in ("train", "val", "test")))
    print(f"vocabulary: {vocab} (the paper: 2538); mean length {lengths.mean():.1f} words, "
          f"longest {lengths.max()}")
    assert len(vocab) == 2538
    counts = np.array(sorted(Counter(w for t in train_tokens for w in t).values(), reverse=True))

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.6))
    ax.hist(lengths, bins=np.arange(0.5, lengths.max() + 1.5), color="tab:blue")
    ax.axvline(lengths.mean(), color="k", ls="--", label=f"mean {lengths.mean():.1f}")
    ax.set_xlabel("words per sentence")
    ax.set_ylabel("sentences")
    ax.set_title("Flickr8K sentence lengths")
    ax.legend()
    ax2.loglog(np.arange(1, len(counts) + 1), counts)
    ax2.axhline(5, color="tab:red", ls="--", label=f"count 5: {int((counts >= 5).sum())} words kept")
    ax2.set_xlabel("word rank")
    ax2.set_ylabel("count in the training split")
    ax2.set_title(f"Zipf: {len(counts)} distinct training words")
    ax2.legend()
    save(fig, FIG, "flickr8k_sentences")
else:
    print("the shared Flickr8K captions are not here: skipping this part")

# %% [markdown]
# ## CNN features
#
# The paper does not train a CNN. Each image, and each of its regions, is described by the
# 4096 numbers of the fc7 layer of a CNN trained on ImageNet (VGG-16 for generation, Sec. 4.2;
# regions come from an RCNN detector: "the top 19 detected locations in addition to the whole
# image", Sec. 3.1.1). fc7 follows a ReLU, so many entries are exactly 0. The released `vgg_feats.mat`
# stores them as a (4096, N) matrix, one image per COLUMN. A real example, from the paper's own
# code's example folder (when the shared data is here):

# %%
examples = shared / "neuraltalk_examples" if shared else None
if examples is not None and examples.is_dir():
    from PIL import Image

    names, fc7 = read_named_features(examples)
    print(f"{len(names)} photos, fc7 features {fc7.shape}; "
          f"{100 * (fc7 == 0).mean():.0f}% of the entries are exactly 0 (ReLU)")
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 2.5]})
    axes[0].imshow(Image.open(examples / "images" / names[0]))
    axes[0].axis("off")
    axes[0].set_title(names[0], fontsize=8)
    axes[1].plot(fc7[0], lw=0.5)
    axes[1].set_xlabel("fc7 unit")
    axes[1].set_title("its 4096-d VGG-16 fc7 feature: CNN(I) of Eq. 13")
    save(fig, FIG, "fc7_example")
else:
    print("the shared neuraltalk examples are not here: skipping this part")

# %% [markdown]
# ## The shapes world: the same layout, made on the spot
#
# Flickr8K's features need a download, and its sentences have no word-to-region ground truth. The
# shapes world (`vsa_np.data.shapes`, `vsa-np make-shapes`) is a synthetic dataset in exactly the
# released layout: 128 x 128 pictures of 1 to 4 coloured shapes among clutter, five captions per
# image from a small grammar, "fc7" features from a fixed random CNN written in NumPy, regions
# (region 0 = the whole image, then one box per object, then distractor boxes over clutter), and,
# what real data never has, the region each word refers to (`alignments.json`). Every later lesson
# that trains something trains it here.

# %%
world = lesson_world()
ds = load_dataset(world)
align = load_alignments(world)
print(f"{ds.name}: {len(ds)} images ({', '.join(f'{s} {len(ds.split_indices(s))}' for s in ('train', 'val', 'test'))}); "
      f"whole-image features {ds.feats.shape}, region features {ds.region_feats.shape}, "
      f"boxes {ds.boxes.shape}")
# The loader keeps what every dataset has; the shapes world's JSON also lists each image's objects.
objects = [im["objects"] for im in json.loads((world / "dataset_shapes.json").read_text())["images"]]
_, shape_tokens, _ = ds.sentences_of("train")
shape_vocab = Vocab.build(shape_tokens)
print(f"vocabulary {shape_vocab}: {' '.join(shape_vocab.words)}")

# %%
palette = plt.get_cmap("tab10")
fig, axes = plt.subplots(2, 3, figsize=(13, 10))
for ax, i in zip(axes.ravel(), ds.split_indices("train")[:6]):
    im = ds.images[i]
    picture = Image.open(ds.root / "images" / im["filename"])
    ax.imshow(picture)
    for r in range(ds.n_regions[i]):
        x0, y0, x1, y1 = ds.boxes[i, r]
        is_object = 1 <= r <= len(objects[i])
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False,
                                   ec=palette(r) if is_object else "white",
                                   lw=2 if is_object else 0.8, ls="-" if is_object else ":"))
    sent = im["sentences"][4]
    regions = align[sent["sentid"]]["regions"]
    # The caption under its picture, each word in the colour of the region it names (black: no
    # region), wrapped at the picture's width (x and y in the picture's pixels).
    width, height = picture.size
    px_per_char, line = width / 50, height / 20
    x, y = 0.0, height + line
    for w, r in zip(sent["tokens"], regions):
        if x + len(w) * px_per_char > width:
            x, y = 0.0, y + line
        ax.text(x, y, w, fontsize=8, va="top", color=palette(r) if r > 0 else "black",
                clip_on=False)
        x += (len(w) + 1) * px_per_char
    ax.set_xticks([])
    ax.set_yticks([])
fig.subplots_adjust(hspace=0.45, wspace=0.08)
fig.suptitle("Shapes world: object regions (solid), distractor regions (dotted), and one caption "
             "with the ground-truth region of every word (same colour)")
save(fig, FIG, "shapes_examples")

# %% [markdown]
# ## What the features know
#
# The random CNN is never trained, yet colour, shape and size stay linearly readable from its
# features, which is all Eq. 1 (a linear map) needs. A 2-d PCA of the object regions' features:

# %%
feats, colours, shapes = [], [], []
for i in range(len(ds)):
    for o in objects[i]:
        feats.append(ds.region_feats[i, o["region"]])
        colours.append(o["colour"])
        shapes.append(o["shape"])
X = np.asarray(feats, np.float64)
X -= X.mean(axis=0)
_, _, Vt = np.linalg.svd(X, full_matrices=False)
P = X @ Vt[:2].T
colour_rgb = {"red": "#d62728", "green": "#2ca02c", "blue": "#1f77b4", "yellow": "#e6c300",
              "purple": "#9467bd"}
markers = {"circle": "o", "square": "s", "triangle": "^", "star": "*"}
fig, ax = plt.subplots(figsize=(6.5, 5))
for s, m in markers.items():
    for c, rgb in colour_rgb.items():
        sel = [(a == s and b == c) for a, b in zip(shapes, colours)]
        if any(sel):
            ax.scatter(P[sel, 0], P[sel, 1], c=rgb, marker=m, s=22, alpha=0.7,
                       label=s if c == "red" else None)
ax.set_xlabel("principal component 1")
ax.set_ylabel("principal component 2")
ax.set_title(f"{len(X)} object regions, {ds.feature_dim}-d random-CNN features (colour = colour)")
ax.legend(title="shape", fontsize=8)
save(fig, FIG, "region_feature_pca")

# A linear probe: least squares from the features to the one-hot colour, on half the regions.
names_c = sorted(colour_rgb)
Y = np.array([[c == n for n in names_c] for c in colours], float)
half = len(X) // 2
W, *_ = np.linalg.lstsq(np.c_[X[:half], np.ones(half)], Y[:half], rcond=None)
acc = (np.argmax(np.c_[X[half:], np.ones(len(X) - half)] @ W, 1) == Y[half:].argmax(1)).mean()
print(f"linear probe for colour on held-out regions: {100 * acc:.0f}% (chance {100 / len(names_c):.0f}%)")

# %% [markdown]
# ## Batches
#
# The two models read the data in two batch forms (`vsa_np.data.batching`):
#
# - ranking batches (alignment model, Eq. 8-9): B pairs of DISTINCT images and one of their
#   sentences each, so that every off-diagonal pair of the B x B score matrix is a true mismatch;
# - caption batches (generator, Eq. 13-15): inputs are START (0) then the words, targets the
#   words then END (0), and a mask over the real steps.

# %%
batch = next(ranking_batches(ds, shape_vocab, "train", batch_size=4, rng=0))
for k, v in batch.items():
    print(f"ranking  {k:12} {str(v.shape):14} {v.dtype}")
cap = next(caption_batches(ds, shape_vocab, "train", batch_size=4, rng=0))
for k, v in cap.items():
    print(f"caption  {k:12} {str(v.shape):14} {v.dtype}")
print("inputs :", cap["inputs"][0][cap["mask"][0]].tolist(), "->",
      ["START"] + shape_vocab.decode(cap["inputs"][0][1:]))
print("targets:", cap["targets"][0][cap["mask"][0]].tolist(), "->",
      shape_vocab.decode(cap["targets"][0]) + ["END"])

# %% [markdown]
# ## Exercises
#
# Each exercise is a function to write in place of a stub. The cell after it compares yours with
# the library's on fixed inputs and prints the relative error of each output (`lessons/exercises.py`);
# until you write it, the check is skipped (worked solutions: `lessons/solutions/lesson00.py`,
# used when the lessons run in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 00.1: the vocabulary.** Write `build_vocab(token_lists, threshold)`: the words that
# occur at least `threshold` times, most frequent first, ties in alphabetical order (what
# `Vocab.build` keeps; index 0 is reserved for `<end>`, so `words[k]` has index k + 1: the
# first word has index 1).
# The check's six sentences have six words seen exactly twice, first seen in an order that is not
# alphabetical: `Counter.most_common` (ties in order of first appearance) fails it, and so does a
# threshold read as "more than".

# %%
def build_vocab(token_lists, threshold):
    raise NotImplementedError  # your code here


exercise("00.1", build_vocab)

# %% [markdown]
# **Exercise 00.2: teacher forcing.** Write `teacher_forcing(ids)`: from sentences given as lists
# of word indices, the generator's `inputs` (START = 0, then the words), `targets` (the words,
# then END = 0) and `mask` (True on the L + 1 real steps of a sentence of L words), each an
# (n, L_max + 1) array padded with 0 / False, as `caption_batch` builds them (lesson 06 trains
# on exactly these).

# %%
def teacher_forcing(ids):
    raise NotImplementedError  # your code here


exercise("00.2", teacher_forcing)

# %% [markdown]
# ## Summary
#
# - Two models: the alignment model (Eq. 1-9) learns word-region scores from image-sentence pairs
#   alone; the multimodal RNN (Eq. 13-15) generates sentences, from whole images or from the
#   regions and snippets the first model found.
# - The inputs are sentences (a vocabulary of the training words seen at least 5 times, index 0
#   for START/END) and CNN features of whole images and of regions.
# - The shapes world has the same layout as Flickr8K, with the ground truth a real dataset lacks:
#   which region every word names. The lessons train on it in seconds.
