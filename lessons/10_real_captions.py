# %% [markdown]
# # Lesson 10: real captions, and the baselines a model must beat
#
# Paper: Sec. 4 (Flickr8K), Table 1 (retrieval) and Table 2 (generation), Sec. 4.2 (the
# nearest-neighbour captions). Every lesson so far trained on the shapes world, where captions
# come from a grammar of 40 words and the features say exactly what is in the picture. Here the
# same two models meet real Flickr8K pictures and their real captions.
#
# **What you will learn:** what changes with real captions (a vocabulary twenty times larger
# seen a few times per word, unknown words at test time, class-probability features read as
# log p); the linear baseline (the best of ridge regressions and CCA from bags of words, chosen
# on validation) and the nearest-neighbour captions, and why they come first; the alignment model
# trained from random (the paper's start, but for its word2vec vectors) and from the linear baseline (the paper's layers set
# to compute CCA's projections), the two runs the trainer's default start ("auto") makes when the first
# loses to the baseline, their validation curves, and the honest result: on 700 training images
# the paper's model beats every ridge regression but not CCA; the generator's captions beside
# their references and the nearest neighbour's. **What you need:** lessons 04, 04b and 06, and
# the project's shared data folder (`../shared/data/flickr8k_xception_probs`, or
# `$VSA_NP_SHARED_DATA`). **How long it runs:** about 30 s in quick mode (`LESSONS_QUICK=1`, two
# CPU cores: one epoch of each alignment run, a small generator); full mode trains with the
# trainers' settings and reproduces the README's figures (two alignment runs of 15 epochs and a
# generator of up to 30: about 4 minutes on two otherwise idle cores, 20 on two cores busy with
# other work).

# %%
import json
import sys
from collections import Counter
import tempfile
from pathlib import Path

import numpy as np
from _common import QUICK, figure_dir, plt, save, shared_data
from exercises import exercise

FIG = figure_dir("10_real_captions")
SHARED = shared_data()        # ../shared/data, or $VSA_NP_SHARED_DATA; None when absent
DATA = SHARED / "flickr8k_xception_probs" if SHARED else None
if DATA is None or not (DATA / "dataset.json").is_file():
    print("lesson 10 needs the real development set: put flickr8k_xception_probs (dataset.json, "
          "vgg_feats.mat) in ../shared/data beside the repository, or set $VSA_NP_SHARED_DATA to "
          "the folder that holds it; skipped")
    sys.exit(0)

from vsa_np.alignment.baseline import LinearBaseline, retrieval_table  # noqa: E402
from vsa_np.alignment.evaluate import evaluate_retrieval  # noqa: E402
from vsa_np.alignment.retrieval import retrieval_metrics, rsum  # noqa: E402
from vsa_np.alignment.train import (AlignConfig, build_model, fit_norm,  # noqa: E402
                                    train_alignment, warm_start)
from vsa_np.data import Vocab, load_dataset  # noqa: E402
from vsa_np.data.vocab import unknown_share  # noqa: E402
from vsa_np.feature_norm import LOG_FLOOR, is_probabilities  # noqa: E402
from vsa_np.generator.evaluate import (choose_nn_distance, evaluate_split,  # noqa: E402
                                       nearest_neighbour_report)
from vsa_np.generator.train import GenConfig, train_generator  # noqa: E402
from vsa_np.trained import load_alignment, load_generator  # noqa: E402

tmpdir = tempfile.TemporaryDirectory(prefix="lesson10_")
tmp = Path(tmpdir.name)

# %% [markdown]
# ## 1. The data
#
# 1000 real Flickr8K pictures (the official test split's, re-split 700 / 100 / 200), five
# captions each, written by people: "a black dog is running through the grass", "a dog runs
# across a field". The features are not the paper's fc7: each picture's 1000 ImageNet class
# probabilities from a pretrained Xception (a softmax output, every row summing to 1).

