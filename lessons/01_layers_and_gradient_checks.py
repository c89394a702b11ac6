# %% [markdown]
# # Lesson 01: layers, their backward passes, and gradient checks
#
# Paper: Sec. 3 (every equation of the model), "We set the activation function f to the rectified
# linear unit (ReLU), which computes f: x -> max(0, x)".
#
# **What you will learn:** the affine, ReLU and ReLU-RNN layers with their backward passes
# derived; how to check a gradient numerically (float64, centred differences, relative error per
# parameter, away from kinks) and why the step h is about 1e-5. **What you need:** calculus (the
# chain rule) and NumPy. **How long it runs:** about 3 s in quick mode (`LESSONS_QUICK=1`,
# measured on two shared CPU cores, run after the lessons before it); full mode uses more data and
# steps.
#
# Both models of the paper are built from three kinds of layer:
#
# - affine maps `x W + b`: the region embedding (Eq. 1), the word layer (Eq. 3), the BRNN output
#   (Eq. 6) and the generator's word scores (Eq. 15); the generator's image bias (Eq. 13) is the
#   same product without a bias, `b_v = x W_hi`;
# - the ReLU `f`, applied after the word layer (Eq. 3) and the BRNN output (Eq. 6);
# - the ReLU RNN `h_t = f(a_t + W h_{t-1} + b)`: the BRNN's two directions (Eq. 4, 5) and the
#   multimodal RNN (Eq. 14).
#
# vsa-np writes each as a pair, CS231n style: `out, cache = x_forward(...)` and
# `grads = x_backward(dout, cache)`, all in `vsa_np/core/layers.py`. Nothing computes gradients
# automatically, so every backward pass is a derivation that can be wrong. This lesson derives
# them, checks them against numerical gradients, and looks at why the check is done in float64
# with a step h of about 1e-5.

# %%
import numpy as np
from _common import QUICK, figure_dir, plt, save
from exercises import exercise

import vsa_np.core.layers as L
from gradcheck import numerical_grad, numerical_grad_array, rel_error, run_checks
from gradcheck.checks.layers import LAYER_CHECKS
from gradcheck.cli import format_table
from vsa_np.backend import rng, to_host, xp

FIG = figure_dir("01_layers_and_gradient_checks")

# %% [markdown]
# ## The affine layer
#
# `out[n, m] = sum_d x[n, d] W[d, m] + b[m]`, shapes x: (N, D), W: (D, M), b: (M,). Let `G` be
# the gradient of some scalar loss with respect to `out` (N, M). By the chain rule,
# `dL/dW[d, m] = sum_n G[n, m] * d out[n, m] / d W[d, m] = sum_n x[n, d] G[n, m]`, and likewise
# for x and b:
#
#     dx = G W^T          (N, M) (M, D) -> (N, D)
#     dW = x^T G          (D, N) (N, M) -> (D, M)
#     db = sum_n G[n]     (M,)
#
# A useful habit: the shapes alone almost force these formulas. Below, the library's backward pass
# against the formulas, and one entry of dW against a centered difference worked out by hand:
# the loss is `L = sum(out * G)`, so its gradient with respect to `out` is exactly G.

# %%
g = rng(0)
x, W, b = g.standard_normal((2, 3)), g.standard_normal((3, 4)), g.standard_normal(4)
out, cache = L.affine_forward(x, W, b)
G = g.standard_normal(out.shape)
dx, dW, db = L.affine_backward(G, cache)
print("dx == G W^T:", np.allclose(to_host(dx), to_host(G @ W.T)),
      "  dW == x^T G:", np.allclose(to_host(dW), to_host(x.T @ G)),
      "  db == sum_n G:", np.allclose(to_host(db), to_host(G.sum(axis=0))))

