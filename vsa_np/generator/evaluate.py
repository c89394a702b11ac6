"""Evaluating the generator as Sec. 4.2 does: perplexity of held-out sentences, and the caption
metrics of coco-caption (BLEU-1..4, METEOR, ROUGE-L, CIDEr-D) of the beam-searched captions
against every reference sentence of each image, beside the nearest-neighbour baseline: "each test
image gets the first caption of its closest training image by L2 distance of the features".

Perplexity is exp(mean -log p) per predicted token, END included (the paper's released code
counts the END token too): the model's average branching factor. The references are the
dataset's own tokens (lowercase, punctuation stripped), words outside the vocabulary included,
as coco-caption would see them.

Where the images carry ground-truth `objects` (the shapes world), the captions are also checked
against them (`object_truth`): n-gram metrics reward a fluent caption of the right kind of
picture whatever objects it names, so they cannot tell "a yellow star" from "a yellow triangle";
counting the named objects that are (not) in the picture can (CHAIR, Rohrbach et al. 2018).
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from vsa_np.backend import to_float
from vsa_np.data import caption_batch, encode_split
from vsa_np.feature_norm import feature_maps, unit_rows
from vsa_np.core.generator import beam_search
from vsa_np.metrics import score_all

METRIC_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")


def perplexity(model, source, enc, batch_size: int = 500) -> dict:
    """Perplexity of every sentence of an encoded split (`vsa_np.data.encode_split`), teacher
    forced, no dropout. `source` has the features (a Dataset, or region pairs)."""

    nll, tokens = 0.0, 0
    S = len(enc.lengths)
    for start in range(0, S, batch_size):
        s = np.arange(start, min(start + batch_size, S))
        batch = caption_batch(source, enc, s)
        nll -= to_float(model.log_probs(batch).sum())
        tokens += int(batch["mask"].sum())
    per_token = nll / max(tokens, 1)
    return {"perplexity": math.exp(per_token) if per_token < 709 else math.inf,   # no overflow
            "nll_per_token": per_token, "tokens": tokens}


def unigram_perplexity(vocab, enc) -> float:
    """The perplexity of the best model that ignores the image and the context: every word at
    its training frequency (END included, as `perplexity` counts it). An untrained generator
    starts here (its output bias is the log frequencies); a model that stays here reads nothing."""
    p = np.maximum(vocab.counts, 1) / np.maximum(vocab.counts, 1).sum()
    valid = np.arange(enc.words.shape[1] + 1) <= enc.lengths[:, None]   # words, then END
    targets = np.pad(enc.words, ((0, 0), (0, 1)))[valid]
    return math.exp(-np.log(p[targets]).mean()) if targets.size else float("nan")


def references(ds, split: str, images=None) -> dict:
    """{image index: [token list of every sentence]} for the images of `split` (or `images`)."""
    idx = ds.split_indices(split) if images is None else images
    return {int(i): [s["tokens"] for s in ds.images[i]["sentences"]] for i in idx}


def caption_features(model, vocab, feats, beam: int = 7, max_len: int = 40, n_best: int = 1,
                     chunk: int = 1000):
    """Beam-search captions of (N, D) features -> (words: N lists of n_best word lists,
    logprob: N lists of n_best floats)."""
    out = beam_search(model, feats, beam=beam, max_len=max_len, n_best=n_best, chunk=chunk)
    return [[vocab.decode(c) for c in caps] for caps in out.tokens], out.logprob


def score(refs: dict, hyps: dict, meteor: bool = False) -> dict:
    """The coco-caption metrics (fractions; METEOR None unless asked for and available)."""

    return score_all(refs, hyps, use_meteor=meteor)


def training_sentences(ds) -> set:
    """Every training sentence as a tuple of tokens (for the share of captions copied verbatim)."""
    return {tuple(t) for t in ds.sentences_of("train")[1]}


def caption_diversity(captions: dict, train: set) -> dict:
    """How many different things a captioner says, over {image: token list}:
    distinct: distinct captions / images (1: every image its own caption; 1/N: one for all);
    most_common: the share of images that get the most frequent caption;
    in_training: the share of captions found verbatim among the training sentences (the paper,
    Sec. 4.2: about 60% with beam 7 on Flickr8K; 100% for the nearest-neighbour baseline)."""
    caps = [tuple(c) for c in captions.values()]
    if not caps:
        return {"distinct": 0.0, "most_common": 0.0, "in_training": 0.0}
    counts = Counter(caps)
    return {"distinct": len(counts) / len(caps),
            "most_common": counts.most_common(1)[0][1] / len(caps),
            "in_training": sum(c in train for c in caps) / len(caps)}


def diversity_warning(div: dict, reference: dict | None = None) -> str | None:
    """A one-line warning when most images share a caption (the image is being ignored), else
    None. `reference` (the nearest-neighbour captions' diversity) is quoted when given."""
    if div["distinct"] >= 0.5 and div["most_common"] < 0.5:
        return None
    ref = (f" (the nearest-neighbour captions: {100 * reference['distinct']:.0f}% distinct)"
           if reference else "")
    return (f"warning: the captions hardly depend on the image: {100 * div['distinct']:.0f}% "
            f"distinct captions over the images and {100 * div['most_common']:.0f}% of the "
            f"images share the most frequent one{ref}; the model has learned the language, not "
            f"the pictures (try more epochs, a checkpoint chosen by perplexity, or --lr auto)")


def object_vocabulary(ds) -> tuple[set, set]:
    """The colour and shape words of the dataset's ground-truth objects (empty: no objects)."""
    objs = [o for im in ds.images for o in im.get("objects", ())]
    return {o["colour"] for o in objs}, {o["shape"] for o in objs}


def named_objects(tokens, colours: set, shapes: set) -> list[tuple]:
    """The (colour, shape) objects a caption names, in order, once per mention: a colour word
    followed by a shape word, singular or plural ("a small red circle", "two red circles")."""
    out = []
    for a, b in zip(tokens, tokens[1:]):
        noun = b[:-1] if b.endswith("s") and b[:-1] in shapes else b
        if a in colours and noun in shapes:
            out.append((a, noun))
    return out


def image_objects(image: dict) -> set:
    """The (colour, shape) pairs present in an image record's `objects`."""
    return {(o["colour"], o["shape"]) for o in image.get("objects", ())}


def object_marks(ds, image: int, caption: str) -> list[tuple]:
    """[("red circle", True), ...]: each object a caption names and whether image has it (for
    the captions page)."""
    colours, shapes = object_vocabulary(ds)
    truth = image_objects(ds.images[image])
    return [(f"{c} {s}", (c, s) in truth) for c, s in named_objects(caption.split(), colours,
                                                                       shapes)]


def object_truth(ds, captions: dict) -> dict | None:
    """Captions {image index: token list} checked against each image's ground-truth objects
    (None when the dataset has none), over the (colour, shape) pairs, micro-averaged:
    precision:  named pairs that are in the picture / named pairs (distinct per caption)
    recall:     the picture's pairs that its caption names / the pictures' pairs
    chair_s:    share of captions naming at least one pair that is not there (CHAIR_s-style)
    chair_i:    share of mentions (repeats counted) that are not there (CHAIR_i-style)
    repeats:    share of captions that name the same pair twice ("a red circle and a red
                circle": a grammar the references never use)
    mentions:   object mentions per caption."""
    colours, shapes = object_vocabulary(ds)
    if not colours or not captions:
        return None
    right = named = present = mentions = wrong_mentions = bad_caps = repeats = 0
    for i, tokens in captions.items():
        truth = image_objects(ds.images[int(i)])
        said = named_objects(tokens, colours, shapes)
        distinct = set(said)
        right += len(distinct & truth)
        named += len(distinct)
        present += len(truth)
        mentions += len(said)
        wrong_mentions += sum(o not in truth for o in said)
        bad_caps += bool(distinct - truth)
        repeats += len(distinct) < len(said)
    n = len(captions)
    return {"precision": right / max(named, 1), "recall": right / max(present, 1),
            "chair_s": bad_caps / n, "chair_i": wrong_mentions / max(mentions, 1),
            "repeats": repeats / n, "mentions": mentions / n}


def evaluate_split(model, ds, vocab, split: str, beam: int = 7, max_len: int = 40,
                   meteor: bool = False, max_images: int = 0) -> dict:
    """Perplexity on every sentence of `split` and the metrics of the beam search's best caption
    of its images (the first `max_images` of them when > 0). -> {"perplexity", metrics...,
    "captions": {image index: caption string}, "logprobs": {image index: float}}."""

    out = perplexity(model, ds, encode_split(ds, vocab, split))
    idx = ds.split_indices(split)
    if max_images > 0:
        idx = idx[:max_images]
    words, logprob = caption_features(model, vocab, np.asarray(ds.feats[idx]), beam, max_len)
    hyps = {int(i): w[0] for i, w in zip(idx, words)}
    out.update(score(references(ds, split, idx), hyps, meteor))
    out["diversity"] = caption_diversity(hyps, training_sentences(ds))
    objects = object_truth(ds, hyps)
    if objects is not None:
        out["objects"] = objects
    out["captions"] = {i: " ".join(w) for i, w in hyps.items()}
    out["logprobs"] = {int(i): lp[0] for i, lp in zip(idx, logprob)}
    return out


def nearest_neighbours(query, base, chunk: int = 1024) -> np.ndarray:
    """Index into `base` (M, D) of the row closest in L2 to each row of `query` (N, D):
    argmin_j |q|^2 - 2 q.b_j + |b_j|^2, in chunks of queries (one GEMM each)."""
    base = np.asarray(base, dtype=np.float64)
    b2 = (base * base).sum(axis=1)
    out = np.empty(len(query), dtype=np.int64)
    for s in range(0, len(query), chunk):
        q = np.asarray(query[s:s + chunk], dtype=np.float64)
        out[s:s + chunk] = np.argmin(b2[None, :] - 2 * q @ base.T, axis=1)  # |q|^2 is constant
    return out


def nearest_neighbour_captions(ds, split: str, max_images: int = 0,
                               distance: str | None = None) -> dict:
    """Sec. 4.2's baseline: {image index of `split`: the first caption of the training image
    whose feature is closest}. `distance` ("L2 on log features", "cosine on sqrt features",
    ...; see `nn_distances`): None picks the one whose captions score the best CIDEr-D on the
    validation split (`choose_nn_distance`), the tuning the models get too."""
    train = ds.split_indices("train")
    idx = ds.split_indices(split)
    if max_images > 0:
        idx = idx[:max_images]
    distance = distance or choose_nn_distance(ds)[0]
    measure, _, rest = distance.partition(" on ")
    train_feats = np.asarray(ds.feats[train], dtype=np.float64)
    fmap = feature_maps(train_feats)[rest.split()[0]]
    base, query = fmap(train_feats), fmap(np.asarray(ds.feats[idx], dtype=np.float64))
    if measure == "cosine":                  # centred on the training mean, unit length
        mean = base.mean(axis=0)
        base, query = unit_rows(base - mean), unit_rows(query - mean)
    nn = train[nearest_neighbours(query, base)]
    return {int(i): ds.images[j]["sentences"][0]["tokens"] for i, j in zip(idx, nn)}


def nn_distances(ds) -> list:
    """The distances the nearest neighbour may use: L2 and cosine on each feature map that
    applies (raw; square root for non-negative features; log for class probabilities)."""
    maps = feature_maps(np.asarray(ds.feats[ds.split_indices("train")], dtype=np.float64))
    return [f"{m} on {name} features" for name in maps for m in ("L2", "cosine")]


def choose_nn_distance(ds) -> tuple:
    """(distance, {distance: validation CIDEr-D}): the distance whose nearest-neighbour
    captions of the validation images score best; without validation images, L2 on the
    features as the models read them (log for class probabilities)."""
    choices = nn_distances(ds)
    if len(ds.split_indices("val")) == 0:
        return (choices[-2] if "log" in choices[-2] else choices[0]), {}
    refs = references(ds, "val")
    table = {d: score(refs, nearest_neighbour_captions(ds, "val", distance=d))["CIDEr-D"]
             for d in choices}
    return max(table, key=table.get), table


def evaluate_with_baseline(model, ds, vocab, split: str = "test", beam: int = 7,
                           max_len: int = 40, meteor: bool = True, max_images: int = 0) -> dict:
    """`vsa-np eval-gen`: {"model": {perplexity, metrics, captions}, "nearest_neighbour":
    {metrics, captions}} on the same images."""
    model_out = evaluate_split(model, ds, vocab, split, beam, max_len, meteor, max_images)
    return {"model": model_out,
            "nearest_neighbour": nearest_neighbour_report(ds, split, meteor, max_images)}


def nearest_neighbour_report(ds, split: str, meteor: bool = False, max_images: int = 0) -> dict:
    """The nearest-neighbour captions of `split` scored like the model's: {metrics...,
    "diversity", "captions"}."""
    distance, _ = choose_nn_distance(ds)
    nn = nearest_neighbour_captions(ds, split, max_images, distance)
    out = score(references(ds, split, list(nn)), nn, meteor)
    out["distance"] = distance
    out["diversity"] = caption_diversity(nn, training_sentences(ds))
    objects = object_truth(ds, nn)
    if objects is not None:
        out["objects"] = objects
    out["captions"] = {i: " ".join(w) for i, w in nn.items()}
    return out