# %%
ds = load_dataset(DATA)
n_split = {s: len(ds.split_indices(s)) for s in ("train", "val", "test")}
train_tokens = ds.sentences_of("train")[1]
test_tokens = ds.sentences_of("test")[1]
vocab = Vocab.build(train_tokens, threshold=5)
lengths = np.array([len(t) for t in train_tokens])
raw_words = len({w for t in train_tokens for w in t})
unknown = unknown_share(vocab, test_tokens)
print(f"images {n_split}; {len(train_tokens)} training sentences")
print(f"vocabulary: {raw_words} different training words, {len(vocab) - 1} seen at least 5 "
      f"times: {len(vocab)} entries with <end> (the shapes world: 41)")
print(f"words per caption: mean {lengths.mean():.1f}, median {np.median(lengths):g}, "
      f"longest {lengths.max()}")
sentence_counts = Counter(w for t in train_tokens for w in set(t))   # sentences holding each word
in_sentences = np.array([sentence_counts[w] for w in vocab.words])
print(f"training sentences a kept word comes in: median {np.median(in_sentences):g}, a quarter "
      f"of the words {np.percentile(in_sentences, 25):g} or fewer")
print(f"test tokens not in the vocabulary: {100 * unknown:.1f}%")
assert (n_split["train"], n_split["val"], n_split["test"]) == (700, 100, 200)
assert len(vocab) == 745 and 0.05 < unknown < 0.12

X = np.asarray(ds.feats[ds.split_indices("train")], dtype=np.float64)
top = X.max(axis=1)
print(f"features: {X.shape[1]} class probabilities per image; rows sum to 1: "
      f"{is_probabilities(X)}; the top class holds {100 * np.median(top):.0f}% of the mass "
      f"(median); {100 * (X < 1e-4).mean():.0f}% of the entries are below 1e-4")
assert is_probabilities(X)

# %% [markdown]
# Against the shapes world, three things change. The vocabulary: 744 words kept (threshold 5, as
# the paper's; 745 entries with <end>) against the shapes world's 40, so the word vectors W_w
# (Eq. 2) grow to 745 x 300, and each word is trained on few sentences: the median kept word
# comes in 11 of the 3500 training sentences and a quarter of them in 6 or fewer, where the shapes
# world's few dozen words each come in a large share of its sentences.
# Unknown words: about one test word in ten (the printed share) was never kept in training, and
# both models drop it. And the features: a softmax
# output p puts most of its mass on one or two classes; what the CNN knows about the rest
# ("some grass, some sky") sits in the ratios of tiny entries. A linear map of p (Eq. 1, Eq. 13)
# hardly sees them; a linear map of log p reads the logits up to a constant per image. So both
# trainers read log p (`vsa_np.feature_norm`, `--feature-map auto`: log when every training row
# is non-negative and sums to 1), and the baselines choose among p, sqrt p and log p on
# validation. `train-align`'s default, `--feature-map baseline`, reads the features through the
# map of the baseline's winner, which is log p here (section 2), so it reads them as `auto` does.

# %%
fig, axes = plt.subplots(1, 3, figsize=(14, 3.6))
axes[0].hist(lengths, bins=np.arange(0.5, lengths.max() + 1.5), color="C0")
axes[0].set_xlabel("words per training caption")
axes[0].set_title("Caption length")
counts = np.array(sorted(vocab.counts[1:], reverse=True), dtype=float)
axes[1].loglog(np.arange(1, len(counts) + 1), counts)
axes[1].axhline(5, color="gray", ls=":", label="threshold 5")
axes[1].set_xlabel("word rank")
axes[1].set_ylabel("training count")
axes[1].set_title(f"{len(vocab)} words kept")
axes[1].legend(fontsize=8)
axes[2].hist(np.log10(np.maximum(X.ravel(), LOG_FLOOR)), bins=80, color="C2")
axes[2].set_xlabel("log10 p (every entry of every training image)")
axes[2].set_title("Class probabilities: most entries are tiny")
fig.tight_layout()
save(fig, FIG, "data")

