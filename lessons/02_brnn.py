# %% [markdown]
# # Lesson 02: the bidirectional RNN that embeds words (Eq. 2-6)
#
# Paper: Sec. 3.1.2, "Representing sentences", Eq. 2-6 and Figure 3.
#
# **What you will learn:** the bidirectional RNN of Eq. 2-6, its backward pass line by line, how
# sentences of different lengths share one recurrence, how far each word's context reaches; you
# write the forward and the whole backward pass. **What you need:** lesson 01. **How long it
# runs:** about 4 s in quick mode (`LESSONS_QUICK=1`, measured on two shared CPU cores, run after
# the lessons before it); full mode uses more data and steps.
#
# The alignment model puts image regions and words in one h-dimensional space. A word's vector
# should say what it refers to in its sentence ("dog" in "hot dog" is not the animal), so each word
# is read with its context by a bidirectional RNN, f = ReLU:
#
#     (2)  x_t   = W_w 1_t                          the word's vector (a row of W_w)
#     (3)  e_t   = f(W_e x_t + b_e)
#     (4)  h^f_t = f(e_t + W_f h^f_{t-1} + b_f)     left to right, h^f_0 = 0
#     (5)  h^b_t = f(e_t + W_b h^b_{t+1} + b_b)     right to left, h^b_{N+1} = 0
#     (6)  s_t   = f(W_d (h^f_t + h^b_t) + b_d)     s_t in R^h
#
# h^f_t has read words 1..t, h^b_t words t..N, so every s_t depends on the whole sentence, with no
# fixed window (the earlier DeFrag model used dependency-tree relations, two words at a time).
# In vsa-np: `brnn_forward` and `brnn_backward` in `vsa_np/core/alignment.py`, built from the
# layers of lesson 01 (`vsa_np/core/layers.py`).
#
# **Row vectors.** The paper writes column vectors (W_e x_t). The code, and every lesson from here
# on, writes ROW vectors: a batch of inputs is a matrix with one row per word or image, and a layer
# is `x @ W + b`, so each matrix is stored as the transpose of the paper's. Eq. 3 is
# `e = f(x @ W_e + b_e)` with W_e of shape (E, H), Eq. 1 is `v = x @ W_m + b_m` with W_m of shape
# (D, h), and the gradients read `dW = x^T dz`, `dx = dz W^T`. The maths is the same; only the
# order of the factors is mirrored.

# %%
import numpy as np
from _common import figure_dir, plt, save
from exercises import exercise
from matplotlib.colors import LogNorm

from gradcheck import run_checks
from gradcheck.cli import format_table
from vsa_np.backend import to_host, xp
from vsa_np.core.alignment import brnn_backward, brnn_forward, init_params
from vsa_np.core.layers import rnn_backward, rnn_forward

FIG = figure_dir("02_brnn")

# %% [markdown]
# ## The backward pass, derived
#
# Walk the equations backwards with the gradients `ds_t` of the loss with respect to each s_t
# (they come from the score of Eq. 8, lesson 03). Write u_t = h^f_t + h^b_t.
#
#     Eq. 6:  dz_t = ds_t * 1[s_t > 0],   dW_d = sum_t u_t^T dz_t,   db_d = sum_t dz_t,
#             du_t = dz_t W_d^T
#     u_t is a sum, so h^f_t and h^b_t both receive du_t directly.
#     Eq. 4:  h^f_t also feeds h^f_{t+1}: walking t = N..1, g^f_t = du_t + dz^f_{t+1} W_f^T,
#             dz^f_t = g^f_t * 1[h^f_t > 0],  dW_f = sum_t h^f_{t-1}^T dz^f_t
#     Eq. 5:  the mirror image: walking t = 1..N, g^b_t = du_t + dz^b_{t-1} W_b^T, ...
#     e_t feeds both directions: de_t = dz^f_t + dz^b_t
#     Eq. 3:  da_t = de_t * 1[e_t > 0],  dW_e = sum_t x_t^T da_t,  dx_t = da_t W_e^T
#     Eq. 2:  dW_w[w] = sum of dx_t over the positions t where word w occurs (a scatter-add:
#             a word used twice gets both gradients)
#
# Each line is an affine or ReLU backward pass from lesson 01, or an RNN backward pass in one
# direction or the other. `brnn_backward` is exactly this list, top to bottom (and, between the
# word-wise layers and the recurrences, it moves each word's gradient to and from its place in
# the sorted layout of the next section).
#
# ## A small model
#
# A vocabulary of 12 words, word vectors of size 8, BRNN hidden size 10, multimodal size 6, all in
# float64. Biases are set slightly positive so that few ReLUs are off in this untrained model.

