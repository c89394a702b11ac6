"""Loading a trained model of either kind: a checkpoint of `train-align` or `train-gen` (a run
folder means its `best`) -> (model, vocab, meta). Both trainers save meta["model"] (the kind),
meta["arch"] (the model's `arch`), meta["vocab"], and the fixed feature map as buffers."""
from __future__ import annotations

import sys

from vsa_np.checkpoint import (checkpoint_paths, checkpoint_stem, load_checkpoint,
                               require_finite, require_float, split_buffers)
from vsa_np.core.alignment import AlignmentModel
from vsa_np.core.generator import CaptionModel
from vsa_np.data.vocab import UNKNOWN_WARN, Vocab, unknown_share
from vsa_np.errors import DataError
from vsa_np.feature_norm import FeatureNorm
from vsa_np.safe_read import reading


def load_trained(path, model_cls):
    """(model, vocab, meta) from a checkpoint of `model_cls`; DataError naming the file when it
    is not one, is damaged, or does not fit its metadata."""
    stem = checkpoint_stem(path)
    where = checkpoint_paths(stem)[0]
    with reading(where, f"{model_cls.KIND} checkpoint"):
        return _load_trained(stem, where, model_cls)


def _load_trained(stem, where, model_cls):
    params, meta, _ = load_checkpoint(stem)
    require_float(params, stem)
    buffers = split_buffers(params)
    kind = model_cls.KIND
    if meta.get("model") != kind or not isinstance(meta.get("arch"), dict) or \
            not isinstance(meta.get("vocab"), dict):
        raise DataError(f"{where}: not {'an' if kind[0] in 'aeiou' else 'a'} {kind} checkpoint "
                        f"(written by `vsa-np {model_cls.TRAINER}`)")
    require_finite(params, stem)
    try:
        model = model_cls.from_params(params, meta["arch"], norm=FeatureNorm.from_buffers(buffers))
        vocab = Vocab.from_json(meta["vocab"])
    except (KeyError, TypeError, ValueError, DataError) as e:
        raise DataError(f"{where}: parameters or vocabulary do not fit the saved architecture "
                        f"({e})") from None
    if len(vocab) != model.arch["vocab_size"]:
        raise DataError(f"{where}: vocabulary of {len(vocab)} entries for a model of "
                        f"{model.arch['vocab_size']} words")
    return model, vocab, meta


def load_alignment(path):
    """(AlignmentModel, vocab, meta) from a `train-align` checkpoint or run folder."""
    return load_trained(path, AlignmentModel)


def load_generator(path):
    """(CaptionModel, vocab, meta) from a `train-gen` checkpoint or run folder."""
    return load_trained(path, CaptionModel)


def check_data(model, meta, ds, ckpt) -> None:
    """DataError unless dataset `ds` has what the alignment model of `ckpt` reads: features of
    its size, and region features when it was trained on regions."""
    ds.require_features(int(model.params["W_m"].shape[0]), f"the alignment model {ckpt}")
    if meta.get("config", {}).get("regions") and ds.regions_file is None:
        raise DataError(f"{ds.root}: no region features ({ds.root / 'regions.npz'}), but the "
                        f"alignment model {ckpt} was trained on regions")


def data_report(vocab, meta, ds, split: str) -> dict:
    """What an evaluation says about its data: the share (%) of the split's words the model
    does not know, and the data's fingerprint beside the one it was trained on. Warns on stderr
    when more than UNKNOWN_WARN of the words are unknown, or the data are not the training
    data (a model scored on words it never saw scores nothing it learned)."""
    share = unknown_share(vocab, ds.sentences_of(split)[1])
    fp, trained = ds.fingerprint(), meta.get("data_fingerprint")
    if share > UNKNOWN_WARN:
        print(f"warning: {100 * share:.1f}% of the words of the {split} split of {ds.root} are "
              f"not in the model's vocabulary; its scores there say little", file=sys.stderr)
    if isinstance(trained, str) and trained != fp:
        print(f"warning: {ds.root} is not the data the model was trained on (fingerprint {fp}, "
              f"trained on {trained})", file=sys.stderr)
    return {"unknown_words_percent": round(100 * share, 2), "data_fingerprint": fp,
            "trained_on_fingerprint": trained if isinstance(trained, str) else None}
