# %% [markdown]
# # Lesson 06: the multimodal RNN, and decoding captions (greedy, beam search)
#
# Paper: Sec. 3.2, Eq. 13-15, Figure 4; Sec. 3.3 (RMSprop); Sec. 4.2 (beam size 7).
#
# **What you will learn:** the generator of Eq. 13-15, its backward pass through time, training it
# with RMSprop (and why the loss jumps at step 2), greedy and beam search decoding, what a wider
# beam changes; you write backpropagation through time. **What you need:** lessons 01 and 03.
# **How long it runs:** about 8 s in quick mode (`LESSONS_QUICK=1`, measured on two shared CPU
# cores, run after the lessons before it; it trains the shared generator the first time); full
# mode uses more data and steps.
#
# The generator is a ReLU RNN language model that sees the image once, as a bias at the first step:
#
#     (13) b_v = W_hi CNN(I)
#     (14) h_t = f(W_hx x_t + W_hh h_{t-1} + b_h + 1(t = 1) b_v)
#     (15) y_t = softmax(W_oh h_t + b_o)
#
# Training (teacher forcing): h_0 = 0, x_1 = START, then x_t = the (t-1)-th word of the sentence;
# the target of step t is word t, and of the last step the END token; maximise the log probability
# of the targets. In vsa-np START and END are the same index 0 (`<end>`, lesson 00), and the model
# is `CaptionModel` in `vsa_np/core/generator.py`, with its decoders `greedy`, `sample` and
# `beam_search`.
#
# **Backward pass.** With p_t = y_t the softmax and k_t the target, the loss -log p_t[k_t] has
# gradient `p_t - onehot(k_t)` with respect to the scores (Eq. 15), then `dW_oh = sum_t h_t^T ds_t`
# and `dh_t = ds_t W_oh^T`. Eq. 14 is the RNN of lesson 01 with input a_t = W_hx x_t (+ b_v at
# t = 1), so backpropagation through time gives da_t, and then `dW_hx = sum_t x_t^T da_t`,
# `db_v = da_1` (the image only reaches the first step), `dW_hi = CNN(I)^T db_v`, and the word
# vectors get `da_t W_hx^T` scattered onto their rows.

# %%
import json
import textwrap

import numpy as np
from _common import figure_dir, generator_config, lesson_world, plt, save, trained_generator
from exercises import exercise
from PIL import Image

from gradcheck import run_checks
from gradcheck.checks.generator import GENERATOR_CHECKS
from gradcheck.cli import format_table
from vsa_np.backend import to_host, xp
from vsa_np.core.generator import CaptionModel, beam_search, greedy, sample
from vsa_np.core.train import RMSProp
from vsa_np.data import caption_batch, encode_split, load_dataset
from vsa_np.generator.evaluate import caption_diversity, references, training_sentences
from vsa_np.metrics import score_all
from vsa_np.trained import load_generator

FIG = figure_dir("06_multimodal_rnn_and_decoding")
world = lesson_world()
ds = load_dataset(world)

# %% [markdown]
# ## Gradient checks
#
# The whole model, every parameter, in float64: the paper's ReLU RNN, alone and with dropout (a
# fixed mask), then with b_v added at every step instead of at t = 1 only; and an LSTM in Eq. 14's
# place (`cell="lstm"`), alone and with dropout and b_v at every step (the demo's generator,
# lesson 09).

# %%
rows = run_checks(GENERATOR_CHECKS)
print(format_table(rows))
assert all(r.status == "PASS" for r in rows)

# %% [markdown]
# ## Training
#
# RMSprop (Sec. 3.3: "we achieved the best results using RMSprop"), gradients clipped at 5, the
# output bias b_o started at the log frequencies of the words (so the first predictions are the
# word frequencies rather than uniform), validation after every epoch and the best checkpoint kept
# by validation perplexity (`GenConfig.best`: CIDEr-D or BLEU-4 can be chosen instead; perplexity
# counts every word of every validation sentence, so it is the least noisy). The library's trainer
# does all of it (`vsa-np train-gen` on the command line; its loop is `train` in
# `vsa_np/core/train.py`, shared with the alignment model). On the quick world (200 training
# images) the validation perplexity soon turns up again: the model starts to memorise; the
# checkpoint kept is the one with the lowest validation perplexity, and the trainer stops after
# `patience` epochs without a better one.

