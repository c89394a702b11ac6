"""Loading a trained model, either kind, in one place: a checkpoint written by `train-align` or
`train-gen` (a run folder means its `best` checkpoint) -> (model, vocab, meta).

Both trainers save the same metadata: meta["model"] names the kind ("alignment" or
"generator"), meta["arch"] is the model's `arch`, meta["vocab"] the vocabulary, and the fixed
feature normalisation (feature_norm.py) is saved as checkpoint buffers. Both model classes
rebuild themselves with `Model.from_params(params, arch, norm=norm)` and name their kind and
their trainer in `KIND` and `TRAINER`. Checkpoints written before this contract still load:
generators saved meta["kind"] = "generator" with the architecture in meta["model"], and
alignment models before feature_norm.py saved a mean and a whitening of their own.
"""
from __future__ import annotations

from vsa_np.checkpoint import (checkpoint_paths, checkpoint_stem, load_checkpoint,
                               require_finite, split_buffers)
from vsa_np.data.vocab import Vocab
from vsa_np.errors import DataError
from vsa_np.feature_norm import FeatureNorm


def load_trained(path, model_cls):
    """(model, vocab, meta) from a checkpoint of `model_cls` (AlignmentModel or CaptionModel);
    DataError naming the file when it is not one, is damaged, or does not fit its metadata."""
    stem = checkpoint_stem(path)
    where = checkpoint_paths(stem)[0]             # the .npz, however the path was given
    params, meta, _ = load_checkpoint(stem)
    buffers = split_buffers(params)
    if meta.get("kind") == "generator" and isinstance(meta.get("model"), dict):
        meta = {**meta, "model": "generator", "arch": meta["model"]}   # before the contract
    kind = model_cls.KIND
    if meta.get("model") != kind or "arch" not in meta or "vocab" not in meta:
        raise DataError(f"{where}: not {'an' if kind[0] in 'aeiou' else 'a'} {kind} checkpoint "
                        f"(written by `vsa-np {model_cls.TRAINER}`)")
    require_finite(params, stem)
    try:
        norm = FeatureNorm.from_buffers(buffers)
        if norm is None:
            norm = _legacy_norm(meta, buffers)
        model = model_cls.from_params(params, meta["arch"], norm=norm)
        vocab = Vocab.from_json(meta["vocab"])
    except (KeyError, TypeError, ValueError, DataError) as e:
        raise DataError(f"{where}: parameters or vocabulary do not fit the saved architecture "
                        f"({e})") from None
    if len(vocab) != model.arch["vocab_size"]:
        raise DataError(f"{where}: vocabulary of {len(vocab)} entries for a model of "
                        f"{model.arch['vocab_size']} words")
    return model, vocab, meta


def _legacy_norm(meta: dict, buffers: dict):
    """The normalisation of an alignment checkpoint written before feature_norm.py (a mean in
    the metadata, a whitening in the buffers), or None."""
    if meta.get("feature_mean") is None and "whiten_basis" not in buffers:
        return None
    white = None
    if "whiten_basis" in buffers:
        white = {"basis": buffers["whiten_basis"], "scale": buffers["whiten_scale"],
                 "rest": meta.get("whiten_rest")}
    return FeatureNorm.legacy(meta["arch"]["image_dim"], meta.get("feature_mean"), white)