# %%
vocab = "<end> a dog cat runs jumps on the grass red ball with".split()
ids = {w: i for i, w in enumerate(vocab)}
params = init_params(vocab_size=len(vocab), image_dim=4, word_dim=8, hidden=10, embed=6,
                     seed=0, dtype=np.float64)
for k in ("b_e", "b_f", "b_b", "b_d"):
    params[k] += 0.3

sentences = ["a dog runs on the grass", "red ball", "the cat jumps on"]
T = max(len(s.split()) for s in sentences)
words = np.zeros((len(sentences), T), np.int64)
word_mask = np.zeros((len(sentences), T), bool)
for b, s in enumerate(sentences):
    toks = [ids[w] for w in s.split()]
    words[b, :len(toks)], word_mask[b, :len(toks)] = toks, True

lengths = word_mask.sum(axis=1)                 # (B,) host ints
s, seg, cache = brnn_forward(words, lengths, params)
print(f"{lengths.sum()} words in {len(sentences)} sentences -> s: {tuple(s.shape)} (one row per "
      f"word, sentence after sentence); seg, the sentence of each row: {to_host(seg).tolist()}")

# %% [markdown]
# ## Sentences of different lengths: sorted longest first
#
# A batch holds sentences of different lengths, left-aligned in a padded (B, T) array. Eq. 2, 3
# and 6 act on each word alone, so `brnn_forward` computes them for the W real words only, one
# matrix product each. The recurrences of Eq. 4-5 must walk through time, and padding must cost
# no work and change nothing. So `brnn_forward` sorts the sentences longest first and lays out
# their e_t in a (B, T, H) array in that order (stored time-major, so that the rows of one step
# are next to each other in memory); then `rnn_forward(a, W, b, lengths)`
# (`vsa_np/core/layers.py`) works, at step t, on the first n_t rows only, n_t being the number of
# sentences with at least t words: once sorted, the sentences still going are the first rows.
# One (n_t, H) x (H, H) product per step, over real words only (PyTorch's packed sequences do the
# same). The other rows are never touched, so h = 0 outside each sentence.
#
# That one rule gives both ends of Eq. 4-5. Left to right, the first step reads h^f_0 = 0.
# Right to left, a sentence of N words starts at its own last word, at step N, while the longer
# sentences are already going: the state it reads there is its row at position N + 1, past its
# end, which is 0, so h^b_{N+1} = 0 as Eq. 5 says. `rnn_backward` walks the same steps the other
# way on the same rows, so padding receives no gradient either.

# %%
order = np.argsort(-lengths, kind="stable")     # what brnn_forward does: longest first
by_length = lengths[order]
n_t = [int((by_length > t).sum()) for t in range(T)]
print("sentences, longest first:", [sentences[b] for b in order])
print("sentences still going at each step, n_t:", n_t)

# rnn_forward on the sorted batch, against one sentence at a time with a plain loop. The padding
# of `a` holds random numbers: they are never read.
H = params["W_f"].shape[0]
Wf, bf = to_host(params["W_f"]), to_host(params["b_f"])
a = np.random.default_rng(1).standard_normal((len(sentences), T, H))
dh = np.random.default_rng(2).standard_normal((len(sentences), T, H))
for reverse in (False, True):
    h, c = rnn_forward(xp.asarray(a), params["W_f"], params["b_f"], by_length, reverse)
    da, dW, db = (to_host(x) for x in rnn_backward(xp.asarray(dh), c))
    h = to_host(h)
    dW_sum = np.zeros_like(dW)
    for row, n in enumerate(by_length):
        prev, loop = np.zeros(H), np.zeros((n, H))
        for t in (reversed(range(n)) if reverse else range(n)):     # Eq. 5, or Eq. 4
            prev = np.maximum(a[row, t] + prev @ Wf + bf, 0)
            loop[t] = prev
        assert np.allclose(h[row, :n], loop) and not h[row, n:].any()
        # the backward pass of this sentence alone (no lengths: all of its n steps)
        _, c1 = rnn_forward(xp.asarray(a[row:row + 1, :n]), params["W_f"], params["b_f"],
                            reverse=reverse)
        da1, dW1, _ = rnn_backward(xp.asarray(dh[row:row + 1, :n]), c1)
        assert np.allclose(da[row, :n], to_host(da1)[0]) and not da[row, n:].any()
        dW_sum += to_host(dW1)
    assert np.allclose(dW, dW_sum)
    print(f"{'right to left' if reverse else 'left to right'}: rnn_forward over the sorted "
          f"sentences == a loop per sentence (h = 0 on the padding); its da == each sentence's "
          f"own backward pass (0 on the padding), its dW == their sum")