# %%
cfg = generator_config()
print(cfg)
run = trained_generator(world, cfg)
model, vocab, meta = load_generator(run)          # the best checkpoint
log = json.loads((run / "log.json").read_text())
print(f"vocabulary {len(vocab)}; the best checkpoint (step {meta['train_state']['step']}): "
      f"validation perplexity {meta['metrics']['val']['perplexity']:.2f}, CIDEr-D "
      f"{meta['metrics']['val']['CIDEr-D']:.3f}" if "metrics" in meta else "")
first = [r["loss"] for r in log["train"][:5]]
print("training loss per sentence, steps 1-5:", " ".join(f"{x:.1f}" for x in first))

# %% [markdown]
# **Why the loss jumps at step 2.** The line above prints the first training losses: in quick
# mode 44.2 at step 1, 168.7 at step 2, 129.3 at step 3, then 35.3 at step 4; in full mode
# (larger model, dropout) the jump is far larger: 43.2 at step 1, about 893,000 at step 2, 57.1 at
# step 3 (3.7 million when issue 24 was filed, before the code changed).
# It is RMSprop's first step. The cache c starts at 0, so after the first gradient
# c = (1 - 0.999) g^2 and the update is lr g / sqrt(0.001 g^2) = lr / sqrt(0.001), about 32 lr,
# for every weight whose gradient is not tiny, whatever the size of its gradient: every weight
# moves by about 0.03 (lr 1e-3) at once, opposite to its gradient's sign. The second
# step is still about 22 lr per weight (c = 0.999 * 0.001 g1^2 + 0.001 g2^2). So the first steps
# are large and all the same size, the loss jumps, and training recovers as the cache fills
# (its time constant is 1 / (1 - 0.999) = 1000 steps). Adam's bias correction divides c by
# (1 - decay^t) to avoid exactly this; the paper's RMSprop, and its released code, have none.
#
# What the library does about it: nothing, on purpose. `RMSProp` in `vsa_np/core/train.py` is the
# update of the paper's released code (decay 0.999, eps 1e-8 inside the root, no bias correction;
# the paper names RMSprop without its constants), so that a run is the paper's optimiser.
# Clipping the gradients at 5 does not help, since the first step does not depend on the
# gradient's size; what keeps the jump short is the cache filling up, and what
# avoids it is a smaller lr or a correction the paper does not have. The cell below runs the
# library's `RMSProp` on five weights whose gradients span five orders of magnitude.

# %%
demo = RMSProp(lr=1e-3, decay=0.999)
g_demo = np.array([1e-3, 1e-2, 1.0, 5.0, 50.0])          # the same gradient at every step
w_demo = {"w": xp.zeros(5)}
for t in (1, 2, 3):
    before = to_host(w_demo["w"]).copy()
    demo.step(w_demo, {"w": xp.asarray(g_demo)})
    moved = np.abs(to_host(w_demo["w"]) - before) / demo.lr
    print(f"RMSprop step {t}: |update| / lr for gradients {g_demo.tolist()}: "
          + " ".join(f"{m:.1f}" for m in moved))
    if t == 1:
        assert np.allclose(moved[2:], 1 / np.sqrt(1 - 0.999), rtol=1e-3)   # 31.6, any size

# %% [markdown]
# The first step moves every weight whose gradient is above about 0.01 by 31.6 lr, whether its
# gradient is 1 or 50; only gradients near 1e-3 move less, because eps 1e-8 inside the root is
# then comparable with 0.001 g^2. The second and third steps (22.4 and 18.3 lr for the same
# gradient) shrink as 1 / sqrt(1 - 0.999^t): the time constant of 1000 steps.

