"""The shapes world, part 4: a CNN TRAINED from scratch on labelled pictures of the world, the
stand-in for the paper's VGG-16 pretrained on ImageNet and fine-tuned on the 200 detection
classes (Sec. 3.1.1: "CNN_theta_c(I_b)", the 4096-d fc7 of the pixels in box b; Eq. 1 for
regions, Eq. 13 for the whole image). It replaces the fixed random network of `shapes_cnn` as
the source of every region's and every whole image's features.

    crop (64 x 64 x 3), or the whole picture (128 x 128 x 3)
    -> [conv 3x3 (pad 1), ReLU, max-pool 2] x 3      3 -> 8 -> 16 -> 32 channels, 64 -> 8 px
    -> conv 3x3 (pad 1), ReLU, global max-pool       32 -> 64: "is this pattern anywhere"
    -> fully connected 64 -> D, ReLU                 "fc7", the feature the captioner sees
    -> fully connected D -> 31, sigmoid              the labels (training only)

Its training set is what a classification dataset would hold, never a caption: pictures drawn by
the world's own generator with a seed of their own (`TRAIN_STREAM`; never the caption world's
images), each giving
    the whole picture   labelled with which shapes, colours, (colour, shape) objects and sizes
                        it contains (multi-label, like the 200 detection classes);
    each object's crop  labelled with its shape, colour, (colour, shape) and size;
    each window         64 x 64 pixels around an object at the picture's own scale, labelled
                        with the objects in it (`windows_of`: small shapes as the whole
                        picture shows them; without these, small squares pass for circles);
    a background crop   (a distractor box) with no label at all (RCNN's background class).
One loss for all: the sum over the 31 labels of the logistic loss, averaged over the batch.

The network is fully convolutional up to its global max-pool, so it reads a picture of any size.
Regions are cut and resized to 64 x 64 (as the random network's); the whole picture is read at
its own 128 x 128, where an object looks about as large as in a region's crop. (Shrunk to 64, a
small star is a blob of 9 pixels: trained on those, a network of this size tells which shapes a
picture contains only about 70% of the time.)

The layers are `vsa_np.core.conv` and `vsa_np.core.layers` (convolution by im2col, max and global max pooling, affine,
ReLU), every backward pass hand-written. Deterministic for a seed (the same pictures, the same
initial weights, the same batches).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

import vsa_np.core.conv as C
import vsa_np.core.layers as L
from vsa_np.backend import to_device, to_float, to_host, xp
from vsa_np.data.shapes_draw import COLOURS, IMAGE_SIZE, SHAPES, SIZES, render, sample_scene
from vsa_np.errors import DataError
from vsa_np.core.train import RMSProp, clip_elementwise

INPUT_SIZE = 64                  # region crops, as make-shapes cuts them
WHOLE_SIZE = IMAGE_SIZE          # whole pictures, at their own 128 x 128 (see below)
CHANNELS = (8, 16, 32, 64)       # the four 3x3 convolutions; max-pool 2 after the first three
TRAIN_STREAM = 0xC1A55           # the training pictures' seed: (seed, TRAIN_STREAM, i)
DEFAULT_SCENES = 1200            # training pictures (each: the whole picture + its crops)
DEFAULT_EPOCHS = 8
DEFAULT_LR = 4e-3
BATCH = 64
LABELS = ([f"shape:{s}" for s in SHAPES] + [f"colour:{c}" for c in COLOURS]
          + [f"object:{c} {s}" for c in COLOURS for s in SHAPES] + [f"size:{z}" for z in SIZES])
FILENAME = "cnn.npz"


def label_vector(objects: list) -> np.ndarray:
    """The 31 labels (0/1) of a set of objects: shapes, colours, (colour, shape), sizes."""
    y = np.zeros(len(LABELS), dtype=np.float32)
    for o in objects:
        for key in (f"shape:{o['shape']}", f"colour:{o['colour']}",
                    f"object:{o['colour']} {o['shape']}", f"size:{o['size']}"):
            y[LABELS.index(key)] = 1.0
    return y


def crops_of(pixels: np.ndarray, boxes, size: int = INPUT_SIZE) -> np.ndarray:
    """Each box's pixels resized to size x size (bilinear, antialiased): (len(boxes), S, S, 3)."""
    img = Image.fromarray(pixels)
    return np.stack([np.asarray(img.resize((size, size), Image.BILINEAR, box=tuple(b)))
                     for b in boxes])