fig, ax = plt.subplots(figsize=(6.5, 2.4))
live = np.arange(T) < by_length[:, None]
ax.imshow(live, cmap="Blues", vmin=-0.3, vmax=2.5, aspect="auto")
for r, b in enumerate(order):
    for t in range(T):
        ax.text(t, r, vocab[words[b, t]] if live[r, t] else "pad (h = 0)", ha="center",
                va="center", fontsize=8, color="black" if live[r, t] else "gray")
ax.set_xticks(range(T), [f"t = {t + 1}\nn_t = {n_t[t]}" for t in range(T)])
ax.set_yticks(range(len(order)), [f"row {r}: sentence {b}" for r, b in enumerate(order)])
ax.set_title("Sorted longest first: step t works on the first n_t rows (padding never computed)")
save(fig, FIG, "sorted_batch")

# %% [markdown]
# ## Every word sees the whole sentence
#
# How much does word u move the vector s_t? The size of the Jacobian `d s_t / d x_u`, measured
# with the backward pass: send a random gradient into row t of s only, and read dx_u from the
# gradient of W_w (every word of the sentence below is distinct, so row `ids[word u]` of dW_w is
# exactly dx_u). With W_b = 0 the right-to-left stream carries no context (h^b_t = f(e_t + b_b))
# and s_t depends only on words 1..t, a lower-triangular pattern; with W_f = 0, upper-triangular;
# the full BRNN fills the whole matrix.

# %%
sentence = "a red ball with the dog on grass".split()
one = np.array([[ids[w] for w in sentence]])
len1 = np.array([len(sentence)])
g = np.random.default_rng(2)


def influence(P):
    """(N, N): |d s_t / d x_u| (Frobenius norm estimated with random projections)."""
    n = len(sentence)
    out = np.zeros((n, n))
    for _ in range(4):
        for t in range(n):
            s1, _, c1 = brnn_forward(one, len1, P)
            ds = xp.zeros_like(s1)
            ds[t] = xp.asarray(g.standard_normal(s1.shape[1]))
            dW = to_host(brnn_backward(ds, c1)["W_w"])
            out[t] += np.linalg.norm(dW[one[0]], axis=1) ** 2
    return np.sqrt(out / 4)


variants = {"full BRNN (Eq. 4-6)": params,
            "W_b = 0: left context only": {**params, "W_b": 0 * params["W_b"]},
            "W_f = 0: right context only": {**params, "W_f": 0 * params["W_f"]}}
fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
cmap = plt.get_cmap("viridis").with_extremes(bad="white")
for ax, (title, P) in zip(axes, variants.items()):
    m = influence(P)
    im = ax.imshow(np.ma.masked_less(m, 1e-12), cmap=cmap, norm=LogNorm(1e-2, 5))
    ax.set_xticks(range(len(sentence)), sentence, rotation=45, fontsize=8)
    ax.set_yticks(range(len(sentence)),
                  [f"s of '{w}'" for w in sentence] if ax is axes[0] else [], fontsize=8)
    ax.set_xlabel("input word u")
    ax.set_title(title, fontsize=10)
    if title.startswith("W_b"):
        assert np.allclose(np.triu(m, 1), 0)   # nothing from the right
    if title.startswith("W_f"):
        assert np.allclose(np.tril(m, -1), 0)  # nothing from the left
