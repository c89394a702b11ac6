"""Loading a trained generator: the parameters, the model options and the vocabulary saved by
`train.py` (a run folder means its `best` checkpoint)."""
from __future__ import annotations


from vsa_np.errors import DataError
from vsa_np.feature_norm import FeatureNorm
from vsa_np.generator.model import CaptionModel


def load_generator(path):
    """-> (CaptionModel, Vocab, meta) from a generator checkpoint (DataError when it is not one)."""
    from vsa_np.checkpoint import (checkpoint_paths, checkpoint_stem, load_checkpoint,
                                   require_finite, split_buffers)
    from vsa_np.data import Vocab

    stem = checkpoint_stem(path)
    where = checkpoint_paths(stem)[0]             # the .npz, however the path was given
    params, meta, _ = load_checkpoint(stem)
    norm = FeatureNorm.from_buffers(split_buffers(params))
    if meta.get("kind") == "generator" and isinstance(meta.get("model"), dict):
        meta = {**meta, "model": "generator", "arch": meta["model"]}   # written before the arch
    if meta.get("model") != "generator" or "arch" not in meta or "vocab" not in meta:
        raise DataError(f"{where}: not a generator checkpoint (written by `vsa-np train-gen`)")
    require_finite(params, stem)
    try:
        model = CaptionModel.from_params(params, meta["arch"], norm=norm)
        vocab = Vocab.from_json(meta["vocab"])
    except (KeyError, TypeError, ValueError, DataError) as e:
        raise DataError(f"{where}: parameters or vocabulary do not fit the saved model options "
                        f"({e})") from None
    if len(vocab) != model.V:
        raise DataError(f"{where}: vocabulary of {len(vocab)} entries for a model of "
                        f"{model.V} outputs")
    return model, vocab, meta