# %% [markdown]
# ## 2. The baselines come first
#
# On a new data set, fit what a linear map of words can do before training anything: a model that
# does not beat it has not learned anything a bag of words could not. `LinearBaseline` fits a
# small family on the training split (`vsa_np/alignment/baseline.py`): ridge regressions from a
# sentence's bag of words b to the image feature y, S = cos(y, b W), and CCA, S = cos(y C, b A),
# each on binary, count and tf-idf words and on p, sqrt p and log p, with a few regularisers, and
# chooses the member with the best validation R@K sum (the trainers' checkpoint criterion), so
# it gets the same tuning budget a model gets. The nearest-neighbour captions (Sec. 4.2) are the
# generator's baseline: each test image gets the first caption of its closest training image,
# the distance (L2 or cosine on p, sqrt p, log p) chosen on validation by CIDEr-D.

# %%
base = LinearBaseline(ds)
table = sorted(zip(base.values, [m.describe() for m in base.members]), reverse=True)
print(f"{len(table)} members, validation R@K sum, the best 8:")
for value, name in table[:8]:
    print(f"  {value:6.1f}  {name}")
ridges = [(v, m) for v, m in zip(base.values, base.members) if m.model == "ridge"]
best_ridge = max(ridges, key=lambda t: t[0])[1]
print(f"the winner: {base.member.describe()}; the best ridge: {best_ridge.describe()}")
lin = base.metrics("test")
ridge = retrieval_metrics(*base.scores("test", best_ridge))
print(retrieval_table({"CCA (winner)": lin, "best ridge": ridge}))
if not QUICK:  # the same member as a baseline of ridges only (what the tests compare against)
    only = LinearBaseline(ds, models=("ridge",))
    assert only.member.describe() == best_ridge.describe()
assert base.member.describe().startswith("CCA on log features, binary words")
assert (round(lin["annotation"]["R@10"], 1), round(lin["search"]["R@10"], 1)) == (63.5, 63.8)
assert (round(ridge["annotation"]["R@10"], 1), round(ridge["search"]["R@10"], 1)) == (55.5, 52.8)

distance, nn_table = choose_nn_distance(ds)
print("nearest neighbour, validation CIDEr-D per distance: "
      + ", ".join(f"{d} {v:.3f}" for d, v in nn_table.items()))
nn = nearest_neighbour_report(ds, "test")
print(f"chosen: {distance}; test CIDEr-D {nn['CIDEr-D']:.3f}, BLEU-4 {nn['BLEU-4']:.3f}; "
      f"{100 * nn['diversity']['distinct']:.1f}% distinct captions, "
      f"{100 * nn['diversity']['in_training']:.0f}% copied from training")
assert distance == "cosine on sqrt features" and round(nn["CIDEr-D"], 3) == 0.189

# %%
fig, ax = plt.subplots(figsize=(9, 4))
for model, colour in (("ridge", "C0"), ("CCA", "C3")):
    for image, marker in (("raw", "o"), ("sqrt", "s"), ("log", "^")):
        vals = [v for v, m in zip(base.values, base.members) if m.model == model
                and m.image == image]
        ax.scatter(np.full(len(vals), {"raw": 0, "sqrt": 1, "log": 2}[image])
                   + (0.15 if model == "CCA" else -0.15), vals, c=colour, marker=marker, s=14,
                   label=f"{model}, {image} p" if image == "raw" or model == "CCA" else None)
ax.set_xticks([0, 1, 2], ["p", "sqrt p", "log p"])
ax.set_ylabel("validation R@K sum")
ax.set_title("The linear baseline's members (ridge left, CCA right of each feature map)")
ax.legend(fontsize=7, ncol=2)
save(fig, FIG, "baselines")