# %%
# The starting loss with and without the log-frequency bias: what "start at the unigram model" buys.
enc = encode_split(ds, vocab, "train")
batch = caption_batch(ds, enc, np.arange(200))
for counts, what in ((None, "b_o = 0 (uniform)"), (vocab.counts, "b_o = log word frequencies")):
    fresh = CaptionModel(len(vocab), ds.feature_dim, hidden=cfg.hidden, word_dim=cfg.word_dim,
                         dropout=0.0, word_counts=counts)
    nll = -float(to_host(fresh.log_probs(batch)).sum()) / batch["mask"].sum()
    print(f"untrained, {what:26}: perplexity {np.exp(nll):6.2f}  (vocabulary {len(vocab)})")

# %% [markdown]
# ## Numbers to expect
#
# **Perplexity at initialisation: about V.** At the start the scores W_oh h_t + b_o are small and
# nearly equal (small random W_oh, b_o = 0), so y_t is close to uniform: every target gets
# probability about 1/V, -log p about log V per word, and the perplexity exp(mean -log p) about V
# (about 41 above, for V = 41). Much more than V means a bug or a bad scale (the scores are far from
# equal and confidently wrong). Starting b_o at the log word frequencies (neuraltalk's trick, and
# the trainer's) makes the first predictions the unigram model, whose perplexity is the lower
# number above; the trainer prints the model's first validation perplexity beside the unigram
# model's.
#
# **Overfit ten sentences.** Before training for real: ten images, one sentence each, the model of
# the lesson without dropout, RMSprop. A correct forward and backward pass drive the loss (summed
# -log p per sentence) to near zero, and greedy decoding then writes the ten training sentences
# back word for word.

# %%
first_of_image = np.flatnonzero(np.r_[True, enc.img_idx[1:] != enc.img_idx[:-1]])
ten = caption_batch(ds, enc, first_of_image[:10])     # ten images, one sentence each
small = CaptionModel(len(vocab), ds.feature_dim, hidden=cfg.hidden, word_dim=cfg.word_dim,
                     dropout=0.0, word_counts=vocab.counts, seed=0)
small.training = True
opt = RMSProp(lr=3e-3)
fit = []
for step in range(300):
    loss, grads = small.loss(ten)
    opt.step(small.params, grads)
    fit.append(float(loss))
small.training = False
back = greedy(small, xp.asarray(ten["feats"]), max_len=cfg.max_len).tokens
copied = sum(b[0] == list(t[m][:-1]) for b, t, m in zip(back, ten["targets"], ten["mask"]))
print(f"overfitting 10 sentences: loss per sentence {fit[0]:.2f} -> {fit[-1]:.4f} in {len(fit)} "
      f"steps; greedy decoding gives back {copied} of the 10 sentences word for word")
assert fit[-1] < 0.02 * fit[0] and copied >= 8

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.8))
ax.plot([r["step"] for r in log["train"]], [r["loss"] for r in log["train"]], lw=0.6)
ax.set_yscale("log")
ax.set_xlabel("step")
ax.set_ylabel("loss (summed -log p per sentence)")
ax.set_title("Training the multimodal RNN (Eq. 15)")
steps = [r["step"] for r in log["eval"]]
ax2.plot(steps, [r["val"]["perplexity"] for r in log["eval"]], "o-", ms=3, label="val perplexity")
ax2.set_xlabel("step")
ax2.set_ylabel("perplexity")
ax3 = ax2.twinx()
ax3.plot(steps, [r["val"]["CIDEr-D"] for r in log["eval"]], "s-", ms=3, color="C1",
         label=f"val CIDEr-D (beam {cfg.eval_beam})")
ax3.set_ylabel("CIDEr-D")
ax2.set_title("Validation after every epoch")
fig.legend(loc="lower right", bbox_to_anchor=(0.9, 0.2), fontsize=8)
save(fig, FIG, "training")

# %% [markdown]
# ## Eq. 13-15 one step at a time
#
# What the model computes, spelled out for one test sentence: the image bias, then one step per
# word, adding log y_t[target] as we go. The library's `log_probs` (teacher forcing, all sentences
# and steps at once) must give the same number.

