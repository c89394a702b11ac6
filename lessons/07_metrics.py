# %% [markdown]
# # Lesson 07: scoring captions (BLEU, CIDEr-D, ROUGE-L, METEOR)
#
# Paper: Sec. 4.2 and 4.3, Tables 2 and 3: "We report the BLEU, METEOR and CIDEr scores computed
# with the coco-caption code. Each method evaluates a candidate sentence by measuring how well it
# matches a set of five reference sentences written by humans."
#
# **What you will learn:** BLEU, CIDEr-D and ROUGE-L worked by hand and checked against the
# library, and what each rewards. **What you need:** nothing beyond lesson 00. **How long it
# runs:** about 2 s in quick mode (`LESSONS_QUICK=1`, measured on two shared CPU cores, run after
# the lessons before it); full mode uses more data and steps.
#
# `vsa_np.metrics` computes the same numbers as coco-caption (the `pycocoevalcap` package) from
# scratch, except METEOR, for which it runs coco-caption's Java jar. Here each metric is worked by
# hand on one small example, a few lines of arithmetic, and checked against the library.
#
# All scores are fractions as coco-caption returns them; the paper prints them x100 (Flickr8K:
# BLEU-4 16.0, METEOR 16.7, CIDEr 31.8, i.e. 0.160, 0.167, 0.318 here).

# %%
import math
from collections import Counter

import numpy as np
from _common import QUICK, figure_dir, plt, save
from exercises import exercise

from vsa_np.metrics import score_all
from vsa_np.metrics.bleu import corpus_bleu
from vsa_np.metrics.cider import cider_d_per_image
from vsa_np.metrics.meteor import unavailable_reason
from vsa_np.metrics.ngrams import build_corpus
from vsa_np.metrics.rouge import rouge_l_per_image

FIG = figure_dir("07_metrics")

# %% [markdown]
# ## The example
#
# Three images, five references each (the Flickr8K layout), and one candidate caption per image.
# The worked examples are about image 0; CIDEr-D needs the other two, because its word weights
# come from how many images' references use a word.

# %%
refs = [
    ["a black dog is running on the grass", "a dog runs across a green field",
     "the black dog plays with a ball on the grass", "a dog is running in a field",
     "a black dog running through the grass"],
    ["a man is riding a bike on the road", "a cyclist rides down a street",
     "a man on a bicycle on the road", "a person riding a bike", "a man rides his bike in the city"],
    ["two children play in the water", "kids are splashing in a pool",
     "two kids swim in the pool", "children playing in the water", "two young boys in a pool"],
]
hyps = ["a black dog is running on grass", "a man is riding a bike", "two dogs play in the water"]
refs = [[r.split() for r in rs] for rs in refs]
hyps = [h.split() for h in hyps]
hyp, refs0 = hyps[0], refs[0]
print("candidate:", " ".join(hyp))