# %% [markdown]
# Read the table before any training. CCA on log p wins (test R@10 63.5 / 63.8, annotation /
# search); the best ridge reads sqrt p and reaches 55.5 / 52.8. These are the numbers the
# alignment model has to beat, on 700 training images. The nearest neighbour's captions are
# whole human sentences, copied from training by construction (100%), and score a CIDEr-D of
# 0.189 on the 200 test images.
#
# ## 3. The alignment model: from random, and from the baseline
#
# The paper's model starts from random weights (its word vectors from word2vec, which this
# lesson has not got): `AlignConfig(start="random")`, with the paper's
# sizes (h = 1000, a 500-unit BRNN, 300-d words), dropout 0.5, lr 1e-3, 15 epochs. The other run
# starts where the baseline's best CCA member is (`AlignConfig(start="linear", ...)`, `warm_start`
# in `vsa_np/alignment/train.py`) and trains on from there gently: lr 3e-4 and dropout 0.2
# (`AlignConfig`'s `warm_lr` and `warm_dropout`; dropout 0.5 washes out what the start holds).
# With the whole image as the only region, Eq. 8 is S = v . sum_t s_t. CCA scores cos(y C,
# (b - b_mean) A): the image side C (D x k), the word side A (V x k), b the sentence's binary bag
# of words scaled to unit length. Leave out the cosine, the centring and the bag's scaling, and
# what is left, sum_t a_{w_t} (the rows a_w of A summed over the sentence's words), is something
# the paper's layers compute exactly if, on 2k of their dimensions:
#
# - Eq. 1, the image side, is v = x W_m with W_m = [C, -C] (mapped from the trainer's feature
#   normalisation onto the baseline's), so v holds y C and its negative;
# - Eq. 2-6, the words, pass each word's vector through untouched: W_w's row of word w is
#   [a_w, -a_w]; W_e is the identity, so e_t = ReLU(x_t) = [max(a_w, 0), max(-a_w, 0)]; the
#   recurrent W_f, W_b are 0, so h^f = h^b = e_t; W_d is half the identity, so s_t = e_t. The
#   ReLUs lose nothing because the two halves keep both signs: v . s_t = c . a_w;
# - the other dimensions keep a small random start.
#
# Then S = y C . sum_t a_{w_t}: CCA's projections without its cosine, without centring the words
# and with a repeated word counted each time it comes. Training by Eq. 9 goes on from
# there, with the other dimensions free to learn what CCA missed. Here is that start, scored
# before any training (every other dimension at 0):

# %%
auto = AlignConfig()      # the trainer's defaults: start "auto", and its warm_lr, warm_dropout
start_cfg = AlignConfig(start="linear", lr=auto.warm_lr, dropout=auto.warm_dropout)
cca_net = build_model(start_cfg, len(vocab), ds.feature_dim, norm=fit_norm(ds, start_cfg, base))
print("warm start:", warm_start(cca_net, base, rest_gain=0.0))
cca_net.training = False
no_cos = evaluate_retrieval(cca_net, ds, vocab, "test", False)
print(f"the paper's layers set to CCA's projections (no cosine, no centring), no training: "
      f"test R@10 {no_cos['annotation']['R@10']:.1f} / {no_cos['search']['R@10']:.1f} "
      f"(CCA with its cosine: {lin['annotation']['R@10']:.1f} / {lin['search']['R@10']:.1f})")
assert (round(no_cos["annotation"]["R@10"], 1), round(no_cos["search"]["R@10"], 1)) == (54.5, 54.4)

# %% [markdown]
# The cosine, the centring and the bag's scaling are together worth nine points of R@10 here:
# without them, an image whose y C is long (a confident classifier) scores high against every
# sentence, and a long sentence scores high against every image. Eq. 8 has no normalisation, so the model must learn to compensate.
#
# Now both runs. These are the two runs `train-align`'s default makes on this set: its start,
# `auto` (`choose_start` in `vsa_np/alignment/train.py`), trains from random first; when that
# run's best validation R@K sum is below the linear baseline's, it trains a second run from the
# baseline, with `warm_lr` and `warm_dropout` and otherwise the same settings, and keeps the
# better of the two on validation. The cell below trains the two runs itself, to show both, and
# then makes start auto's choice from their validation scores. (The trainer fits the linear
# baseline itself, to warm-start from it, to read the features through its map and to report
# against it, unless it is handed one: we hand it the one fitted above, so the lesson pays for
# the fit once.)

# %%
short = dict(epochs=1, eval_every=5) if QUICK else {}  # quick: one epoch, validated every 5 steps
configs = {"from random": AlignConfig(start="random", **short),
           "from the baseline": AlignConfig(start="linear", lr=auto.warm_lr,
                                            dropout=auto.warm_dropout, **short)}
