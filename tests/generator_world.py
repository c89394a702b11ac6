"""The tiny generator world's training settings, shared by the generator's test modules; the
session fixtures that build the world and train on it (`tiny_world`, `tiny_run`) are in
conftest.py, so a test takes them by name without importing them."""

TINY = dict(hidden=32, word_dim=16, dropout=0.1, lr=3e-3, epochs=6, batch_size=40,
            eval_beam=3, max_len=30, word_threshold=2)
