# %% [markdown]
# # Lesson 08: describing regions, from inferred alignments (Sec. 4.3)
#
# Paper: Sec. 4.3, "Generated Descriptions: Region evaluation", Table 3 and Figure 7; it puts
# together Sec. 3.1 (alignment, Eq. 1-9), Sec. 3.1.4 (the MRF, Eq. 10-12) and Sec. 3.2 (the
# generator, Eq. 13-15).
#
# **What you will learn:** the paper's whole pipeline: alignment model, MRF snippets as training
# pairs, the region generator, and Table 3 on the shapes world against its baselines. **What you
# need:** lessons 05 and 06 (their trained models are reused). **How long it runs:** about 7 s in
# quick mode (`LESSONS_QUICK=1`, measured on two shared CPU cores, run after the lessons before
# it); full mode uses more data and steps.
#
# "We now train the Multimodal RNN on the correspondences between image regions and snippets of
# text, as inferred by the alignment model." The whole pipeline of the paper:
#
# 1. train the alignment model on (image, sentence) pairs only (lessons 02-04b);
# 2. decode every training sentence against the regions of its image with the chain MRF
#    (lesson 05): each maximal run of words on one region is a (region, snippet) pair;
# 3. train the generator of lesson 06 on those pairs: the region's CNN feature in, the snippet out;
# 4. caption held-out regions and score them against reference phrases for those regions.
#
# The paper had people write 9,000 such phrases on MSCOCO for step 4. The shapes world has them
# for free, from its own grammar, not from people: the phrase of every sentence that names one
# object region and only it (`alignments.json`; a count or plural phrase such as "four shapes"
# or "two blue squares" names several regions and is no reference for any one). As in Table 3, the
# region model is compared with the full-frame model (trained on whole images and sentences,
# lesson 06) fed the same region, and with a nearest-neighbour baseline.

# %%
import dataclasses

import numpy as np
from _common import (QUICK, alignment_config, figure_dir, generator_config, lesson_world, plt,
                     save, trained_alignment, trained_generator)
from exercises import exercise
from PIL import Image

from vsa_np.alignment.alignment_eval import alignment_report
from vsa_np.data import load_alignments, load_dataset
from vsa_np.generator.region_data import (evaluate_regions, ground_truth_phrases, mrf_pairs)
from vsa_np.trained import load_alignment, load_generator

FIG = figure_dir("08_region_generation")
world = lesson_world()
ds = load_dataset(world)
truth = load_alignments(world)

# %% [markdown]
# ## Steps 1-2: alignments, then snippets
#
# The alignment model is trained with the library's trainer (`vsa-np train-align`); beta of Eq. 12
# is chosen on the validation split by how many object words land on their true region (lesson 05
# plots that curve).

# %%
align_run = trained_alignment(world, alignment_config())
amodel, avocab, _ = load_alignment(align_run)
report = alignment_report(amodel, ds, avocab, truth)
beta = report["beta"]
print(f"beta = {beta} (chosen on val); test object words on their true region: "
      f"{report['test']['argmax']:.0f}% word by word, {report['test']['mrf']:.0f}% with the MRF")

pairs = mrf_pairs(align_run, ds, avocab, "train", beta)
phrases = ground_truth_phrases(ds, "train", truth)
n_phrases = sum(len(p) for p in phrases.values())
lengths = [len(s) for s in pairs.snippets]
print(f"{len(pairs)} (region, snippet) training pairs from {len(ds.sentences_of('train')[1])} "
      f"sentences; mean snippet {np.mean(lengths):.1f} words "
      f"(the ground truth has {n_phrases} object phrases, mean "
      f"{np.mean([len(p) for ps in phrases.values() for p in ps]):.1f} words)")
on_objects = np.mean([1 <= r <= len(ds.images[i]["objects"]) for i, r in zip(pairs.image, pairs.region)])
print(f"{100 * on_objects:.0f}% of the snippets sit on an object region "
      f"(the rest on the whole image or a distractor box)")
nouns = {"circle", "square", "triangle", "star", "circles", "squares", "triangles", "stars"}
print(f"{100 * np.mean([s[-1] in nouns for s in pairs.snippets]):.0f}% of the snippets end on a "
      f"shape noun, {100 * np.mean([s[-1] in nouns for ps in phrases.values() for s in ps]):.0f}% "
      f"of the ground-truth phrases do")