# %%
test_enc = encode_split(ds, vocab, "test")
one = caption_batch(ds, test_enc, np.array([0]))
print("sentence:", " ".join(vocab.decode(one["targets"][0])))
a = model.input_table()[0] + model.image_bias(one["feats"])[0]      # START + b_v (Eq. 13, 14)
state = model.initial_state(1)                                       # h_0 = 0
total = 0.0
for t, target in enumerate(one["targets"][0][one["mask"][0]]):
    state, logits = model.step(a[None], state)                       # Eq. 14, 15
    scores = to_host(logits[0]).astype(np.float64)
    logp = scores - scores.max() - np.log(np.exp(scores - scores.max()).sum())
    total += logp[target]
    a = model.input_table()[target]                                  # feed the word back in
print(f"log p(sentence | image): by hand {total:.5f}, library {float(to_host(model.log_probs(one))[0]):.5f}")
assert np.isclose(total, float(to_host(model.log_probs(one))[0]), rtol=1e-4)

# %% [markdown]
# ## Decoding: greedy and beam search
#
# At test time there is no sentence to feed: "We sample a word from the distribution (or pick the
# argmax), set its embedding vector as x_2, and repeat this process until the END token is
# generated. In practice we found that beam search (e.g. beam size 7) can improve results."
#
# Greedy decoding takes the argmax at every step: the most likely FIRST word, which need not start
# the most likely sentence. Beam search keeps the K best partial captions; at each step it extends
# every one by every word (K x V candidates, scored by their total log probability) and keeps the
# K best; a caption that has produced END stays in the beam with its score and competes with the
# unfinished ones. K = 1 is greedy decoding exactly:

# %%
test = ds.split_indices("test")
feats = np.asarray(ds.feats[test])
g = greedy(model, feats, max_len=cfg.max_len)
b1 = beam_search(model, feats, beam=1, max_len=cfg.max_len)
assert g.tokens == b1.tokens
print(f"beam size 1 == greedy on all {len(test)} test images")

refs = references(ds, "test")
train_sentences = training_sentences(ds)
sweep = {}
for K in (1, 2, 3, 5, 7):
    out = beam_search(model, feats, beam=K, max_len=cfg.max_len)
    best, lp = out.best()
    hyps = {int(i): vocab.decode(c) for i, c in zip(test, best)}
    m = score_all(refs, hyps, use_meteor=False)
    sweep[K] = {"logprob": float(lp.mean()), "BLEU-4": m["BLEU-4"], "CIDEr-D": m["CIDEr-D"],
                "words": float(np.mean([len(h) for h in hyps.values()])),
                "per_image": np.asarray(to_host(lp), dtype=np.float64), "best": best,
                "copied": caption_diversity(hyps, train_sentences)["in_training"]}
    print(f"beam {K}: mean log p {sweep[K]['logprob']:7.3f}  BLEU-4 {m['BLEU-4']:.3f}  "
          f"CIDEr-D {m['CIDEr-D']:.3f}  mean length {sweep[K]['words']:.1f} words  "
          f"{100 * sweep[K]['copied']:3.0f}% copied from the training sentences")

# Beam search is NOT monotone in K: a larger beam keeps more prefixes at every step, but the K
# best prefixes at step t need not contain the prefix of the K' < K search's final caption, so it
# can be pruned. Count, per image, how often a larger beam ended with a LESS likely caption.
Ks = list(sweep)
for k_small, k_big in zip(Ks, Ks[1:]):
    worse = int((sweep[k_big]["per_image"] < sweep[k_small]["per_image"] - 1e-9).sum())
    print(f"beam {k_big} against beam {k_small}: less likely best caption on {worse} of {len(test)} "
          f"images (mean log p {sweep[k_small]['logprob']:.3f} -> {sweep[k_big]['logprob']:.3f})")

# %% [markdown]
# The log probability of the best caption grows with K *on the whole* (beam 7 against beam 1 above),
# but not at every step and not for every image: beam search is a heuristic, not an exact search,
# and a larger beam can prune the very prefix that a smaller one followed to a likelier caption
# (the lines above count where that happened). Only an exhaustive search is monotone. The
# metrics need not follow the log probability either. Every word costs log probability, so a
# wider search can find shorter captions, which can cost recall against the references; whether
# it does depends on the model (the mean-length column: quick mode prints 15.0 words at beam 1
# and 10.2 at beam 7, 15.6 at beam 2: shorter at the larger beams; full mode 13.1 at beam 1
# and 13.1 at beam 7, 12.8 at beam 3: no trend). The paper reports
# beam size 7 against 1 as CIDEr 0.66 against 0.61, and notes that with beam 7 a larger share of
# the captions are copies of training sentences: "60% with beam size 7 ... with beam size 1 this
# falls to 25%" (Sec. 4.2). The last column above is that share on the shapes world: a minority
# of the captions, growing with K as in the paper (quick mode prints 15% at beam 1 and 35% at
# beam 7; full mode 27% at beam 1 and 43% at beams 5 and 7). The grammar is small, but a
# caption names two or three objects with their colours, sizes and places, so most captions are
# new sentences, not copies.