h = 1e-5
loss = lambda: float(xp.sum(L.affine_forward(x, W, b)[0] * G))  # noqa: E731
old = float(W[1, 2])
W[1, 2] = old + h
plus = loss()
W[1, 2] = old - h
minus = loss()
W[1, 2] = old
print(f"dL/dW[1,2]: backward pass {float(dW[1, 2]):+.10f}, "
      f"(L(W+h) - L(W-h)) / 2h = ({plus:+.10f} - ({minus:+.10f})) / 2e-5 = {(plus - minus) / (2 * h):+.10f}")

# %% [markdown]
# ## The ReLU and its kink
#
# `f(x) = max(0, x)` has derivative 1 for x > 0 and 0 for x < 0, so `dx = G * 1[x > 0]`. The
# cache keeps the output: `out > 0` is the same test as `x > 0`.
#
# At x = 0 there is no derivative, and a centered difference that straddles the kink measures the
# slope of a chord instead. With x = 3e-6 and h = 1e-5 the chord goes from f(-7e-6) = 0 to
# f(1.3e-5) = 1.3e-5, a slope of 0.65, while the true derivative is 1. This is why the checks in
# `gradcheck/checks/layers.py` push ReLU inputs at least 0.1 away from zero and reject draws where
# a recurrent pre-activation falls within 1e-3 of it.

# %%
for x0 in (0.5, 3e-6):
    xr = xp.asarray([x0])
    analytic = L.relu_backward(xp.ones(1), L.relu_forward(xr)[1])
    numeric = numerical_grad(lambda: L.relu_forward(xr)[0].sum(), xr, h=1e-5)
    print(f"x = {x0:g}: analytic {float(analytic[0]):.3f}, numerical {numeric[0]:.3f}, "
          f"relative error {rel_error(analytic, numeric):.1e}")

# %% [markdown]
# ## The ReLU RNN and backpropagation through time
#
# One step (Eq. 4, 5 and 14 share it, with a_t the already-projected input):
#
#     z_t = a_t + h_{t-1} W + b,    h_t = f(z_t)
#
# Given the gradient g_t arriving at h_t: `dz_t = g_t * 1[h_t > 0]`, and then, as in the affine
# layer, `da_t = dz_t`, `dh_{t-1} = dz_t W^T`, `dW += h_{t-1}^T dz_t`, `db += sum_n dz_t`.
#
# h_t feeds both the loss (its own upstream gradient dh_t) and the next step, so the gradient
# arriving at h_t is `g_t = dh_t + dz_{t+1} W^T`: walk backwards through time carrying that second
# term. Right to left (Eq. 5) is the same with time reversed. `rnn_forward(a, Wh, b)` runs the
# recurrence from h_0 = 0 (`reverse=True`: right to left from h_{T+1} = 0) and
# `rnn_backward(dh, cache)` returns (da, dWh, db): one loop backwards through time that carries
# the gradient and adds each step's `h_{t-1}^T dz_t` to dW. (Both also take sentences of
# different lengths, lesson 02.) Below, they are checked against chaining the single-step
# backward pass by hand.

# %%
g = rng(1)
N, T, H = 3, 4, 5
a = g.standard_normal((N, T, H))
Wh, bh = 0.3 * g.standard_normal((H, H)), 0.1 * g.standard_normal(H)
hs, cache = L.rnn_forward(a, Wh, bh)
dh = g.standard_normal(hs.shape)
da, dWh, dbh = L.rnn_backward(dh, cache)

# The same gradients, one step at a time, walking back from t = T - 1.
carry, dW_sum, db_sum = xp.zeros((N, H)), xp.zeros((H, H)), xp.zeros(H)
da_chain = xp.zeros((N, T, H))
for t in range(T - 1, -1, -1):
    prev = xp.zeros((N, H)) if t == 0 else hs[:, t - 1]             # h_0 = 0
    _, step_cache = L.rnn_step_forward(a[:, t], prev, Wh, bh)
    da_chain[:, t], carry, dW_t, db_t = L.rnn_step_backward(dh[:, t] + carry, step_cache)
    dW_sum += dW_t
    db_sum += db_t