fig.colorbar(im, ax=axes, shrink=0.8, label="|d s_t / d x_u| (white: exactly 0)")
fig.suptitle("How much each input word moves each output vector (log scale)")
save(fig, FIG, "context_influence")

# %% [markdown]
# ## Gradient checks
#
# The library registers checks for the BRNN as a whole (every parameter, on a ragged batch) and
# for `rnn_forward` in each direction on sentences sorted by length (5, 3, 1 and 0 words); they
# run in float64 at a point at least 1e-3 away from every ReLU kink (found by recomputing the
# model with plain loops).

# %%
rows = run_checks(["align_brnn", "rnn_forward_dir", "rnn_backward_dir"])
print(format_table(rows))
assert all(r.status == "PASS" for r in rows)

fig, ax = plt.subplots(figsize=(7, 0.25 * len(rows) + 1))
ax.barh(range(len(rows)), [max(r.max_rel_error, 1e-17) for r in rows])
ax.axvline(rows[0].tol, color="tab:red", ls="--", label=f"tolerance {rows[0].tol:g}")
ax.set_xscale("log")
ax.set_yticks(range(len(rows)), [f"{r.check} / {r.param}" for r in rows], fontsize=8)
ax.invert_yaxis()
ax.set_xlabel("max relative error (float64, centered differences)")
ax.legend(fontsize=8)
save(fig, FIG, "gradient_check")

# %% [markdown]
# ## The BRNN drawn: one sentence of three words, every value and every gradient
#
# Karpathy's makemore lectures check every intermediate gradient, not only the parameters'. Here
# is Eq. 2-6 unrolled for "red ball with", written out node by node with the small model above,
# and a scalar loss L = sum_t s_t . G_t with a fixed random G (so ds_t = G_t, as if the score of
# lesson 03 had sent it). The backward pass is the list derived at the top of this lesson, by
# hand; every intermediate gradient is then compared with a numerical one: perturb that node
# alone by +-h, recompute everything downstream of it, and take the centered difference.

# %%
def brnn_nodes(x_ids, P, nudge=None):
    """Forward pass of Eq. 2-6 for one sentence, every node kept; `nudge` {(node, t): array}
    is added to a node right after it is computed (for the numerical gradients)."""
    nudge = nudge or {}
    relu = lambda z: np.maximum(z, 0)  # noqa: E731
    n = {}

    def put(name, t, value):
        n[name, t] = value + nudge.get((name, t), 0.0)
        return n[name, t]

    N3 = len(x_ids)
    for t in range(N3):
        x = put("x", t, P["W_w"][x_ids[t]])                          # Eq. 2
        put("e", t, relu(x @ P["W_e"] + P["b_e"]))                   # Eq. 3
    zero = np.zeros(P["W_f"].shape[0])
    for t in range(N3):                                              # Eq. 4, left to right
        put("hf", t, relu(n["e", t] + (n["hf", t - 1] if t else zero) @ P["W_f"] + P["b_f"]))
    for t in reversed(range(N3)):                                    # Eq. 5, right to left
        put("hb", t, relu(n["e", t] + (n["hb", t + 1] if t < N3 - 1 else zero) @ P["W_b"]
                          + P["b_b"]))
    for t in range(N3):
        put("s", t, relu((n["hf", t] + n["hb", t]) @ P["W_d"] + P["b_d"]))   # Eq. 6
    return n


three = [ids[w] for w in "red ball with".split()]
P = {k: to_host(v).astype(np.float64) for k, v in params.items()}
G = np.random.default_rng(5).standard_normal((3, P["W_d"].shape[1]))
nodes = brnn_nodes(three, P)
s3, _, _ = brnn_forward(np.array([three]), np.array([3]), params)
assert np.allclose(np.stack([nodes["s", t] for t in range(3)]), to_host(s3))   # the library's
loss_of_nodes = lambda n: sum(float(n["s", t] @ G[t]) for t in range(3))  # noqa: E731

# Backward, by hand (the list at the top of the lesson), keeping every node's gradient.
grad = {}
for t in range(3):
    grad["s", t] = G[t]
    dz = G[t] * (nodes["s", t] > 0)                                       # Eq. 6
    grad["u", t] = dz @ P["W_d"].T                                        # u = h^f + h^b