# %%
fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
ax.plot(Ks, [sweep[k]["logprob"] for k in Ks], "o-")
ax.set_xlabel("beam size K")
ax.set_ylabel("mean log p(caption | image)")
ax.set_title("Likelier captions on the whole, not monotone in K")
for key, mk in (("BLEU-4", "o-"), ("CIDEr-D", "s-")):
    ax2.plot(Ks, [sweep[k][key] for k in Ks], mk, label=key)
ax2.set_xlabel("beam size K")
ax2.set_title(f"Test metrics ({len(test)} images)")
ax2.legend()
save(fig, FIG, "beam_size")

# %% [markdown]
# ## Where greedy loses, one step at a time
#
# d2l's three-step table, on this model: the test image where beam 7's caption is likeliest
# relative to greedy's. Each row is a step; each column pair is one decoder's word and its log
# probability given that decoder's own prefix. Greedy takes the best word at every step and can
# pay for it later. Read the table before believing that beam 7 wins by a cleverer path through
# the same caption: it wins by being short. In quick mode (test image 235) greedy writes 23 words
# naming three objects (log p -11.9), beam 7 writes "there is a yellow star", 5 words naming one
# (log p -3.3), and leaves out every object greedy names. Every word costs log probability, so
# the likeliest caption is one that stops early: the length bias of the next section. Full mode
# shows the same on its image (test image 1182): greedy writes 23 words naming three objects
# with their places (log p -12.4); beam 7 pays 2.3 nats for its first word ("two") and then
# writes "two shapes a large yellow star and a large green square", 11 words, two objects, no
# places (log p -7.7). The beam does not gain back what it gave up by saying more; it gains it
# by saying less.

# %%
def step_logprobs(feat, tokens):
    """log p of each word of `tokens`, then of END, given the image and the words before it."""
    table = model.input_table()
    a = table[0] + model.image_bias(xp.asarray(feat[None]))[0]
    state = model.initial_state(1)
    out = []
    for w in list(tokens) + [0]:
        state, logits = model.step(a[None], state)
        sc = to_host(logits[0]).astype(np.float64)
        out.append(float(sc[w] - sc.max() - np.log(np.exp(sc - sc.max()).sum())))
        a = table[w]
    return out


gap = sweep[7]["per_image"] - sweep[1]["per_image"]
j = int(np.argmax(gap))
g_words, b_words = sweep[1]["best"][j], sweep[7]["best"][j]
g_lp, b_lp = step_logprobs(feats[j], g_words), step_logprobs(feats[j], b_words)
names = vocab.decode(g_words) + ["<end>"], vocab.decode(b_words) + ["<end>"]
print(f"test image {int(test[j])}: greedy log p {sum(g_lp):.3f}, beam 7 log p {sum(b_lp):.3f}")
print(f"{'step':>4}  {'greedy word':>12} {'log p':>7} {'total':>7}   {'beam-7 word':>12} {'log p':>7} "
      f"{'total':>7}")
for t in range(max(len(g_lp), len(b_lp))):
    row = f"{t + 1:4d}  "
    for nm, lps in zip(names, (g_lp, b_lp)):
        row += (f"{nm[t]:>12} {lps[t]:7.3f} {sum(lps[:t + 1]):7.3f}   " if t < len(lps)
                else " " * 31)
    print(row.rstrip())
assert np.isclose(sum(g_lp), sweep[1]["per_image"][j], atol=1e-3)
assert np.isclose(sum(b_lp), sweep[7]["per_image"][j], atol=1e-3)
assert len(b_words) < len(g_words)      # the beam's caption is the shorter one (the text above)