runs, curves, tests, summaries = {}, {}, {}, {}
for name, cfg in configs.items():
    runs[name] = tmp / f"align_{cfg.start}"
    summaries[name] = summary = train_alignment(DATA, runs[name], cfg, quiet=True,
                                                log=lambda *a: None, baseline=base)
    log = json.loads((runs[name] / "log.json").read_text())
    curves[name] = ([e["step"] for e in log["eval"]], [e["rsum"] for e in log["eval"]])
    model, avocab, _ = load_alignment(runs[name] / "best")
    tests[name] = evaluate_retrieval(model, ds, avocab, "test", False)
    print(f"{name:17}: {summary['steps']} steps in {summary['train_time']:.0f} s, best "
          f"validation R@K sum {summary['best_rsum']:.1f} at step {summary['best_step']}")
print(retrieval_table({"from random": tests["from random"],
                       "from baseline": tests["from the baseline"],
                       "CCA (winner)": lin, "best ridge": ridge}))
r10 = {k: (m["annotation"]["R@10"], m["search"]["R@10"]) for k, m in
       {**tests, "CCA": lin, "ridge": ridge, "CCA no cosine": no_cos}.items()}
print("test R@10, annotation / search: " + "; ".join(f"{k} {a:.1f} / {s:.1f}"
                                                     for k, (a, s) in r10.items()))

# start auto's choice (choose_start), made from the two runs' best validation R@K sums
val = {name: summaries[name]["best_rsum"] for name in configs}
base_val = summaries["from random"]["baseline_val"]["rsum"]
if val["from random"] < base_val:  # lost to the baseline: a second run, the better kept
    kept = max(val, key=val.get)
    verdict = (f"below it, so a second run from the baseline ({val['from the baseline']:.1f}); "
               f"it keeps the run {kept}")
else:                              # the paper's start won: the only run
    kept, verdict = "from random", "not below it: no second run"
print(f"start auto (AlignConfig()): from random, best validation R@K sum "
      f"{val['from random']:.1f} against the linear baseline's {base_val:.1f}: {verdict}")
# the run from the baseline starts at CCA: even a short run keeps it ahead of the random start
assert rsum(tests["from the baseline"]) > rsum(tests["from random"])
assert val["from random"] < base_val and kept == "from the baseline"
if not QUICK:
    # full mode printed from random 45.0 / 51.0, from the baseline 61.5 / 60.1 (the README's
    # train-align, one BLAS thread: 61.0 / 59.6; other BLAS threads can move a ranking by a
    # place or two, so the lesson checks the order, not the last digit)
    assert abs(r10["from random"][0] - 45.0) < 5 and abs(r10["from random"][1] - 51.0) < 5, r10
    assert all(r10["from the baseline"][i] > r10["ridge"][i] for i in (0, 1)), r10
    assert all(r10["from the baseline"][i] < r10["CCA"][i] for i in (0, 1)), r10

# %%
fig, ax = plt.subplots(figsize=(8, 4.2))
for name, colour in (("from random", "C0"), ("from the baseline", "C1")):
    ax.plot(*curves[name], "o-", ms=3, color=colour, label=f"alignment model {name}")
ax.axhline(base.values[base.members.index(base.member)], color="C3", ls="--",
           label="linear baseline (CCA)")
ax.axhline(max(v for v, _ in ridges), color="C0", ls=":", label="best ridge")
ax.set_xlabel("training step")
ax.set_ylabel("validation R@K sum (six recalls)")
ax.set_title(f"Validation on {n_split['val']} real images" + (" (quick mode: 1 epoch)"
                                                                if QUICK else ""))
ax.legend(fontsize=8)
save(fig, FIG, "alignment_curves")