carry = np.zeros_like(grad["u", 0])
for t in reversed(range(3)):                                              # Eq. 4, t = N..1
    grad["hf", t] = grad["u", t] + carry
    dzf = grad["hf", t] * (nodes["hf", t] > 0)
    grad["ef", t], carry = dzf, dzf @ P["W_f"].T
carry = np.zeros_like(carry)
for t in range(3):                                                        # Eq. 5, t = 1..N
    grad["hb", t] = grad["u", t] + carry
    dzb = grad["hb", t] * (nodes["hb", t] > 0)
    grad["eb", t], carry = dzb, dzb @ P["W_b"].T
for t in range(3):
    grad["e", t] = grad["ef", t] + grad["eb", t]                          # e feeds both
    grad["x", t] = (grad["e", t] * (nodes["e", t] > 0)) @ P["W_e"].T     # Eq. 3

# Numerical gradients of every node, one entry at a time.
h_step = 1e-6
print(f"{'node':8}{'t':>3}  {'|value|':>9}  {'|dL/dnode|':>11}  max rel err (by hand vs numerical)")
worst = 0.0
for name in ("s", "hf", "hb", "e", "x"):
    for t in range(3):
        num = np.zeros_like(nodes[name, t])
        for i in range(num.size):
            bump = np.zeros_like(num)
            bump[i] = h_step
            num[i] = (loss_of_nodes(brnn_nodes(three, P, {(name, t): bump}))
                      - loss_of_nodes(brnn_nodes(three, P, {(name, t): -bump}))) / (2 * h_step)
        err = float(np.max(np.abs(num - grad[name, t]) / np.maximum(1e-8, np.abs(num) + np.abs(grad[name, t]))))
        worst = max(worst, err)
        print(f"{name:8}{t + 1:3d}  {np.linalg.norm(nodes[name, t]):9.4f}  "
              f"{np.linalg.norm(grad[name, t]):11.4f}  {err:.1e}")
assert worst < 1e-6

# %%
fig, ax = plt.subplots(figsize=(12, 6.8))
ax.set_xlim(-0.9, 2.7)
ax.set_ylim(-0.6, 4.6)
ax.axis("off")
# As the paper's Figure 3: two separate chains, each fed by every e_t and feeding every s_t.
# h^f sits a little left of its word and h^b a little right, on two lanes of their own, so that
# no arrow runs through the other direction's nodes.
pos = {"x": (0.0, 0), "e": (0.0, 1), "hf": (-0.25, 2), "hb": (0.25, 3), "s": (0.0, 4)}
labels = {"x": "x_t (Eq. 2)", "e": "e_t (Eq. 3)", "hf": "h^f_t (Eq. 4)", "hb": "h^b_t (Eq. 5)",
          "s": "s_t (Eq. 6)"}
word_names = "red ball with".split()
ax.axhspan(1.62, 2.38, color="C0", alpha=0.08)
ax.axhspan(2.62, 3.38, color="C1", alpha=0.08)
ax.text(-0.88, 2.0, "forward\ndirection\n(left to right)", color="C0", va="center", fontsize=9)
ax.text(-0.88, 3.0, "backward\ndirection\n(right to left)", color="C1", va="center", fontsize=9)


def at(name, t):
    return (t + pos[name][0], pos[name][1])


def arrow(a, b, color="gray", shrink=22, **kw):
    ax.annotate("", xy=b, xytext=a, arrowprops=dict(arrowstyle="-|>", color=color, lw=1.2,
                                                    shrinkA=shrink, shrinkB=shrink, **kw))


