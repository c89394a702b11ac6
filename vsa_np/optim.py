"""Update rules shared by both trainers (paper Sec. 3.3, "Optimization").

The alignment model is trained with SGD and momentum 0.9; the generator with RMSprop, "a running
average of the magnitudes of recent gradients" (decay 0.999 as in the paper's released code,
neuraltalk's `imagernn/solver.py`). Both clip gradients elementwise at 5, which the paper calls
"important", and both use weight decay.

Everything works IN PLACE on dicts of `xp` arrays keyed like the model's `params`, the
convention that makes a model-agnostic optimiser possible (`model.loss(batch) -> (loss, grads)`
returns `grads` keyed like `params`). One step of a trainer reads:

    loss, grads = model.loss(batch)
    clip_elementwise(grads, 5.0)
    add_weight_decay(model.params, grads, cfg.weight_decay)
    opt.step(model.params, grads)

Float32 stays float32: the optimiser state has the dtype of its parameter, and Python-float
hyper-parameters do not promote arrays (NumPy 2 / CuPy scalar rules).

Optimiser state is a flat dict of host arrays (`state_dict()`), saved in the checkpoint beside the
parameters, so that `load_state_dict()` lets a resumed run follow exactly the trajectory of an
uninterrupted one.
"""
from __future__ import annotations

import numpy

from vsa_np.backend import to_device, to_host, xp
from vsa_np.errors import DataError


def clip_elementwise(grads: dict, clip: float = 5.0) -> dict:
    """Clip every gradient entry to [-clip, clip], in place (Sec. 3.3); returns `grads`.

    clip <= 0 switches clipping off (as neuraltalk's `grad_clip=-1`).
    """
    if clip > 0:
        for g in grads.values():
            xp.clip(g, -clip, clip, out=g)
    return grads


def decayed_names(params: dict, skip=()) -> list[str]:
    """The names weight decay applies to: every parameter with two or more axes (the weight
    matrices W_m, W_e, W_f, the word vectors W_w, ...), but not the 1-D biases (b_m, b_e, ...,
    including an output bias that starts at the log word frequencies), and not the names in `skip`.

    The rule is by shape rather than by name so that a model need not follow a naming scheme.
    """
    skip = set(skip)
    unknown = skip - set(params)
    if unknown:
        raise KeyError(f"weight decay: skip names not in params: {sorted(unknown)}")
    return [k for k, p in params.items() if p.ndim >= 2 and k not in skip]


def add_weight_decay(params: dict, grads: dict, wd: float, skip=()) -> dict:
    """L2 weight decay: grads[k] += wd * params[k] for every name in `decayed_names(params, skip)`,
    in place; returns `grads`. This is the gradient of `weight_decay_loss(params, wd, skip)`.

    Add it after clipping, so the decay is not clipped away (neuraltalk adds its regularisation
    inside the cost function, before clipping; with wd * |W| far below 5 the order does not matter).
    """
    if wd:
        for k in decayed_names(params, skip):
            grads[k] += wd * params[k]
    return grads


def weight_decay_loss(params: dict, wd: float, skip=()) -> float:
    """0.5 * wd * sum of squares of the decayed parameters (a Python float), for reporting the
    total objective; its gradient is what `add_weight_decay` adds."""
    if not wd:
        return 0.0
    return 0.5 * wd * sum(float(to_host(xp.vdot(params[k], params[k])))
                          for k in decayed_names(params, skip))


