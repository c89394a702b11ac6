"""Lesson 08's exercises, worked."""


def snippet_runs(assignment):
    """Maximal runs of equal regions, skipping -1 (no region): [(region, start, end)], end
    exclusive. Each run is one (region, snippet) training pair of Sec. 4.3."""
    out, start = [], 0
    for j in range(1, len(assignment) + 1):
        if j == len(assignment) or assignment[j] != assignment[start]:
            if assignment[start] >= 0:
                out.append((assignment[start], start, j))
            start = j
    return out


def nearest_rows(query, base):
    """For each query row, the index of the base row closest in L2."""
    d2 = ((query[:, None, :] - base[None, :, :]) ** 2).sum(axis=-1)
    return d2.argmin(axis=1)