def ngrams(tokens, n):
    """Counter of the n-grams (as tuples) of one sentence."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


# %% [markdown]
# ## BLEU (Papineni et al. 2002)
#
# For n = 1..4, the modified precision p_n: each n-gram of the candidate counts as a match at most
# as many times as it occurs in the ONE reference where it occurs most (so "the the the the" cannot
# score by repeating a common word), divided by the number of n-grams in the candidate. Precision
# alone rewards short candidates, so a brevity penalty multiplies the geometric mean:
#
#     BLEU-N = BP * (p_1 p_2 ... p_N)^(1/N),    BP = exp(1 - r / c) if c < r, else 1
#
# with c the candidate length and r the reference length closest to c (the shorter one on a tie).
# Over a corpus, the matches, the n-gram counts, c and r are each summed over images first.

# %%
def bleu_by_hand(hyp, refs, N=4, show=False):
    p = []
    for n in range(1, N + 1):
        best = Counter()
        for r in refs:
            best |= ngrams(r, n)                  # | keeps the larger count: max over references
        matches = sum(min(c, best[g]) for g, c in ngrams(hyp, n).items())
        total = max(len(hyp) - n + 1, 0)
        p.append(matches / total)
        if show:
            print(f"  p_{n} = {matches}/{total} = {p[-1]:.3f}")
    c = len(hyp)
    r = min((abs(len(x) - c), len(x)) for x in refs)[1]
    bp = math.exp(1 - r / c) if c < r else 1.0
    if show:
        print(f"  c = {c}, closest reference length r = {r}, BP = {bp:.4f}")
    return [bp * math.prod(p[:k]) ** (1 / k) for k in range(1, N + 1)]


def library_bleu(hyp, refs):
    return corpus_bleu(build_corpus([refs], [hyp]))


for candidate in (hyp, "a black dog is running".split()):
    print(" ".join(candidate))
    mine, lib = bleu_by_hand(candidate, refs0, show=True), library_bleu(candidate, refs0)
    print("  BLEU-1..4 by hand:", np.round(mine, 4), " library:", np.round(lib, 4))
    assert np.allclose(mine, lib, atol=1e-8)

# %% [markdown]
# The second candidate is a prefix of the first reference: every n-gram matches, p_1 = ... = p_4
# = 1, and only the brevity penalty, exp(1 - 7/5) = 0.670, keeps it from a perfect score.
#
# (coco-caption adds 1e-15 to the matches and 1e-9 to the counts, so an order with no match gives a
# tiny positive precision instead of 0: the library keeps that, hence `atol` above.)
#
# ## CIDEr-D (Vedantam et al. 2015)
#
# CIDEr asks whether the candidate uses the words the references agree on, weighted by how
# informative they are. Each sentence becomes, per n, a TF-IDF vector over n-grams,
#
#     g_k(s) = count of n-gram k in s * log(|I| / df_k)
#
# with |I| the number of images and df_k the number of images whose references contain k: an
# n-gram every image's references use ("a") weighs 0. Per n, the candidate c is compared with each
# reference s_j by a cosine, with two changes that make it CIDEr-"D": the candidate's counts are
# clipped at the reference's (min), and a Gaussian penalty on the length difference,
#
#     CIDEr-D_n = (10 / m) sum_j exp(-(l_c - l_j)^2 / (2 * 6^2)) <min(g(c), g(s_j)), g(s_j)> / (|g(c)| |g(s_j)|)
#
# and CIDEr-D is the mean over n = 1..4 (l = the number of bigrams, as coco-caption measures it).

# %%
def cider_d_by_hand(i, hyps, refs, sigma=6.0):
    n_images = len(refs)
    per_n = []
    for n in range(1, 5):
        df = Counter(g for rs in refs for g in set().union(*(ngrams(r, n) for r in rs)))
        vec = lambda s: {g: c * math.log(n_images / max(1, df[g]))  # noqa: E731
                         for g, c in ngrams(s, n).items()}
        norm = lambda v: math.sqrt(sum(x * x for x in v.values()))  # noqa: E731
        vc = vec(hyps[i])
        total = 0.0
        for r in refs[i]:
            vr = vec(r)
            dot = sum(min(x, vr[g]) * vr[g] for g, x in vc.items() if g in vr)
            cos = dot / (norm(vc) * norm(vr)) if norm(vc) and norm(vr) else dot
            delta = max(len(hyps[i]) - 1, 0) - max(len(r) - 1, 0)
            total += cos * math.exp(-delta ** 2 / (2 * sigma ** 2))
        per_n.append(10 * total / len(refs[i]))
    return per_n


per_n = cider_d_by_hand(0, hyps, refs)
print("CIDEr-D_n of image 0 for n = 1..4:", np.round(per_n, 4), "  mean:", round(np.mean(per_n), 4))
lib = cider_d_per_image(build_corpus(refs, hyps))
print("library, per image:", np.round(lib, 4))
assert math.isclose(np.mean(per_n), lib[0], rel_tol=1e-9)
assert np.allclose([np.mean(cider_d_by_hand(k, hyps, refs)) for k in range(3)], lib)

# %% [markdown]
# ## ROUGE-L (Lin 2004)
#
# ROUGE-L looks at the longest common subsequence (LCS): words in the same order, not necessarily
# adjacent. With P = LCS / |c| and R = LCS / |s|, each maximised over the references separately,
#
#     ROUGE-L = (1 + b^2) P R / (R + b^2 P),   b = 1.2 (recall weighs a bit more)
#
# The LCS is the classic dynamic programme `L[i, j] = L[i-1, j-1] + 1` if the words match, else
# `max(L[i-1, j], L[i, j-1])`. Below, its table for the candidate against the first reference:

# %%
def lcs_table(a, b):
    L = np.zeros((len(a) + 1, len(b) + 1), int)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            L[i, j] = L[i - 1, j - 1] + 1 if a[i - 1] == b[j - 1] else max(L[i - 1, j], L[i, j - 1])
    return L


L = lcs_table(hyp, refs0[0])
print("          " + " ".join(f"{w[:5]:>5}" for w in refs0[0]))
for w, row in zip(hyp, L[1:]):
    print(f"{w[:8]:>8}  " + " ".join(f"{x:>5}" for x in row[1:]))
lcs = [int(lcs_table(hyp, r)[-1, -1]) for r in refs0]
P, R = max(l / len(hyp) for l in lcs), max(l / len(r) for l, r in zip(lcs, refs0))
rouge = (1 + 1.2 ** 2) * P * R / (R + 1.2 ** 2 * P)
print(f"LCS per reference {lcs}; P = {P:.4f}, R = {R:.4f}, ROUGE-L = {rouge:.4f}; "
      f"library {rouge_l_per_image(refs, hyps)[0]:.4f}")
assert math.isclose(rouge, rouge_l_per_image(refs, hyps)[0], rel_tol=1e-12)

# %% [markdown]
# ## METEOR
#
# METEOR (Denkowski & Lavie 2014) aligns the candidate with each reference through exact words,
# stems, WordNet synonyms and paraphrases, and combines precision, recall (weighted toward recall)
# and a fragmentation penalty. Its alignment tables are data, not arithmetic, so vsa-np does not
# re-implement it: it runs coco-caption's `meteor-1.5.jar`, which needs **Java** on the PATH and
# the `pycocoevalcap` package (where the jar ships). Without them METEOR is reported as absent
# (None), never guessed. Starting the JVM takes several seconds, so quick mode skips it.

# %%
reason = unavailable_reason()
use_meteor = reason is None and not QUICK
print("METEOR:", "skipped in quick mode" if QUICK and reason is None else
      (f"unavailable ({reason})" if reason else "available"))
corpus_scores = score_all([[" ".join(r) for r in rs] for rs in refs], [" ".join(h) for h in hyps],
                          use_meteor=use_meteor)
for k, v in corpus_scores.items():
    print(f"  {k:8} {'absent' if v is None else f'{v:.4f}'}")

# %% [markdown]
# ## What each metric rewards
#
# Four candidates for image 0: the good one, the same words shuffled, a short correct prefix, and
# a caption of the wrong image. Shuffling keeps BLEU-1 at 1 but no bigram survives (BLEU-2..4 = 0)
# and the LCS shrinks; the short prefix has perfect precision and is punished by BLEU's brevity
# penalty, by ROUGE-L's recall and by CIDEr-D's length penalty; the wrong image's caption still
# earns BLEU-1 and ROUGE-L credit for "a", "is", "on the". CIDEr-D weighs "a" and "the" 0 (all three
# images' references use them), but "is", "on" and "on the" occur in the references of two of the
# three images (the dog's and the cyclist's), so they weigh log(3/2) = 0.41, against log 3 = 1.10
# for words only image 0's references use ("dog", "black"). CIDEr-D gives the wrong caption little
# because those few matches are light AND because the references' vectors are dominated by the
# heavy words it lacks (the cosine divides by their length), not because its matches weigh 0.
# (Per-image scores; CIDEr-D's weights come from the three images' references.)

# %%
for n, gram in ((1, ("a",)), (1, ("the",)), (1, ("is",)), (1, ("on",)), (2, ("on", "the")),
                 (1, ("dog",))):
    df = sum(any(gram in ngrams(r, n) for r in rs) for rs in refs)
    print(f"{' '.join(gram):8} in the references of {df} of {len(refs)} images: "
          f"weight log({len(refs)}/{df}) = {math.log(len(refs) / df):.3f}")
assert math.isclose(math.log(len(refs) / sum(any(("is",) in ngrams(r, 1) for r in rs) for rs in refs)),
                    math.log(1.5))

# %%
variants = {
    "good": "a black dog is running on grass",
    "shuffled": "grass on running is dog black a",
    "short": "a black dog",
    "wrong image": "a man is riding a bike on the road",
}
names = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L"]
table = {}
for label, text in variants.items():
    h = [text.split()] + hyps[1:]
    b = library_bleu(h[0], refs0)
    table[label] = b + [rouge_l_per_image(refs, h)[0], cider_d_per_image(build_corpus(refs, h))[0]]
    print(f"{label:12} " + "  ".join(f"{n} {v:.3f}" for n, v in zip(names + ["CIDEr-D"], table[label])))

good, shuffled, short, wrong = table.values()
assert math.isclose(shuffled[0], 1) and math.isclose(good[0], 1) and max(shuffled[1:4]) < 1e-5 and shuffled[4] < good[4]
assert short[1] < good[1] and short[4] < good[4] and short[5] < good[5]
assert wrong[5] < 0.1 * min(good[5], shuffled[5], short[5]) and wrong[4] > 0.3

fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
width = 0.8 / len(variants)
for k, (label, vals) in enumerate(table.items()):
    xs = np.arange(len(names)) + (k - (len(variants) - 1) / 2) * width
    ax.bar(xs, vals[:len(names)], width, label=label)
    ax2.bar(k, vals[-1], 0.7, color=f"C{k}")
ax.set_xticks(range(len(names)), names)
ax.set_ylim(0, 1.18)
ax.set_ylabel("score (fraction)")
ax.set_title("Image 0: five references, four candidates")
ax.legend(fontsize=8, ncol=4, loc="upper center")
ax2.set_xticks(range(len(variants)), list(variants), rotation=30)
ax2.set_title("CIDEr-D (x10 scale)")
save(fig, FIG, "metric_bars")

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error (skipped while it is a stub; worked solutions in
# `lessons/solutions/lesson07.py`, used in quick mode or with LESSONS_SOLUTIONS=1). Both work on
# one candidate and its references, as token lists.
#
# **Exercise 07.1: BLEU.** Write `bleu(hyp, refs) -> [BLEU-1, ..., BLEU-4]`: clipped counts (an
# n-gram matches at most as often as it occurs in the one reference where it occurs most), the
# geometric means, and the brevity penalty with the closest reference length (the shorter on a
# tie). The check's references have 6, 9 and 13 words and its hypotheses repeat n-grams ("a dog a
# dog runs on the grass", 8 words: closest reference 9, not the shortest) or sit between two
# references (11 words): no clipping, clipping at the sum over the references, the shortest
# reference and the longer one on a tie each fail it.

# %%
def bleu(hyp, refs):
    raise NotImplementedError  # your code here


exercise("07.1", bleu)

# %% [markdown]
# **Exercise 07.2: ROUGE-L.** Write `rouge_l(hyp, refs)` with its own LCS table: P and R each
# maximised over the references, b = 1.2. In the check, "a dog runs on the grass" gets its best P
# from one reference and its best R from the other, so the best per-reference F fails it.

# %%
def rouge_l(hyp, refs):
    raise NotImplementedError  # your code here


exercise("07.2", rouge_l)

# %% [markdown]
# ## Summary
#
# - BLEU clips each n-gram's count at the most any one reference has, multiplies the precisions,
#   and penalises a hypothesis shorter than its closest reference.
# - CIDEr-D weights n-grams by how rare they are across images (tf-idf) and compares with each
#   reference by cosine; ROUGE-L uses the longest common subsequence, P and R maximised apart.
# - Each rewards something different (the bars, and the asserts under them): a shuffled sentence
#   keeps BLEU-1 = 1 and loses BLEU-2..4; a short one loses on BLEU-2, ROUGE-L and CIDEr-D; a
#   sentence for the wrong image keeps a ROUGE-L above 0.3 but less than a tenth of the others'
#   CIDEr-D.
