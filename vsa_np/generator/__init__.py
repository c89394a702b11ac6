"""Around the generator of `vsa_np.core.generator`: its trainer (`train.py`, the `train-gen`
command), caption metrics and the nearest-neighbour baseline on a split (`evaluate.py`), the
(region, snippet) pairs of Sec. 4.3 (`region_data.py`), and an HTML page of captions."""
