"""Optimisation (Sec. 3.3) and the one training loop both models share.

Gradients are clipped elementwise at 5 ("important", the paper says) and weight decay is added;
the alignment model then takes a step of SGD with momentum 0.9, the generator one of RMSprop.
Optimisers work in place on dicts of `xp` arrays keyed like `model.params`, so one loop trains
either model: `loss, grads = model.loss(batch)` is the whole contract.
"""
import numpy

from vsa_np.backend import rng as make_rng, to_device, to_host, xp


def clip_elementwise(grads, clip=5.0):
    """Clip every gradient entry to [-clip, clip] in place (clip <= 0: off); returns grads."""
    if clip > 0:
        for g in grads.values():
            xp.clip(g, -clip, clip, out=g)
    return grads


def add_weight_decay(params, grads, wd):
    """L2 weight decay, grads += wd * params, on the weight matrices (ndim >= 2), not on biases."""
    if wd:
        for k, p in params.items():
            if p.ndim >= 2:
                grads[k] += wd * p
    return grads


class Optimizer:
    """One state buffer per parameter and slot; `state_dict()` is a flat dict of host arrays
    (saved in checkpoints), so a resumed run follows the trajectory of an uninterrupted one."""
    kind, slots = "", ()

    def __init__(self, lr):
        self.lr, self.t, self.state = float(lr), 0, {s: {} for s in self.slots}

    def step(self, params, grads):
        for name, g in grads.items():
            for s in self.slots:
                if name not in self.state[s]:
                    self.state[s][name] = xp.zeros_like(params[name])
            self.update(params[name], g, *(self.state[s][name] for s in self.slots))
        self.t += 1

    def state_dict(self):
        out = {"kind": numpy.array(self.kind), "t": numpy.array(self.t)}
        out.update({f"{s}/{k}": to_host(v) for s in self.slots for k, v in self.state[s].items()})
        return out

    def load_state_dict(self, state):
        if str(state.get("kind", "")) != self.kind:
            raise ValueError(f"optimiser state is for {str(state.get('kind', '?'))!r}, not "
                             f"{self.kind!r}: resume with the same optimiser")
        self.t = int(state["t"])
        self.state = {s: {} for s in self.slots}
        for key, value in state.items():
            slot, _, name = key.partition("/")
            if slot in self.state and name:
                self.state[slot][name] = to_device(value)


class SGDMomentum(Optimizer):
    """v <- momentum v - lr g;  p <- p + v (the alignment model, momentum 0.9)."""
    kind, slots = "sgd_momentum", ("velocity",)

    def __init__(self, lr, momentum=0.9):
        super().__init__(lr)
        self.momentum = float(momentum)

    def update(self, p, g, v):
        v *= self.momentum
        v -= self.lr * g
        p += v


class RMSProp(Optimizer):
    """c <- decay c + (1 - decay) g^2;  p <- p - lr g / sqrt(c + eps) (the generator; decay
    0.999 and eps inside the root, as in the paper's released code)."""
    kind, slots = "rmsprop", ("cache",)

    def __init__(self, lr, decay=0.999, eps=1e-8):
        super().__init__(lr)
        self.decay, self.eps = float(decay), float(eps)

    def update(self, p, g, c):
        c *= self.decay
        c += (1 - self.decay) * (g * g)
        p -= self.lr * g / xp.sqrt(c + self.eps)


def step_seed(seed, step):
    """The seed of one step's dropout masks: a resumed run draws the same masks."""
    return int(numpy.random.SeedSequence([seed, step]).generate_state(1)[0])


def epoch_order(n, seed, epoch):
    """The shuffled order of n examples in one epoch, a function of (seed, epoch)."""
    return numpy.random.default_rng([seed, epoch]).permutation(n)


def train_step(model, opt, batch, cfg, seed, record=None):
    """One update: loss and gradients (dropout masks drawn from `seed`), `record(loss)` (which
    stops a NaN run before anything changes), clipping, weight decay, the optimiser's step."""
    model.training, model.rng = True, make_rng(seed)
    loss, grads = model.loss(batch)
    if record is not None:
        record(loss)
    clip_elementwise(grads, cfg.grad_clip)                                      # Sec. 3.3
    add_weight_decay(model.params, grads, cfg.weight_decay)
    opt.step(model.params, grads)
    return loss


def train(model, opt, cfg, run, epoch_batches, validate, eval_every=0, stop=None):
    """Train `model` for cfg.epochs epochs from where `run` stands.

    epoch_batches(epoch) -> (n, batches of that epoch), a function of (seed, epoch) so that a
    resumed run sees the same batches; validate(model) -> metrics, after every epoch (and every
    `eval_every` steps); stop(run) -> True ends the run after a validation. `run` keeps the
    step count, the checkpoints and the log (`vsa_np.rundir.RunDir`).
    """
    while run.epoch < cfg.epochs:
        n, batches = epoch_batches(run.epoch)
        for b, batch in run.remaining(batches, n):     # a resumed run skips what it has done
            train_step(model, opt, batch, cfg, step_seed(cfg.seed, run.step), run.record)
            if b == n - 1 or (eval_every and run.step % eval_every == 0):
                model.training = False
                run.checkpoint(model.params, opt, validate(model))
                if stop is not None and stop(run):
                    return