for t in range(3):
    arrow(at("x", t), at("e", t))
    arrow(at("e", t), at("hf", t), color="C0")
    arrow(at("e", t), at("hb", t), color="C1")
    arrow(at("hf", t), at("s", t), color="C0")
    arrow(at("hb", t), at("s", t), color="C1")
    if t < 2:
        arrow(at("hf", t), at("hf", t + 1), color="C0", shrink=40)     # W_f: left to right
        arrow(at("hb", t + 1), at("hb", t), color="C1", shrink=40)     # W_b: right to left
        ax.text(t + 0.25, 2.08, "W_f", color="C0", ha="center", fontsize=8)
        ax.text(t + 0.75, 3.08, "W_b", color="C1", ha="center", fontsize=8)
    ax.text(t, -0.45, f"word {t + 1}: \"{word_names[t]}\"", ha="center", fontsize=10)
    for name in pos:
        label = labels[name] if t == 0 else labels[name].split(" ")[0]
        ax.text(*at(name, t), f"{label}\n|value| {np.linalg.norm(nodes[name, t]):.3f}"
                f"\n|grad| {np.linalg.norm(grad[name, t]):.3f}", ha="center", va="center",
                fontsize=8, bbox=dict(boxstyle="round", ec="gray",
                                      fc={"hf": "#e3eefa", "hb": "#fdebd9"}.get(name, "#f4f4f4")))
ax.set_title("Eq. 2-6 unrolled for three words: each node's size and the size of dL/dnode\n"
             "(two chains, as the paper's Figure 3: every gradient checked numerically)")
save(fig, FIG, "brnn_drawn")

# %% [markdown]
# Read the gradients against the arrows: dh^f_1 holds what comes down from s_1 and what flows
# back from h^f_2 and h^f_3 through W_f; dh^b_3 holds what comes from s_3 and from h^b_2 and
# h^b_1 through W_b; de_t adds the two directions (the ReLU of Eq. 3 masks it on the way to x_t).
# A wrong line in the backward pass shows up in the table above at the first node it touches,
# which is why makemore checks them one by one rather than only the parameters at the end.

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error (skipped while it is a stub; worked solutions in
# `lessons/solutions/lesson02.py`, used in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 02.1: Eq. 2-6 for one sentence.** Write `brnn_sentence(words, p)`: `words` (T,)
# word indices, `p` the dict of float64 arrays W_w (V, E), W_e (E, H), b_e, W_f, b_f, W_b, b_b
# (H, H) and (H,), W_d (H, M), b_d. Return s (T, M), in row-vector form (x @ W), with two plain
# loops for the two directions. The library runs many sentences at once, sorted by length; the
# numbers must be the same.

# %%
def brnn_sentence(words, p):
    raise NotImplementedError  # your code here


exercise("02.1", brnn_sentence)

# %% [markdown]
# **Exercise 02.2: Eq. 2 backward.** Given dx (T, E), the gradient of each position's word
# vector, and the sentence's word indices (T,), write `word_vector_grad(dx, words, V)` -> dW_w
# (V, E). A word that occurs twice must get both gradients (`W[words] += dx` does not do that).

# %%
def word_vector_grad(dx, words, V):
    raise NotImplementedError  # your code here


exercise("02.2", word_vector_grad)

# %% [markdown]
# **Exercise 02.3: the BRNN backward pass (Eq. 2-6).** Write `brnn_sentence_backward(ds, words,
# p)`: the gradients of all nine parameters (a dict keyed W_w, W_e, b_e, W_f, b_f, W_b, b_b, W_d,
# b_d) given ds (T, M), the gradient of the loss with respect to each s_t of one sentence. Run
# the forward pass again (your `brnn_sentence`, keeping h^f, h^b and e), then the derivation at
# the top of this lesson, line by line. The check compares every gradient with `brnn_backward`
# (itself gradient-checked numerically above) on a five-word sentence with one word twice. The
# mistakes it catches: the forward direction's gradient not carried back from h^f_{t+1} (each
# step treated alone), the backward direction's carried the wrong way (from h^b_{t+1} instead of
# h^b_{t-1}), e_t given only the forward direction's gradient, `W[words] += ...` for Eq. 2, and
# dz W_f where dz W_f^T is meant.

# %%
def brnn_sentence_backward(ds, words, p):
    raise NotImplementedError  # your code here


exercise("02.3", brnn_sentence_backward)

# %% [markdown]
# ## Summary
#
# - Each word's vector s_t (Eq. 6) reads the whole sentence: h^f_t the words up to t, h^b_t the
#   words from t on, two separate chains added at each word.
# - The backward pass is lesson 01's layers run in reverse; the two directions walk back in
#   opposite orders, and e_t and a repeated word's row of W_w add what reaches them.
# - Sentences of different lengths are sorted longest first, so one `rnn_forward` step works on
#   the sentences still going; every intermediate gradient is checked numerically.
