"""Tokenisation for evaluation: the same rule as the tokens the models are trained on.

Karpathy's rule (the `tokens` of the `dataset.json` files the paper's released code reads):
lowercase; `-` becomes a space; every other character that is not an ASCII letter or digit is
deleted, except `# ( ) & : =`; split on white space. So "A dog's pink-collar." becomes
["a", "dogs", "pink", "collar"]. coco-caption runs the Stanford PTB tokenizer (Java) and then drops
punctuation; for the plain English of image captions the two agree on the words that matter, and
using the models' own rule means a caption decoded from the vocabulary is scored on exactly the
tokens it was made of.
"""
from __future__ import annotations

import re

# Everything that is not kept: ASCII letters and digits, white space and the six symbols.
_DELETE = re.compile(r"[^a-z0-9\s#()&:=]")


def tokenize(text: str) -> list[str]:
    """Raw caption text -> list of evaluation tokens (Karpathy's rule, see the module docstring)."""
    return _DELETE.sub("", text.lower().replace("-", " ")).split()


def split_tokens(text: str) -> list[str]:
    """Already tokenised text -> tokens: split on white space only, nothing else changes."""
    return text.split()
