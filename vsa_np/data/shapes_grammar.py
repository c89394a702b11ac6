"""The shapes world, part 2: five captions per image from a small grammar, with the region each
token refers to (ground truth the paper's data never had; it scores the MRF of Sec. 3.1.4).

Objects of the same colour and shape form a group ("two red circles"); groups are listed left to
right. The five captions of an image use five templates, so every image has five distinct
references of different phrasing, as in Flickr8K:

    list       a small red circle and a large blue square
    there      there is a red circle and a blue square            (no sizes)
    count      two shapes , a small red circle and a large blue square
    position   a small red circle on the left and a large blue square at the top
    relation   a small red circle to the left of a large blue square
               (one group only: "a picture of a small red circle")

alignments.json is a list with one record per sentence, in sentid order:

    {"sentid": 7, "imgid": 1, "tokens": ["two", "red", "circles", "above", "a", "blue", ...],
     "regions": [1, 1, 1, -1, -1, 3, ...],
     "region_sets": [[1, 2], [1, 2], [1, 2], [], [], [3], ...]}

`regions[t]` is the region index (into the image's rows of regions.npz) that token t names, or -1
for words that name no object (articles, "there is", prepositions, relation and position words);
the size, colour and noun words of an object phrase, and the count of a plural phrase, name the
object's region. `region_sets[t]` lists every acceptable region: all members for a plural phrase
(`regions[t]` is then its first member), all objects for "N shapes", [] for -1 tokens.
"""
from __future__ import annotations

import numpy as np

from vsa_np.data.shapes_draw import IMAGE_SIZE

NUMBERS = {1: "one", 2: "two", 3: "three", 4: "four"}
TEMPLATES = ("list", "there", "count", "position", "relation")

Token = tuple  # (word, region, region_set)


def groups_of(objects: list) -> list[list[int]]:
    """Indices of objects with the same colour and shape, groups ordered by their leftmost
    member (objects are sorted left to right already)."""
    groups: dict[tuple, list[int]] = {}
    for i, o in enumerate(objects):
        groups.setdefault((o["colour"], o["shape"]), []).append(i)
    return list(groups.values())


def phrase(objects: list, members: list[int], with_size: bool) -> list[Token]:
    """'a small red circle' / 'two red circles' with each token's region (object i is region
    i + 1: region 0 is the whole image)."""
    regions = [i + 1 for i in members]
    first, o = regions[0], objects[members[0]]
    sizes = {objects[i]["size"] for i in members}
    words = [o["size"]] if with_size and len(sizes) == 1 else []
    words += [o["colour"], o["shape"] + ("s" if len(members) > 1 else "")]
    head = [("a", -1, [])] if len(members) == 1 else [(NUMBERS[len(members)], first, regions)]
    return head + [(w, first, regions) for w in words]


def _join(parts: list[list[Token]]) -> list[Token]:
    out: list[Token] = []
    for k, p in enumerate(parts):
        out += ([("and", -1, [])] if k else []) + p
    return out


def _words(*words: str) -> list[Token]:
    return [(w, -1, []) for w in words]


def centre(objects: list, members: list[int]) -> tuple[float, float]:
    return (float(np.mean([objects[i]["cx"] for i in members])),
            float(np.mean([objects[i]["cy"] for i in members])))


def position(x: float, y: float) -> list[str]:
    """Where in the picture a point is: left/right first, else top/bottom, else the middle."""
    third = IMAGE_SIZE / 3
    if x < third:
        return ["on", "the", "left"]
    if x > 2 * third:
        return ["on", "the", "right"]
    if y < third:
        return ["at", "the", "top"]
    if y > 2 * third:
        return ["at", "the", "bottom"]
    return ["in", "the", "middle"]


def relation(a: tuple, b: tuple) -> list[str]:
    """How a lies relative to b, along the axis on which they differ most."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    if abs(dx) >= abs(dy):
        return ["to", "the", "left", "of"] if dx > 0 else ["to", "the", "right", "of"]
    return ["above"] if dy > 0 else ["below"]


def caption(template: str, objects: list, rng: np.random.Generator) -> list[Token]:
    groups = groups_of(objects)
    full = [phrase(objects, g, True) for g in groups]
    if template == "list":
        return _join(full)
    if template == "there":
        verb = "is" if len(groups[0]) == 1 else "are"
        return _words("there", verb) + _join([phrase(objects, g, False) for g in groups])
    if template == "count":
        everything = list(range(1, len(objects) + 1))
        n = len(objects)
        head = [(NUMBERS[n], 1, everything), ("shape" if n == 1 else "shapes", 1, everything)]
        return head + _join(full)
    if template == "position":
        return _join([p + _words(*position(*centre(objects, g))) for p, g in zip(full, groups)])
    if template == "relation":
        if len(groups) == 1:
            return _words("a", "picture", "of") + full[0]
        i, j = (int(k) for k in rng.choice(len(groups), size=2, replace=False))
        where = relation(centre(objects, groups[i]), centre(objects, groups[j]))
        return full[i] + _words(*where) + full[j]
    raise ValueError(template)


def raw_text(tokens: list[str]) -> str:
    """The caption as a person would write it; `tokenize(raw_text(t)) == t`."""
    text = " ".join(tokens)
    if tokens[1] in ("shape", "shapes"):
        text = text.replace(f" {tokens[1]} ", f" {tokens[1]}, ", 1)
    return text[0].upper() + text[1:] + "."


def describe(objects: list, rng: np.random.Generator) -> list[dict]:
    """Five captions of a scene: {"tokens", "raw", "regions", "region_sets"} each, the templates
    in a random order per image: as in Flickr8K, which reference comes first means nothing (the
    nearest-neighbour baseline of Sec. 4.2 copies the FIRST caption of the closest image, and a
    fixed order would hand it the template that scores best)."""
    out = []
    for k in rng.permutation(len(TEMPLATES)):
        template = TEMPLATES[k]
        toks = caption(template, objects, rng)
        tokens = [w for w, _, _ in toks]
        out.append({"tokens": tokens, "raw": raw_text(tokens),
                    "regions": [r for _, r, _ in toks],
                    "region_sets": [list(s) for _, _, s in toks]})
    return out