same = {name: np.allclose(to_host(mine), to_host(lib)) for name, mine, lib in
        (("da", da_chain, da), ("dWh", dW_sum, dWh), ("db", db_sum, dbh))}
print("rnn_backward == chained rnn_step_backward:", same)
assert all(same.values())

# %% [markdown]
# ## The library's checks
#
# `gradcheck` compares every backward pass with centered differences,
# `df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / 2h`, in float64, and reports per parameter the
# largest relative error `|a - n| / (|a| + |n|)` (CS231n's measure: scale-free, 0 when equal, 1
# when one is zero). Layers pass below 1e-7. These are the layer rows of the table `vsa-np
# gradcheck` prints (it also checks the two models and the CNN).

# %%
rows = run_checks(LAYER_CHECKS)
print(format_table(rows))
assert all(r.status == "PASS" for r in rows)

fig, ax = plt.subplots(figsize=(7, 0.22 * len(rows) + 1))
labels = [f"{r.check} / {r.param}" for r in rows]
errors = [max(r.max_rel_error, 1e-17) for r in rows]
ax.barh(range(len(rows)), errors, color="tab:blue")
ax.axvline(rows[0].tol, color="tab:red", ls="--", label=f"tolerance {rows[0].tol:g}")
ax.axvline(np.finfo(np.float64).eps, color="gray", ls=":", label="float64 machine epsilon")
ax.set_xscale("log")
ax.set_yticks(range(len(rows)), labels, fontsize=7)
ax.invert_yaxis()
ax.set_xlabel("max relative error, analytic vs. numerical gradient")
ax.set_title("Every layer's backward pass against centered differences (float64)")
ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2, fontsize=8)
save(fig, FIG, "relative_errors")

# %% [markdown]
# ## How big should h be?
#
# A centered difference makes two errors. Taylor expansion gives
# `(f(x + h) - f(x - h)) / 2h = f'(x) + h^2 f'''(x) / 6 + ...`: a truncation error growing like
# h^2. And f is computed with a rounding error of about eps * |f|, which the division by 2h blows up
# into eps * |f| / h. The total, `c1 h^2 + c2 eps / h`, is a V on a log-log plot with its bottom
# near `h = eps^(1/3)`: about 6e-6 in float64 (eps = 2.2e-16), about 5e-3 in float32 (eps = 1.2e-7).
#
# Below, the relative error of the softmax loss's gradient (Eq. 15, smooth everywhere) as h varies.
# In float32 the best error is a few times 1e-4 (the line "best relative error over h" below:
# quick mode prints 3.4e-04, full mode, with a finer grid of h, 4.9e-04), which cannot tell a
# correct backward pass from a slightly wrong one: gradient checks run in float64 (training runs
# in float32).
#
# `softmax_loss(scores, y, n)` takes the scores of the M valid time steps only, (M, V) (the
# generator never computes scores on padding), and divides the summed loss by n, the number of
# sentences. It overwrites `scores` with its gradient to save memory, so the check hands it a copy.
# Here two sentences of 3 and 2 words: `x[mask]` picks the M = 5 valid rows of (N, T, V) scores.

# %%
steps = np.logspace(-13, -0.5, 14 if QUICK else 26)
curves = {}
for dtype in (np.float64, np.float32):
    g = rng(2)
    N, T, V = 2, 3, 5
    x = g.standard_normal((N, T, V)).astype(dtype)
    y = xp.asarray([[1, 4, 0], [2, 2, 3]])
    mask = xp.asarray([[True, True, True], [True, True, False]])
    rows, targets = x[mask], y[mask]                                  # (M, V), (M,)
    _, drows = L.softmax_loss(rows.copy(), targets, N)
    f = lambda: L.softmax_loss(rows.copy(), targets, N)[0]  # noqa: E731
    curves[dtype.__name__] = [rel_error(drows, numerical_grad(f, rows, h=float(s)))
                              for s in steps]

