"""vsa-np: a from-scratch NumPy/CuPy implementation of

    A. Karpathy and L. Fei-Fei, "Deep Visual-Semantic Alignments for Generating Image
    Descriptions", CVPR 2015.

The paper is `vsa_np/core/`; everything else reads data, runs and evaluates it. The public API,
stable across restructurings (imported on first use, so `import vsa_np` stays light):

    from vsa_np import AlignmentModel, CaptionModel, load_alignment, load_generator
    from vsa_np import greedy, sample, beam_search, viterbi_align, viterbi_align_batch
    from vsa_np import retrieval_metrics, score_all, load_dataset
"""
import importlib

__version__ = "0.1.0"

_API = {
    "AlignmentModel": "vsa_np.core.alignment", "CaptionModel": "vsa_np.core.generator",
    "greedy": "vsa_np.core.generator", "sample": "vsa_np.core.generator",
    "beam_search": "vsa_np.core.generator", "Captions": "vsa_np.core.generator",
    "viterbi_align": "vsa_np.core.mrf", "viterbi_align_batch": "vsa_np.core.mrf",
    "snippets": "vsa_np.core.mrf", "SGDMomentum": "vsa_np.core.train",
    "RMSProp": "vsa_np.core.train", "train": "vsa_np.core.train",
    "load_alignment": "vsa_np.trained", "load_generator": "vsa_np.trained",
    "retrieval_metrics": "vsa_np.alignment.retrieval",
    "retrieval_ranks": "vsa_np.alignment.retrieval",
    "evaluate_retrieval": "vsa_np.alignment.evaluate", "score_all": "vsa_np.metrics",
    "load_dataset": "vsa_np.data", "Vocab": "vsa_np.data", "tokenize": "vsa_np.data",
    "train_alignment": "vsa_np.alignment.train", "AlignConfig": "vsa_np.alignment.train",
    "train_generator": "vsa_np.generator.train", "GenConfig": "vsa_np.generator.train",
}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        return getattr(importlib.import_module(_API[name]), name)
    raise AttributeError(f"module 'vsa_np' has no attribute {name!r}")