def windows_of(pixels: np.ndarray, objects: list, size: int = INPUT_SIZE):
    """A size x size window of the picture at its own scale around each object (moved inside
    the picture), labelled with every object at least half inside it: the objects as the whole
    picture shows them (a small star is 20 pixels across there, 60 in its resized crop), at a
    quarter of a whole picture's cost. -> (windows (n, S, S, 3), labels (n, 31))."""
    S, out, ys = pixels.shape[0], [], []
    for o in objects:
        x0, y0 = (int(np.clip(round(c - size / 2), 0, S - size)) for c in (o["cx"], o["cy"]))
        out.append(pixels[y0:y0 + size, x0:x0 + size])
        inside = []
        for p in objects:
            bx0, by0, bx1, by1 = p["box"]
            w = max(0.0, min(bx1, x0 + size) - max(bx0, x0))
            h = max(0.0, min(by1, y0 + size) - max(by0, y0))
            if w * h >= 0.5 * (bx1 - bx0) * (by1 - by0):
                inside.append(p)
        ys.append(label_vector(inside))
    return np.stack(out), np.stack(ys)


def training_set(seed: int, start: int, stop: int, progress=None, windows: bool = False):
    """Pictures start..stop-1 of the training stream, as (wholes (n, 128, 128, 3) uint8, their
    labels (n, 31), crops (m, 64, 64, 3) uint8, their labels (m, 31)): every whole picture,
    every object's crop, and the first background box of every other picture (with `windows`,
    also every object's window, `windows_of`)."""
    wholes, yw, crops, yc = [], [], [], []
    for i in range(start, stop):
        scene = sample_scene(np.random.default_rng([seed, TRAIN_STREAM, i]))
        objs, boxes = scene["objects"], scene["boxes"]
        pixels = render(scene)
        wholes.append(pixels)
        yw.append(label_vector(objs))
        keep = boxes[1:1 + len(objs) + (i % 2)]          # objects, maybe one background box
        crops.append(crops_of(pixels, keep))
        yc += [label_vector([o]) for o in objs] + [label_vector([])] * (len(keep) - len(objs))
        if windows:
            win, yn = windows_of(pixels, objs)
            crops.append(win)
            yc += list(yn)
        if progress is not None:
            progress(1)
    return np.stack(wholes), np.stack(yw), np.concatenate(crops), np.stack(yc)


def _sigmoid(z):
    """1 / (1 + e^-z), written with tanh so that no exponential overflows."""
    return 0.5 * (1 + xp.tanh(0.5 * z))