# %% [markdown]
# What the curves say (full mode, 15 epochs each). From random the model climbs slowly and is
# still far below the baselines when it stops: best validation R@K sum 265.4 against the
# baseline's 357.8, test R@10 45.0 / 51.0 (30 epochs reach 53.5 / 54.1). From the baseline it
# starts near CCA's unnormalised score, rises, and levels off well below CCA on validation: the
# best checkpoint (validation 348.0, at step 420 of 525) gives 61.5 / 60.1, above every ridge
# regression (55.5 / 52.8) but below CCA (63.5 / 63.8). Quick mode's one epoch is only the start
# of both curves (the printed table).
#
# This is what `vsa-np train-align DATA --out A` does with no options. Its start, `auto`, trains
# the first run; that run loses to the baseline on validation, so it trains the second exactly as
# above (lr 3e-4, dropout 0.2) and keeps the better on validation, the run from the baseline: the
# defaults give the second row. The README measures them with one BLAS thread: validation 258.0
# from random and 347.8 from the baseline, test R@10 61.0 / 59.6, in about 2.5 minutes on two
# cores for both runs (this lesson's figures differ by a few points of validation R@K sum and
# half a point of test R@10: other BLAS threads, other rounding). `AlignConfig(start="random")` (`--start random`) is the paper's model as the paper
# trains it; `start="linear"` with `warm_lr` and `warm_dropout` is the second run alone. On the
# synthetic fc7, z-scored and L2-normalised feature families (`docs/benchmarks.md`) the run from
# random beats the baseline on validation and is the only one trained; on the class-probability
# families it loses, the second run is made, and the run from random is still the better one and
# is kept. Region models (the shapes world's demo) always start at random.
#
# So, plainly: **on this set the paper's model does not beat the best linear model.** Is that
# the score? CCA compares directions (a cosine), Eq. 8 an unnormalised dot product, and the same
# CCA solution scored the paper's way (no cosine, no centring) loses nine points of R@10 (54.5 / 54.4 against 63.5 /
# 63.8): a model that starts there has first to win that back. Whether the trained model is
# still held back by it can be measured: score its own vectors again with the image vectors v,
# the sentence vectors sum_t s_t, or both scaled to unit length, and see whether its test recall
# rises. And whether 200 test images can tell it from CCA at all: `recall_difference` draws the
# test images with replacement 2000 times (each with its five sentences) and gives the central
# 95% of the difference in R@10.

# %%
from vsa_np.alignment.evaluate import embed_split  # noqa: E402
from vsa_np.alignment.retrieval import recall_difference, retrieval_ranks  # noqa: E402
from vsa_np.backend import to_host  # noqa: E402
from vsa_np.feature_norm import unit_rows  # noqa: E402

model, avocab, _ = load_alignment(runs["from the baseline"] / "best")
v, _, s, seg, s2i, _ = embed_split(model, ds, avocab, "test", False)
S = to_host(model.scores(v, None, s, seg, len(s2i)))                       # Eq. 8
v, s = (np.asarray(to_host(a), dtype=np.float64) for a in (v[:, 0], s))
sent = np.zeros((len(s2i), s.shape[1]))
np.add.at(sent, to_host(seg), s)     # sum_t s_t of each sentence; one region: S = v . sum_t s_t
np.testing.assert_allclose(v @ sent.T, S, rtol=1e-4, atol=1e-4 * abs(S).max())
rescored = {"Eq. 8, as trained": (v, sent), "image vectors unit": (unit_rows(v), sent),
            "sentence vectors unit": (v, unit_rows(sent)),
            "both (a cosine)": (unit_rows(v), unit_rows(sent))}
r10_rescored = {}
for name, (a, b) in rescored.items():
    m = retrieval_metrics(a @ b.T, s2i)
    r10_rescored[name] = (m["annotation"]["R@10"], m["search"]["R@10"])
    print(f"{name:22} test R@10 {r10_rescored[name][0]:5.1f} / {r10_rescored[name][1]:5.1f}")
length = np.linalg.norm(v, axis=1)
print(f"the lengths of the image vectors vary by {100 * length.std() / length.mean():.0f}% "
      f"around their mean")
gap = recall_difference(retrieval_ranks(S, s2i), retrieval_ranks(*base.scores("test")), s2i)
for d in ("annotation", "search"):
    print(f"the model minus CCA, {d:10} R@10 {gap[d]['diff']:+5.1f} (95% interval "
          f"{gap[d]['low']:+.1f} to {gap[d]['high']:+.1f})")