# %%
fig, axes = plt.subplots(2, 6, figsize=(15, 5.6))
shown = np.random.default_rng(0).choice(len(pairs), axes.size, replace=False)
for ax, p in zip(axes.ravel(), shown):
    i, r = pairs.image[p], pairs.region[p]
    x0, y0, x1, y1 = ds.boxes[i, r].astype(int)
    crop = np.asarray(Image.open(ds.root / "images" / ds.images[i]["filename"]))[y0:y1, x0:x1]
    ax.imshow(crop)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f'"{" ".join(pairs.snippets[p])}"', fontsize=8)
    ax.set_xlabel(f"image {i}, region {r}", fontsize=7)
fig.suptitle(f"Training pairs inferred by the alignment model and the MRF (beta = {beta}): the "
             f"region's pixels and its snippet")
save(fig, FIG, "mrf_training_pairs")

# %% [markdown]
# ## Step 3: the region generator
#
# The same model and trainer as lesson 06 (gradient-checked there) with `from_alignments` set: the
# trainer builds the pairs above itself and trains on them (validation: the MRF pairs of the
# validation split). `vsa-np train-gen --from-alignments RUN --beta B` on the command line.

# %%
full_cfg = generator_config()
# (fewer epochs: there are several snippets per sentence, so an epoch has several times more steps)
region_cfg = dataclasses.replace(full_cfg, from_alignments=str(align_run), beta=float(beta),
                                 batch_size=50, epochs=20 if QUICK else 10)
region_model, vocab, _ = load_generator(trained_generator(world, region_cfg))
full_model, full_vocab, _ = load_generator(trained_generator(world, full_cfg))
assert vocab == full_vocab

# %% [markdown]
# ## Step 4: Table 3 on the shapes world
#
# Every object region of the test images that some test sentence names on its own is captioned (beam
# search) by the region model and by the full-frame model, and scored against all the phrases that
# name it in the test sentences. The nearest-neighbour baseline gives each test region the first
# phrase of the training region closest in feature space. Here it is not the paper's baseline: it
# copies a TRUE phrase of a training region (the world's ground truth, which the region RNN never
# sees; it learns from the MRF's snippets), the phrases come from a small grammar, so a test
# region's phrase is very often word for word a training region's, and the features separate colour
# and shape linearly (lesson 00). It is an upper bound on what copying can do, not a rival model.

# %%
table = evaluate_regions({"region RNN": (region_model, vocab), "full-frame RNN": (full_model, vocab)},
                         ds, "test", beam=7, max_len=20, meteor=False)
paper = {"human agreement": [61.5, 45.2, 30.1, 22.0], "nearest neighbour": [22.9, 10.5, 0.0, 0.0],
         "full-frame RNN": [14.2, 6.0, 2.2, 0.0], "region RNN": [35.2, 23.0, 16.1, 14.8]}
keys = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"]
print(f"{'':18}" + "".join(f"{k:>9}" for k in keys) + "    paper (MSCOCO, different data) B-1..4")
for name, key in (("region RNN", "region RNN"), ("full-frame RNN", "full-frame RNN"),
                  ("nearest neighbour", "nearest_neighbour")):
    print(f"{name:18}" + "".join(f"{100 * table[key][k]:9.1f}" for k in keys)
          + "    " + " / ".join(f"{v:.1f}" for v in paper[name]))
assert table["region RNN"]["BLEU-1"] > table["full-frame RNN"]["BLEU-1"]
test_refs = ground_truth_phrases(ds, "test", truth)
for name, key in (("region RNN", "region RNN"), ("nearest neighbour", "nearest_neighbour")):
    caps_k = table[key]["captions"]
    exact = np.mean([c.split() in test_refs[tuple(map(int, k.split(":")))] for k, c in caps_k.items()])
    print(f"{name}: {100 * exact:.0f}% of its {len(caps_k)} region captions are word for word one "
          f"of the region's references")

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2, 1]})
names = [("region RNN", "region RNN"), ("full-frame RNN", "full-frame RNN"),
         ("nearest neighbour", "nearest_neighbour")]
for k, (label, key) in enumerate(names):
    xs = np.arange(4) + (k - 1) * 0.27
    ax.bar(xs, [100 * table[key][m] for m in keys[:4]], 0.27, label=f"{label} (shapes)",
           color=f"C{k}")
    ax.scatter(xs, paper[label], marker="_", s=250, color="k", zorder=3,
               label="the paper's Table 3 (MSCOCO)" if k == 0 else None)
    ax2.bar(k, 100 * table[key]["CIDEr-D"], 0.6, color=f"C{k}")