def _he(g, shape, fan_in, dtype):
    return (g.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


class ShapesCNN:
    """`params` (a flat dict, like every model here), `features(crops) -> (M, D)` fc7, and
    `loss(batch) -> (loss, grads)` keyed like `params` (the gradient check and the optimiser
    need nothing else)."""

    def __init__(self, feature_dim: int = 4096, seed: int = 0, dtype=np.float32,
                 channels=CHANNELS):
        g = np.random.default_rng([seed, TRAIN_STREAM, 0x1417])
        self.feature_dim, self.channels, self.dtype = feature_dim, tuple(channels), dtype
        self.input_size, self.whole_size, self.meta = INPUT_SIZE, WHOLE_SIZE, {}
        p, c_in = {}, 3
        for k, c in enumerate(self.channels, 1):
            p[f"w{k}"] = _he(g, (3, 3, c_in, c), 9 * c_in, dtype)
            p[f"b{k}"] = np.zeros(c, dtype)
            c_in = c
        p["W7"] = _he(g, (c_in, feature_dim), c_in, dtype)
        p["b7"] = np.zeros(feature_dim, dtype)
        p["Wc"] = (g.standard_normal((feature_dim, len(LABELS))) * 0.01).astype(dtype)
        p["bc"] = np.full(len(LABELS), -2.0, dtype)   # labels are rare: start near their rate
        self.params = {k: to_device(v) for k, v in p.items()}

    def _input(self, crops):
        x = to_device(crops, self.dtype) if crops.dtype == np.uint8 else to_device(crops)
        return x / 255.0 - 0.5 if crops.dtype == np.uint8 else x

    def _forward(self, x):
        """x (N, S, S, 3) -> fc7 (N, D) and the caches of every layer."""
        p, caches, n = self.params, [], len(self.channels)
        for k in range(1, n + 1):
            x, c_conv = C.conv_forward(x, p[f"w{k}"], p[f"b{k}"], 1, 1)
            x, c_relu = L.relu_forward(x)
            if k < n:
                x, c_pool = C.maxpool_forward(x, 2)
            else:
                x, c_pool = C.global_maxpool_forward(x)
            caches.append((c_conv, c_relu, c_pool))
        h, c_fc = L.affine_forward(x, p["W7"], p["b7"])
        fc7, c_r7 = L.relu_forward(h)
        return fc7, caches + [(c_fc, c_r7)]

    def features(self, crops, chunk: int = 256) -> np.ndarray:
        """crops (M, S, S, 3) uint8 -> fc7 (M, D) float32 on the host (Eq. 1's CNN(I_b))."""
        out = np.empty((len(crops), self.feature_dim), dtype=np.float32)
        for s in range(0, len(crops), chunk):
            out[s:s + chunk] = to_host(self._forward(self._input(crops[s:s + chunk]))[0])
        return out

    __call__ = features

    def loss(self, batch):
        """batch = (crops or float inputs (N, S, S, 3), labels (N, 31)) -> (loss, grads): the
        logistic loss summed over labels, averaged over the batch."""
        x, y = self._input(batch[0]), to_device(batch[1], self.dtype)
        p, N = self.params, len(y)
        fc7, caches = self._forward(x)
        z, c_cls = L.affine_forward(fc7, p["Wc"], p["bc"])
        # log(1 + e^z) - y z, written to stay finite for large |z|
        loss = (xp.maximum(z, 0) - z * y + xp.log1p(xp.exp(-xp.abs(z)))).sum() / N
        dz = (_sigmoid(z) - y) / N
        grads = {}
        dfc7, grads["Wc"], grads["bc"] = L.affine_backward(dz, c_cls)
        c_fc, c_r7 = caches[-1]
        dx, grads["W7"], grads["b7"] = L.affine_backward(L.relu_backward(dfc7, c_r7), c_fc)
        n = len(self.channels)
        for k in range(n, 0, -1):
            c_conv, c_relu, c_pool = caches[k - 1]
            dx = (C.maxpool_backward(dx, c_pool) if k < n
                  else C.global_maxpool_backward(dx, c_pool))
            # the first layer's input is the picture: no gradient needed there
            dx, grads[f"w{k}"], grads[f"b{k}"] = C.conv_backward(L.relu_backward(dx, c_relu),
                                                                 c_conv, input_grad=k > 1)
        return loss, grads

    def predict(self, crops, chunk: int = 256) -> np.ndarray:
        """Label probabilities (M, 31) of crops."""
        out = []
        for s in range(0, len(crops), chunk):
            fc7, _ = self._forward(self._input(crops[s:s + chunk]))
            z = fc7 @ self.params["Wc"] + self.params["bc"]
            out.append(to_host(_sigmoid(z)))
        return np.concatenate(out)

    # ------------------------------------------------------------------ save / load (no pickle)
    def save(self, path, meta: dict) -> None:
        arrays = {k: to_host(v) for k, v in self.params.items()}
        meta = {**meta, "feature_dim": self.feature_dim, "channels": list(self.channels),
                "labels": LABELS, "input_size": INPUT_SIZE, "whole_size": WHOLE_SIZE}
        np.savez(path, meta=np.array(json.dumps(meta)), **arrays)

    @classmethod
    def load(cls, path) -> "ShapesCNN":
        path = Path(path)
        if path.is_dir():
            path = path / FILENAME
        try:
            with np.load(path, allow_pickle=False) as f:
                meta = json.loads(str(f["meta"]))
                arrays = {k: f[k] for k in f.files if k != "meta"}
        except FileNotFoundError:
            raise DataError(f"{path}: no trained CNN here (make-shapes writes {FILENAME})") from None
        except (ValueError, KeyError, OSError) as e:
            raise DataError(f"{path}: not a trained-CNN file ({type(e).__name__}: {e})") from None
        net = cls(meta["feature_dim"], 0, channels=meta["channels"])
        for k, v in arrays.items():
            if v.dtype.kind != "f":
                raise DataError(f"{path}: parameter {k} has dtype {v.dtype}, expected floats")
            if k not in net.params or net.params[k].shape != v.shape:
                raise DataError(f"{path}: parameter {k} {v.shape} does not fit the network")
            net.params[k] = to_device(v.astype(np.float32))
        net.meta = meta
        return net


def train_cnn(feature_dim: int = 4096, seed: int = 0, n_scenes: int = DEFAULT_SCENES,
              epochs: int = DEFAULT_EPOCHS, lr: float = DEFAULT_LR, progress: bool = True,
              log=None, channels=CHANNELS, windows: bool = True) -> tuple[ShapesCNN, dict]:
    """Draw the training pictures and train the network on them (RMSprop, elementwise clipping
    at 5 as both of the paper's models, the learning rate warmed up over the first tenth of the
    steps and decayed linearly to a tenth; half of every batch mirrored left to right, which
    changes no label). `windows`: each object's window too (`windows_of`). A tenth of the
    pictures (at least one) is held out.
    Returns (network, summary: the loss per epoch and the label accuracy on the held-out
    whole pictures and crops)."""
    from tqdm import tqdm

    t0 = time.perf_counter()
    n_held = max(1, n_scenes // 10)
    bar = tqdm(total=n_scenes, desc="cnn pictures", unit="pic", disable=not progress,
               leave=False)
    Wt, Ywt, Ct, Yct = training_set(seed, 0, n_scenes - n_held, bar.update, windows)
    Wh, Ywh, Ch, Ych = training_set(seed, n_scenes - n_held, n_scenes, bar.update)
    bar.close()
    net = ShapesCNN(feature_dim, seed, channels=channels)
    opt = RMSProp(lr, decay=0.99)
    order = np.random.default_rng([seed, TRAIN_STREAM, 0xBA7C])
    # a batch of 16 whole pictures costs what a batch of 64 crops does (4x the pixels each)
    plan = ([("whole", s) for s in range(0, len(Wt), BATCH // 4)]
            + [("crop", s) for s in range(0, len(Ct), BATCH)])
    bar = tqdm(total=epochs * len(plan), desc="cnn training", unit="step",
               disable=not progress, leave=False)
    curve, steps, step, total_steps = [], [], 0, epochs * len(plan)
    for epoch in range(epochs):
        perm_w, perm_c = order.permutation(len(Wt)), order.permutation(len(Ct))
        total, seen = 0.0, 0
        for b in order.permutation(len(plan)):
            kind, s = plan[b]
            X, Y, idx = ((Wt, Ywt, perm_w[s:s + BATCH // 4]) if kind == "whole"
                         else (Ct, Yct, perm_c[s:s + BATCH]))
            Xb = X[idx]                                   # a copy (fancy indexing)
            flip = order.random(len(idx)) < 0.5           # mirror half: the same labels
            Xb[flip] = Xb[flip, :, ::-1]
            loss, grads = net.loss((Xb, Y[idx]))
            # warm up over the first tenth of the steps (RMSprop's running average starts at
            # zero, so its first steps are up to 10x lr), then decay linearly to a tenth
            opt.lr = lr * min(1.0, (step + 1) / (0.1 * total_steps)) * (1 - 0.9 * step / total_steps)
            opt.step(net.params, clip_elementwise(grads, 5.0))
            step += 1
            steps.append(to_float(loss))
            total, seen = total + steps[-1] * len(idx), seen + len(idx)
            bar.update(1)
        curve.append(total / seen)
        if log:
            log(f"   cnn epoch {epoch + 1}/{epochs}: training loss {curve[-1]:.3f}")
    bar.close()
    held = {}
    for kind, X, Y in (("whole", Wh, Ywh), ("crops", Ch, Ych)):
        acc = ((net.predict(X) > 0.5) == (Y > 0.5)).mean(axis=0)
        held[kind] = {k: round(float(a), 4) for k, a in zip(LABELS, acc)}
    summary = {"pictures": n_scenes, "held_out_pictures": n_held, "whole_pictures": len(Wt),
               "crops": len(Ct), "windows": windows, "epochs": epochs, "lr": lr,
               "loss_per_epoch": [round(v, 4) for v in curve],
               "loss_per_step": [round(v, 4) for v in steps], "held_out_accuracy": held,
               "held_out_mean_accuracy": {k: round(float(np.mean(list(v.values()))), 4)
                                          for k, v in held.items()},
               "seconds": round(time.perf_counter() - t0, 1), "seed": seed}
    return net, summary


# ---------------------------------------------------------------------- the linear probe
def ridge_probe(X, Y, Xt, Yt, lam: float = 1e-2) -> np.ndarray:
    """Fit ridge regression from features X (N, D) to labels Y (N, K) (features centred on the
    training mean; the penalty lam * the mean squared norm, so that it means the same for every
    feature scale) and return the accuracy of each label on (Xt, Yt): K binary labels read as
    "> 0.5". Solved in the dual, (X X^T + lam I) A = Y, since N < D."""
    mu, ybar = X.mean(axis=0), Y.mean(axis=0)
    Xc, Xtc = (X - mu).astype(np.float64), (Xt - mu).astype(np.float64)
    K = Xc @ Xc.T
    A = np.linalg.solve(K + lam * np.trace(K) / len(K) * np.eye(len(K)), Y - ybar)
    pred = Xtc @ (Xc.T @ A) + ybar
    return ((pred > 0.5) == (Yt > 0.5)).mean(axis=0)


def probe_world(ds) -> dict:
    """How much of what the pictures contain a linear read-out of the world's features finds
    (fitted on train, scored on test): whole-image features (Eq. 13) -> presence of each shape
    and of each (colour, shape) object; region features (Eq. 1) -> shape, colour and size of
    the object in the box. -> {"whole": {label: accuracy}, "whole_majority": {label: rate},
    "regions": {"shape": acc, "colour": acc, "size": acc}}."""
    tr, te = ds.split_indices("train"), ds.split_indices("test")
    names = [k for k in LABELS if k.startswith(("shape:", "object:"))]
    cols = [LABELS.index(k) for k in names]
    Y = np.stack([label_vector(im["objects"]) for im in ds.images])[:, cols]
    acc = ridge_probe(np.asarray(ds.feats[tr]), Y[tr], np.asarray(ds.feats[te]), Y[te])
    majority = np.maximum(Y[te].mean(axis=0), 1 - Y[te].mean(axis=0))
    out = {"whole": dict(zip(names, acc.round(4).tolist())),
           "whole_majority": dict(zip(names, majority.round(4).tolist())), "regions": {}}
    if ds.region_feats is not None and ds.region_feats.shape[1] > 1:
        for kind, values in (("shape", SHAPES), ("colour", list(COLOURS)), ("size", list(SIZES))):
            Xs, ys = {}, {}
            for split, idx in (("train", tr), ("test", te)):
                rows = [(i, o["region"], list(values).index(o[kind]))
                        for i in idx for o in ds.images[i]["objects"]]
                Xs[split] = np.asarray(ds.region_feats[[r[0] for r in rows], [r[1] for r in rows]])
                ys[split] = np.eye(len(values))[[r[2] for r in rows]]
            mu = Xs["train"].mean(axis=0)
            Xc = (Xs["train"] - mu).astype(np.float64)
            K = Xc @ Xc.T
            A = np.linalg.solve(K + 1e-2 * np.trace(K) / len(K) * np.eye(len(K)), ys["train"])
            pred = (Xs["test"] - mu) @ (Xc.T @ A)
            out["regions"][kind] = round(float((pred.argmax(1) == ys["test"].argmax(1)).mean()), 4)
    return out


def probe_summary(probe: dict) -> dict:
    """The figures of `probe_world` a report shows: the worst and mean accuracy of the
    whole-image probe on shapes and on (colour, shape) objects (with the mean majority-class
    rate beside it), and the region probe."""
    out = {}
    for kind in ("shape", "object"):
        acc = [v for k, v in probe["whole"].items() if k.startswith(kind + ":")]
        maj = [v for k, v in probe["whole_majority"].items() if k.startswith(kind + ":")]
        out[kind] = {"min": min(acc), "mean": float(np.mean(acc)), "majority": float(np.mean(maj))}
    out["regions"] = probe["regions"]
    return out