if not QUICK:
    # full mode printed 61.5 / 60.1 for Eq. 8 and 55.5 / 60.1 with a cosine; the model minus
    # CCA -2.0 (-7.5 to +4.0) in annotation, -3.7 (-6.8 to -0.7) in search
    eq8, cos = r10_rescored["Eq. 8, as trained"], r10_rescored["both (a cosine)"]
    assert cos[0] < eq8[0] and cos[1] < eq8[1] + 1.5, r10_rescored
    # (other BLAS threads move a ranking by a place or two: the checks keep a margin)
    assert gap["annotation"]["low"] < 0 < gap["annotation"]["high"], gap
    assert gap["search"]["diff"] < -2 and gap["search"]["high"] < 1, gap

# %% [markdown]
# In full mode the rescoring gives the model nothing: unit-length sentence vectors cost it six
# points of annotation R@10 (61.5 -> 55.5) and unit-length image vectors change neither
# direction. Training by Eq. 9 has already taught it what the cosine gave CCA (its image
# vectors' lengths vary by 16% around their mean). What it lacks is the directions: 700 training
# images are far too few for a model with about 2.4 million parameters (the 745 x 300 word
# vectors alone are 223,500) to learn more than a regularised closed-form fit extracts from the same
# captions; the paper trained on 6000 images of fc7 features, eight times more, and richer.
# Two more remedies were measured, and neither closes the gap (docs/benchmarks.md, issue 22).
# Word vectors learned from the captions of the other 7,000 Flickr8K pictures (the paper's own:
# it starts W_w from word2vec) lift the run from the baseline by at most two points, and CCA,
# given the same vectors, by two to three. Eq. 9 trained on a cosine score from CCA's start
# stays below CCA on validation from the first epoch.
# Three seeds of `train-align`'s defaults give 61.0 / 59.6, 62.0 / 59.4 and 60.5 / 58.1
# (docs/benchmarks.md). In annotation 200 test images cannot tell the model from CCA (full mode:
# -2.0, 95% interval -7.5 to +4.0); in search CCA is ahead by more than chance (-3.7, -6.8 to
# -0.7).
#
# ## 4. The generator on real captions
#
# `train-gen`'s default is an LSTM that reads the image b_v at every step (lesson 09 says why;
# the paper's ReLU RNN with the image at t = 1 only is `GenConfig(cell="rnn",
# image_every_step=False)`). Quick mode trains a smaller one for a few epochs and captions the
# first 50 test images with beam 3; full mode trains the default (up to 30 epochs, stopped early
# on validation perplexity) and captions all 200 with beam 7.

# %%
if QUICK:
    gcfg = GenConfig(hidden=128, word_dim=64, epochs=3, eval_images=20, eval_beam=2)
    n_images, beam = 50, 3
else:
    gcfg = GenConfig()
    n_images, beam = 0, 7
gsum = train_generator(DATA, tmp / "gen", gcfg, quiet=True, log=lambda *a: None)
gmodel, gvocab, _ = load_generator(tmp / "gen" / "best")
gen = evaluate_split(gmodel, ds, gvocab, "test", beam=beam, max_images=n_images)
nn_same = nearest_neighbour_report(ds, "test", max_images=n_images)
n_shown = len(gen["captions"])
print(f"generator: {gsum['steps']} steps in {gsum['train_seconds']:.0f} s; test perplexity "
      f"{gen['perplexity']:.1f}; {n_shown} test images, beam {beam}")
for label, out in (("generator", gen), ("nearest neighbour", nn_same)):
    print(f"  {label:18} BLEU-4 {out['BLEU-4']:.3f}  CIDEr-D {out['CIDEr-D']:.3f}  "
          f"distinct {100 * out['diversity']['distinct']:.1f}%  "
          f"in training {100 * out['diversity']['in_training']:.1f}%")
for i in list(gen["captions"])[:4]:
    refs = [" ".join(s["tokens"]) for s in ds.images[i]["sentences"]]
    print(f"\nimage {i} ({ds.images[i].get('filename', '')})")
    print(f"  generator:          {gen['captions'][i]}")
    print(f"  nearest neighbour:  {nn_same['captions'][i]}")
    for r in refs[:3]:
        print(f"  reference:          {r}")
