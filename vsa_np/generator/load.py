"""`load_generator` lives beside the model it loads, in `model.py` (as `load_alignment` does in
`alignment/model.py`); this module keeps the old import path working."""
from vsa_np.generator.model import load_generator

__all__ = ["load_generator"]