ax.set_xticks(range(4), keys[:4])
ax.set_ylabel("score x 100")
ax.set_title("Region captions against reference phrases (Table 3)")
ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2)
ax2.set_xticks(range(3), [n for n, _ in names], rotation=20, fontsize=8)
ax2.set_title("CIDEr-D x 100 (paper: region 61.6, full frame 20.3)", fontsize=9)
save(fig, FIG, "table3")

# %% [markdown]
# BLEU-4 is (near) 0 for every model: the shapes world's object phrases are mostly three words
# ("large red triangle"), so there are few 4-grams to match. The region RNN seldom writes a
# reference word for word: its MRF snippets carry the article ("a large blue square") that the
# references leave out, which costs it precision on most captions. The full-frame model was
# trained on whole images and writes whole-image sentences ("two shapes, a small red circle and
# ..."), far longer than a region's phrase, so BLEU's precisions suffer, as the paper notes ("its
# sentences are also longer than the region model sentences, which likely negatively impacts the
# BLEU score").
#
# ## Figure 7: regions and their descriptions

# %%
test = ds.split_indices("test")
caps = table["region RNN"]["captions"]
test_phrases = ground_truth_phrases(ds, "test", truth)
fig, axes = plt.subplots(1, 3, figsize=(15, 5.8))
for ax, i in zip(axes, test[:3]):
    ax.imshow(Image.open(ds.root / "images" / ds.images[i]["filename"]))
    lines = []
    for r in range(1, len(ds.images[i]["objects"]) + 1):
        if f"{i}:{r}" not in caps:                  # no test phrase names this region
            continue
        x0, y0, x1, y1 = ds.boxes[i, r]
        c = plt.get_cmap("tab10")(r)
        ax.add_patch(plt.Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, ec=c, lw=2))
        ax.text(x0 + 2, y0 + 2, f"{r}", color="white", fontsize=9, weight="bold", va="top",
                bbox=dict(fc=c, ec="none", pad=1))
        lines.append(f"{r}: {caps[f'{i}:{r}']}   (a phrase for it: "
                     f"{' '.join(test_phrases[(int(i), r)][0])})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("\n".join(lines), fontsize=8, loc="left")
fig.suptitle("The region RNN's description of each object box, and one reference phrase for it")
save(fig, FIG, "region_captions")

# %% [markdown]
# The region RNN often stops before the shape noun or runs on into "and a": it learnt from the
# MRF's snippets, and many of those end early (the counts printed after step 2), with function
# words glued on. The quality of the region model is
# bounded by the quality of the inferred alignments; the paper's own qualitative examples (Figure
# 7) show the same kind of mix. What the full-frame model says about the same boxes:

# %%
for r in (1, 2):
    key = f"{test[0]}:{r}"
    if key in caps:
        print(f"region {key}: region RNN \"{caps[key]}\"; full-frame RNN "
              f"\"{table['full-frame RNN']['captions'][key]}\"")

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error (skipped while it is a stub; worked solutions in
# `lessons/solutions/lesson08.py`, used in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 08.1: snippets.** Write `snippet_runs(assignment)`: the maximal runs of equal
# regions in an MRF assignment, skipping -1 (words on no region), as (region, start, end) with
# end exclusive. Each is one (region, snippet) training pair of step 2.

# %%
def snippet_runs(assignment):
    raise NotImplementedError  # your code here


exercise("08.1", snippet_runs)

# %% [markdown]
# **Exercise 08.2: the nearest neighbour's search.** Write `nearest_rows(query, base)`: for each
# row of query (N, D), the index of the row of base (M, D) closest in L2 (the baseline of
# Table 3 copies that training region's phrase).

# %%
def nearest_rows(query, base):
    raise NotImplementedError  # your code here


exercise("08.2", nearest_rows)

# %% [markdown]
# ## Summary
#
# - The pipeline of Sec. 4.3: the alignment model's word-region scores, the MRF's snippets as
#   (region, snippet) pairs, a generator trained on those pairs.
# - Table 3 compares the region RNN with the full-frame RNN and nearest neighbour on region
#   phrases; look at the region captions too, and at how many are copies of a training phrase.
