"""Lesson 07's exercises, worked."""
import math
from collections import Counter


def _ngrams(tokens, n):
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def bleu(hyp, refs, N=4):
    """BLEU-1..N of one candidate: clipped n-gram precisions, their geometric means, times the
    brevity penalty with the closest reference length (the shorter on a tie)."""
    p = []
    for n in range(1, N + 1):
        best = Counter()
        for r in refs:
            best |= _ngrams(r, n)                     # max count over the references
        clipped = sum(min(c, best[g]) for g, c in _ngrams(hyp, n).items())
        p.append(clipped / max(len(hyp) - n + 1, 1))
    c = len(hyp)
    r = min((abs(len(x) - c), len(x)) for x in refs)[1]
    bp = math.exp(1 - r / c) if c < r else 1.0
    return [bp * math.prod(p[:k]) ** (1 / k) for k in range(1, N + 1)]


def rouge_l(hyp, refs, beta=1.2):
    """ROUGE-L: P and R from the LCS with each reference, each maximised over the references."""
    def lcs(a, b):
        L = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(1, len(a) + 1):
            for j in range(1, len(b) + 1):
                L[i][j] = L[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(L[i - 1][j], L[i][j - 1])
        return L[-1][-1]
    ls = [lcs(hyp, r) for r in refs]
    P = max(x / len(hyp) for x in ls)
    R = max(x / len(r) for x, r in zip(ls, refs))
    return 0.0 if P == 0 or R == 0 else (1 + beta ** 2) * P * R / (R + beta ** 2 * P)