class _Optimizer:
    """Shared state handling: one state buffer per parameter and per slot, created lazily with the
    parameter's shape and dtype at its first update."""

    kind = ""
    slots: tuple[str, ...] = ()
    hyper: tuple[str, ...] = ()

    def __init__(self):
        self.state = {slot: {} for slot in self.slots}   # slot -> name -> xp array
        self.t = 0                                        # updates done

    def _buffer(self, slot, name, p):
        buf = self.state[slot].get(name)
        if buf is None:
            buf = self.state[slot][name] = xp.zeros_like(p)
        elif buf.shape != p.shape:
            raise ValueError(f"{self.kind}: state {slot}/{name} has shape {buf.shape}, "
                             f"parameter has {p.shape}")
        return buf

    def step(self, params: dict, grads: dict) -> None:
        """Update every parameter that has a gradient, in place."""
        for name, g in grads.items():
            if name not in params:
                raise KeyError(f"{self.kind}: gradient {name!r} has no parameter")
            self._update(name, params[name], g)
        self.t += 1

    def state_dict(self) -> dict:
        """Flat dict of host NumPy arrays: `kind`, `t`, the hyper-parameters, and `<slot>/<name>`
        buffers. Safe for `numpy.savez` without pickle."""
        out = {"kind": numpy.array(self.kind), "t": numpy.array(self.t, dtype=numpy.int64)}
        for h in self.hyper:
            out[h] = numpy.array(getattr(self, h), dtype=numpy.float64)
        for slot, bufs in self.state.items():
            for name, buf in bufs.items():
                out[f"{slot}/{name}"] = to_host(buf)
        return out

    def load_state_dict(self, state: dict, hyper: bool = False) -> None:
        """Restore the buffers and the update count from `state_dict()` output.

        Hyper-parameters (lr, momentum, ...) are kept as constructed, so a resumed run may change
        them from the command line; pass hyper=True to restore the saved ones too.
        """
        kind = str(state.get("kind", ""))
        if kind != self.kind:
            raise DataError(f"optimiser state is for {kind or 'an unknown optimiser'!r}, "
                            f"not {self.kind!r}: resume with the same optimiser")
        self.t = int(state["t"])
        if hyper:
            for h in self.hyper:
                setattr(self, h, float(state[h]))
        self.state = {slot: {} for slot in self.slots}
        for key, value in state.items():
            slot, sep, name = key.partition("/")
            if sep and slot in self.state:
                self.state[slot][name] = to_device(value)


class SGDMomentum(_Optimizer):
    """SGD with (classical) momentum, as the alignment model (Sec. 3.3, momentum 0.9):

        v <- momentum * v - lr * g
        p <- p + v
    """

    kind = "sgd_momentum"
    slots = ("velocity",)
    hyper = ("lr", "momentum")

    def __init__(self, lr: float, momentum: float = 0.9):
        super().__init__()
        self.lr, self.momentum = float(lr), float(momentum)

    def _update(self, name, p, g):
        v = self._buffer("velocity", name, p)
        v *= self.momentum
        v -= self.lr * g
        p += v


class RMSProp(_Optimizer):
    """RMSprop as in the paper's released code (neuraltalk), for the generator (Sec. 3.3):

        c <- decay * c + (1 - decay) * g^2
        p <- p - lr * g / sqrt(c + eps)

    Note eps sits inside the square root (neuraltalk's `smooth_eps`), not beside it.
    """

    kind = "rmsprop"
    slots = ("cache",)
    hyper = ("lr", "decay", "eps")

    def __init__(self, lr: float, decay: float = 0.999, eps: float = 1e-8):
        super().__init__()
        self.lr, self.decay, self.eps = float(lr), float(decay), float(eps)

    def _update(self, name, p, g):
        c = self._buffer("cache", name, p)
        c *= self.decay
        c += (1.0 - self.decay) * (g * g)
        p -= self.lr * g / xp.sqrt(c + self.eps)


OPTIMIZERS = {SGDMomentum.kind: SGDMomentum, RMSProp.kind: RMSProp}


def make_optimizer(kind: str, lr: float, **kwargs) -> _Optimizer:
    """`make_optimizer("sgd_momentum", 1e-3, momentum=0.9)` or `make_optimizer("rmsprop", 2e-3)`."""
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimiser {kind!r}; choose one of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[kind](lr, **kwargs)