# %% [markdown]
# ## Sampling with a temperature, and length normalisation
#
# The paper's other decoder: "We sample a word from the distribution". The library's `sample`
# draws from softmax(log y_t / T): T < 1 sharpens the distribution toward greedy, T > 1 flattens
# it toward uniform. Sampled captions are more varied and less likely than greedy's.
#
# Beam search's preference for short captions has a common remedy that is not in the paper:
# rank the finished captions by their log probability per word (here, per word + END) instead
# of in total. Below, beam 7's seven best captions re-ranked that way.

# %%
for T in (0.5, 1.0, 1.5):
    out = sample(model, feats, temperature=T, max_len=cfg.max_len, seed=0)
    best, lp = out.best()
    hyps = {int(i): vocab.decode(c) for i, c in zip(test, best)}
    div = caption_diversity(hyps, train_sentences)
    print(f"sampling T = {T}: mean log p {lp.mean():7.3f}, mean length "
          f"{np.mean([len(c) for c in best]):4.1f}, distinct {100 * div['distinct']:3.0f}%, "
          f"copied {100 * div['in_training']:3.0f}%   image 0: {' '.join(hyps[int(test[0])])}")

nbest = beam_search(model, feats, beam=7, max_len=cfg.max_len, n_best=7)
for label, key in (("total log p", lambda c, lp: lp), ("log p per word", lambda c, lp: lp / (len(c) + 1))):
    picked = [max(zip(cs, lps), key=lambda x: key(*x))[0] for cs, lps in zip(nbest.tokens, nbest.logprob)]
    hyps = {int(i): vocab.decode(c) for i, c in zip(test, picked)}
    m = score_all(refs, hyps, use_meteor=False)
    print(f"beam 7 ranked by {label:15}: mean length {np.mean([len(c) for c in picked]):4.1f} "
          f"words, BLEU-4 {m['BLEU-4']:.3f}, CIDEr-D {m['CIDEr-D']:.3f}")

# %% [markdown]
# What to read in these lines: the lower the temperature, the likelier the samples (T = 0.5 is
# close to greedy; at T = 1.5 the grammar falls apart in quick mode, not in full mode); the share
# copied from training hardly moves with T (full mode: 24%, 21%, 22%); and every sample is a
# different caption where beam search repeats the likeliest ones. Ranking by log probability
# per word lengthens beam search's captions; whether that helps the metrics depends on how long
# the references are (on the quick world it did not).

# %% [markdown]
# ## A beam search tree, by hand
#
# The library's beam search runs all images and all K hypotheses as one batch. Here is the same
# search for ONE image written as plainly as possible (K = 3), keeping the whole tree so that we can
# draw it; its best caption must be the library's.

# %%
K, max_len = 3, cfg.max_len
image = 0
table = model.input_table()
beams = [{"score": 0.0, "words": [], "state": model.initial_state(1)[0],
          "a": table[0] + model.image_bias(feats[image:image + 1])[0], "done": False, "node": 0}]
nodes = [{"t": 0, "word": "START", "parent": None, "score": 0.0, "done": False}]  # the tree
for t in range(1, max_len + 2):
    candidates = []
    for j, beam in enumerate(beams):
        if beam["done"]:                 # a finished caption competes with its score unchanged
            candidates.append((beam["score"], j, None, None))
            continue
        state, logits = model.step(beam["a"][None], beam["state"][None])
        s = to_host(logits[0]).astype(np.float64)
        logp = s - s.max() - np.log(np.exp(s - s.max()).sum())
        if t == max_len + 1:             # out of room: END is forced
            logp[1:] = -np.inf
        for w in np.argsort(-logp)[:K]:  # only a beam's K best words can survive
            candidates.append((beam["score"] + logp[w], j, int(w), state[0]))
    candidates.sort(key=lambda c: -c[0])
    new = []
    for score, j, w, state in candidates[:K]:
        old = beams[j]
        if w is None:
            new.append(old)
            continue
        nodes.append({"t": t, "word": "END" if w == 0 else vocab.words[w - 1],
                      "parent": old["node"], "score": score, "done": w == 0})
        new.append({"score": score, "words": old["words"] + ([w] if w else []), "state": state,
                    "a": table[w], "done": w == 0, "node": len(nodes) - 1})
    beams = new
    if all(b["done"] for b in beams):
        break
