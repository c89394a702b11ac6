"""Karpathy's caption tokenisation (the rule behind the `tokens` of the paper's `dataset.json`).

Paper, Section 4: "we convert all sentences to lower-case, discard non-alphanumeric characters".
The released `dataset_flickr8k.json` follows this exact rule, which `tokenize` reproduces token for
token on all 40,000 Flickr8K captions (see tests/test_data_real.py):

    1. lowercase;
    2. `-` becomes a space ("black-and-white" -> "black and white");
    3. every other character that is not alphanumeric is deleted, except `# ( ) & : =`
       (so "dog's" -> "dogs" and the final " ." disappears);
    4. split on white space.
"""
from __future__ import annotations

import re

# Anything that is neither a word character nor white space nor one of the kept symbols;
# `\w` also matches "_", which is not alphanumeric, hence the alternative.
_DROP = re.compile(r"[^\w\s#()&:=]|_")


def tokenize(raw: str) -> list[str]:
    """'A black-and-white dog's toy .' -> ['a', 'black', 'and', 'white', 'dogs', 'toy']"""
    return _DROP.sub("", raw.lower().replace("-", " ")).split()