fig, ax = plt.subplots(figsize=(6.5, 4))
for name, errs in curves.items():
    ax.loglog(steps, errs, "o-", label=name, ms=4)
ax.axvline(1e-5, color="gray", ls="--", label="h = 1e-5 (gradcheck's default)")
ax.set_xlabel("step h")
ax.set_ylabel("max relative error")
ax.set_title("Centered differences: truncation ~ h^2 (right), rounding ~ eps/h (left)")
ax.legend(fontsize=8)
save(fig, FIG, "step_size")
best = {k: min(v) for k, v in curves.items()}
print("best relative error over h:", {k: f"{v:.1e}" for k, v in best.items()})
assert 1e-4 < best["float32"] < 1e-3 and best["float64"] < 1e-8

# %% [markdown]
# ## Checking a backward pass without a scalar loss
#
# `numerical_grad_array(f, x, df)` checks an array-valued layer against a random upstream gradient
# `df`: it differentiates `sum(f(x) * df)`, whose exact gradient is what `backward(df)` returns. Here
# it catches a planted bug: an RNN backward pass that forgets the ReLU mask altogether
# (backpropagates as if f were the identity) is off by far more than any tolerance.

# %%
g = rng(3)
a, Wh, bh = g.standard_normal((2, 3, 4)), 0.5 * g.standard_normal((4, 4)), 0.1 * g.standard_normal(4)
hs, cache = L.rnn_forward(a, Wh, bh)
dh = g.standard_normal(hs.shape)
numeric = numerical_grad_array(lambda: L.rnn_forward(a, Wh, bh)[0], a, dh)
good = L.rnn_backward(dh, cache)[0]
# The bug: backpropagate through the recurrence as if f were the identity.
bad = xp.empty_like(dh)
carry = xp.zeros((2, 4))
for t in range(2, -1, -1):
    bad[:, t] = dh[:, t] + carry
    carry = bad[:, t] @ Wh.T
print(f"correct backward pass: {rel_error(good, numeric):.1e}   "
      f"without the ReLU mask: {rel_error(bad, numeric):.1e}")

# %% [markdown]
# ## Exercises
#
# Write each function in place of its stub; the cell compares it with the library on fixed inputs
# and prints the relative error of every output (skipped while it is a stub; worked solutions in
# `lessons/solutions/lesson01.py`, used in quick mode or with LESSONS_SOLUTIONS=1).
#
# **Exercise 01.1: the affine layer backward.** `out = x W + b` with x of shape (..., D) (any
# leading axes: one row per example, or per example and time step), W (D, M). Write
# `affine_backward(dout, x, W) -> (dx, dW, db)`.

# %%
def affine_backward(dout, x, W):
    raise NotImplementedError  # your code here


exercise("01.1", affine_backward)

# %% [markdown]
# **Exercise 01.2: one RNN step backward.** `h = max(0, a + prev_h Wh + b)` (Eq. 4 and Eq. 14
# without their inputs' own layers), shapes (N, H). Write
# `rnn_step_backward(dh, prev_h, Wh, h) -> (da, dprev_h, dWh, db)`; the output h alone says where
# the ReLU was on.

# %%
def rnn_step_backward(dh, prev_h, Wh, h):
    raise NotImplementedError  # your code here


exercise("01.2", rnn_step_backward)

# %% [markdown]
# ## Summary
#
# - Every layer is a forward/backward pair; a backward pass is a derivation, and a derivation is
#   checked against centred differences in float64, per parameter, away from the ReLU's kink.
# - The error of a centred difference is V-shaped in the step h: truncation above, rounding below;
#   in float64 the bottom is near h = 1e-5, in float32 it is far higher (the printed minimum).
# - An RNN's backward pass is its step's backward pass run from the last step to the first, with
#   dh carried back through W^T.