lib = beam_search(model, feats[image:image + 1], beam=K, max_len=max_len)
print("by hand:", " ".join(vocab.decode(beams[0]["words"])), f"({beams[0]['score']:.4f})")
print("library:", " ".join(vocab.decode(lib.tokens[0][0])), f"({lib.logprob[0][0]:.4f})")
assert beams[0]["words"] == lib.tokens[0][0] and np.isclose(beams[0]["score"], lib.logprob[0][0],
                                                           atol=1e-3)

# %%
best_path, n = set(), beams[0]["node"]
while n is not None:
    best_path.add(n)
    n = nodes[n]["parent"]
rank_at = {}                                  # vertical position: the order nodes appear per step
for i, nd in enumerate(nodes):
    rank_at[i] = sum(1 for m in nodes[:i] if m["t"] == nd["t"])
T = max(nd["t"] for nd in nodes)
# A long search is drawn in two rows of steps (the second continues the first), 12 inches wide.
per_row = T + 1 if T <= 11 else (T + 2) // 2
n_rows = (T + per_row) // per_row
fig, axes = plt.subplots(n_rows, 1, figsize=(12, 3.0 * n_rows), squeeze=False)
for r, ax in enumerate(axes[:, 0]):
    t0, t1 = r * per_row, min(T, (r + 1) * per_row - 1)
    for i, nd in enumerate(nodes):
        x, y = nd["t"], -rank_at[i]
        if not t0 <= x <= t1:
            continue
        if nd["parent"] is not None:
            p = nd["parent"]
            on = i in best_path and p in best_path
            px = max(nodes[p]["t"], t0 - 0.5)         # from the left edge: continued from above
            ax.plot([px, x], [-rank_at[p], y], color="tab:red" if on else "0.7",
                    lw=2.5 if on else 1, zorder=1)
        ax.text(x, y, nd["word"], ha="center", va="center", fontsize=8, zorder=2,
                bbox=dict(boxstyle="round", fc="#ffe0e0" if i in best_path else
                          ("#e0e0ff" if nd["done"] else "white"), ec="0.5"))
    ax.set_xlim(t0 - 0.6, t0 + per_row - 0.4)
    ax.set_ylim(-K + 0.4, 0.6)
    ax.set_xticks(range(t0, t1 + 1))
    ax.set_yticks([])
axes[-1, 0].set_xlabel("step t")
axes[0, 0].set_title(f"Beam search (K = {K}) on test image {image}: every hypothesis kept at each "
                     f"step; rows: rank in the beam;\nred: the best caption; blue: finished (END)"
                     + ("; the second row continues the first" if n_rows > 1 else ""),
                     fontsize=10)
fig.tight_layout()
save(fig, FIG, "beam_tree")

# %% [markdown]
# ## Captions under their images

# %%
b7 = beam_search(model, feats, beam=7, max_len=cfg.max_len)
fig, axes = plt.subplots(2, 3, figsize=(13, 11.5))
for ax, k in zip(axes.ravel(), range(6)):
    ax.imshow(Image.open(ds.root / "images" / ds.images[test[k]]["filename"]))
    ax.set_xticks([])
    ax.set_yticks([])
    lines = [("greedy", vocab.decode(g.tokens[k][0])), ("beam 7", vocab.decode(b7.tokens[k][0])),
             ("reference", ds.images[test[k]]["sentences"][0]["tokens"])]
    ax.set_xlabel("\n".join(textwrap.fill(f"{name}: {' '.join(words)}", 48) for name, words in lines),
                  fontsize=8, loc="left")
    ax.set_title(f"test image {k}", fontsize=9)
