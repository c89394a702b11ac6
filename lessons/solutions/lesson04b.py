"""Lesson 04b's exercises, worked."""
from vsa_np.core.alignment import (brnn_backward, brnn_forward, ranking_loss,
                                   region_embed_backward, region_embed_forward, score_backward,
                                   score_forward, sentence_lengths)


def alignment_loss(params, batch):
    """Eq. 1-9 forward and back, composed from the core's functions (no dropout, no feature
    map): -> the loss per pair, {name: gradient} keyed like params."""
    lengths = sentence_lengths(batch["word_mask"])
    v, c_v = region_embed_forward(batch["regions"], params["W_m"], params["b_m"])   # Eq. 1
    s, seg, c_s = brnn_forward(batch["words"], lengths, params)                      # Eq. 2-6
    S, c_S = score_forward(v, batch.get("region_mask"), s, seg, len(lengths))       # Eq. 8
    loss, dS = ranking_loss(S)                                                       # Eq. 9
    dv, ds = score_backward(dS, c_S)
    grads = brnn_backward(ds, c_s)
    grads["W_m"], grads["b_m"] = region_embed_backward(dv, c_v)
    return float(loss), grads


def alignment_step(params, velocity, batch, cfg):
    """One update of Sec. 3.3 in place: gradients, clipped elementwise at cfg.grad_clip, weight
    decay cfg.weight_decay on the matrices only, then SGD with momentum (v <- m v - lr g,
    p <- p + v; velocity starts at zero). -> the loss before the update."""
    loss, grads = alignment_loss(params, batch)
    for name, g in grads.items():
        g = g.clip(-cfg.grad_clip, cfg.grad_clip)
        if params[name].ndim >= 2:
            g = g + cfg.weight_decay * params[name]
        v = velocity.setdefault(name, 0 * params[name])
        v *= cfg.momentum
        v -= cfg.lr * g
        params[name] += v
    return loss