assert gen["diversity"]["distinct"] > 0.2
if not QUICK:
    assert gen["CIDEr-D"] > 2 * nn["CIDEr-D"]     # the README's run: 0.392 against 0.189

# %% [markdown]
# Full mode: the default generator scores CIDEr-D 0.399 on the 200 test images, twice the
# nearest neighbour's 0.189, with 88.5% distinct captions (177 different captions for 200
# images) and only 2.0% of the captions copied verbatim from training (the paper reports about
# 60% copied at beam 7, beside its MSCOCO figures; the README's `train-gen` run, one BLAS thread: 0.392, 84.5%, 1.5%). The
# paper's RNN, reading the image at t = 1 only, scored 0.182 with 31% of the captions distinct
# (measured by issue 22's author, not by this lesson): it mostly ignores the picture and says one
# of a few likely sentences. Quick mode's small, short-trained model gets the language first (the
# printed captions: often broken, repeating a few frequent words) and the pictures later.
#
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error and, when wrong, the first entry that differs (worked solutions
# in `lessons/solutions/lesson10.py`, used in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 10.1: the ridge member of the baseline.** Write `ridge_scores(B, Y, Bq, Yq, lam) ->
# S`: B (n, V) the binary bags of words of the training sentences (0/1 rows, NOT of unit length),
# Y (n, D) their images' features (already centred and scaled), Bq (L, V) and Yq (N, D) the test
# sentences and images. Scale every bag of words to unit length, solve W = (B^T B + lam I)^-1 B^T
# Y, and return S[k, l] = cos(y_k, b_l W), the cosine. The check compares it with the library's
# member (raw features, binary words) at lambda 0.3 and 3 on a tiny data set
# (`exercises.ridge_setup`): rows left unnormalised, lam added to every entry of B^T B, or dot
# products instead of cosines each fail it.

# %%
def ridge_scores(B, Y, Bq, Yq, lam):
    raise NotImplementedError  # your code here


exercise("10.1", ridge_scores)

# %% [markdown]
# **Exercise 10.2: how many different things a captioner says.** Write `caption_diversity(
# captions, train) -> {"distinct", "most_common", "in_training"}` from captions {image: token
# list} and the training sentences (a set of token tuples): the distinct captions per image, the
# share of images that get the most frequent caption, and the share of images whose caption is
# found verbatim in training. All three are shares of the images (a caption said three times
# counts three times in in_training).

# %%
def caption_diversity(captions, train):
    raise NotImplementedError  # your code here


exercise("10.2", caption_diversity)

# %%
tmpdir.cleanup()

# %% [markdown]
# ## Summary
#
# - Real captions: 744 words at threshold 5 against the shapes world's 40, the median word in 11
#   training sentences, about one unknown word in ten at test time; class probabilities are read
#   as log p.
# - Fit the baselines first. Here CCA on log p (test R@10 63.5 / 63.8) and the nearest-neighbour
#   captions (CIDEr-D 0.189) are strong; the best ridge reaches 55.5 / 52.8.
# - The paper's layers can be set to compute CCA's projections exactly (without its cosine and
#   its centring: 54.5 / 54.4). Started there and trained on gently (lr 3e-4, dropout 0.2), the alignment model beats
#   every ridge (full mode: 61.5 / 60.1) but not CCA; from random, the paper's start (but for
#   word2vec), it beats
#   neither (full mode: 45.0 / 51.0). Rescored with a cosine the trained model gains nothing: 700
#   images are too few to learn better directions than CCA's. In annotation 200 test images
#   cannot tell the two apart; in search CCA is ahead by more than chance.
# - `train-align`'s default start, auto, trains from random and, when that run loses to the
#   baseline on validation (here it does), again from the baseline, keeping the better: with no
#   options it gives the run from the baseline here, and the run from random on the synthetic
#   feature families (alone where it beats the baseline).
# - The generator that reads the image at every step beats the nearest neighbour (full mode:
#   CIDEr-D 0.399 against 0.189, 88.5% distinct, 2.0% copied); the paper's RNN does not (0.182).