fig.subplots_adjust(hspace=0.5, wspace=0.08)
save(fig, FIG, "captions")

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error (skipped while it is a stub; worked solutions in
# `lessons/solutions/lesson06.py`, used in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 06.1: Eq. 15's loss and its gradient.** x (N, T, V) scores, y (N, T) targets, mask
# (N, T). Write `softmax_loss(x, y, mask) -> (loss, dx)`: minus the log softmax at the targets,
# summed over the valid steps and divided by N, and its gradient (subtract the largest score
# before exponentiating). The library's `softmax_loss(scores, y, n)` (`vsa_np/core/layers.py`)
# takes the valid steps' rows only, as the generator computes no scores on padding: the check
# calls it on `x[mask]` and puts its gradient back in place, zero on the padding.

# %%
def softmax_loss(x, y, mask):
    raise NotImplementedError  # your code here


exercise("06.1", softmax_loss)

# %% [markdown]
# **Exercise 06.2: greedy decoding.** Write `greedy_decode(model, feat, max_len)` for ONE image
# (feat (D,)), using only `model.input_table()` (row w: word w's input to Eq. 14),
# `model.image_bias(feats)` (Eq. 13, feats (1, D)), `model.initial_state(1)` (h_0 = 0) and
# `model.step(a, state)` (Eq. 14-15 for a batch: -> the new state, the scores of y_t), as the
# section "Eq. 13-15 one step at a time" does. Stop at END (index 0, not part of the caption) or
# after max_len words. The check decodes a small random model.

# %%
def greedy_decode(model, feat, max_len):
    raise NotImplementedError  # your code here


exercise("06.2", greedy_decode)

# %% [markdown]
# **Exercise 06.3: one step of beam search.** Write `beam_step(scores, done, logp, K)`: `scores`
# (k,) the log probabilities of the k kept captions, `done` (k,) which of them have produced END,
# `logp` (k, V) the next word's log probabilities after each. Return the K best candidates as
# three arrays (parent, word, score), best first: caption j extended by word w scores
# scores[j] + logp[j, w]; a finished caption stays as it is (word 0, its score unchanged) and
# competes with the others. The check (`exercises.beam_decode_with`) runs whole beam searches
# (K = 2 and 3, twelve images each) on a small random model with your step and compares the best
# caption and its log probability with the library's `beam_search`. Dropping finished captions,
# letting them go on paying for words, or keeping each caption's best word instead of the K best
# of all extensions each fail on 6 to 12 of the 24 searches.

# %%
def beam_step(scores, done, logp, K):
    raise NotImplementedError  # your code here


exercise("06.3", beam_step)

# %% [markdown]
# **Exercise 06.4: backpropagation through time in the generator (Eq. 13-15).** Write
# `caption_backward(p, feat, words) -> (loss, grads)` for ONE image and sentence: p the
# generator's parameters (W_hi (D, H), W_w (V, E), W_hx (E, H), W_hh (H, H), b_h, W_oh (H, V),
# b_o; a ReLU RNN), feat (D,), words the sentence's word indices. Teacher forcing as above: inputs
# START (0) and the words, targets the words and END (0), L + 1 steps; b_v = feat W_hi added at
# the first step only. Return the summed -log y_t[target] and the gradients of all seven
# parameters (the "Backward pass" paragraph at the top of the lesson). The check compares them
# with `CaptionModel.loss` (gradient-checked above) on two sentences, one with a repeated word.
# Truncating the recurrence (each step's dh alone), giving b_v the gradient of every step,
# dW_hh from h_t instead of h_{t-1}, leaving out the END step, or forgetting the ReLU's mask each
# fail it.

# %%
def caption_backward(p, feat, words):
    raise NotImplementedError  # your code here


exercise("06.4", caption_backward)

# %% [markdown]
# ## Summary
#
# - The generator is a ReLU RNN language model that sees the image once, as a bias at t = 1
#   (Eq. 13-14); training maximises the log probability of each next word (Eq. 15), and its
#   gradient flows back through time to that first step.
# - RMSprop with decay 0.999 and a zero cache makes the first step about 32 lr per weight, so the
#   loss jumps at step 2 and recovers; the library keeps the paper's update.
# - Beam search is not monotone in K, and a wider beam can favour shorter captions (quick mode:
#   15.0 -> 10.2 words; full mode: no trend); greedy is K = 1.
#   Look at the captions, how many are copied from training, and their lengths, not only at
#   BLEU.
