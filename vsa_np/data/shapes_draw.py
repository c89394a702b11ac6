"""The shapes world, part 1: scenes and their pixels.

A scene is 1 to 4 objects (a shape, a colour, a size) placed without overlap on a noisy
background with grey clutter (lines and blobs that belong to no object and have no named
colour), drawn with Pillow at twice the resolution and box-filtered down (anti-aliasing).

Boxes are pixel x0, y0, x1, y1 (exclusive ends). The boxes of the alignment model's regions
(paper, Sec. 3.1.1: "the whole image plus the top 19 detections") are: region 0 the whole image,
then one box per object (its tight box plus a fixed margin of context, so that a crop resized to a
fixed size still shows how big the object is), then a few distractor boxes over background and
clutter, which a good alignment should not pick for any word.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 128
SUPERSAMPLE = 2
SHAPES = ("circle", "square", "triangle", "star")
COLOURS = {"red": (215, 40, 40), "green": (40, 165, 60), "blue": (45, 85, 220),
           "yellow": (235, 205, 35), "purple": (150, 60, 190)}
SIZES = {"small": (9.0, 12.0), "large": (17.0, 21.0)}  # range of the extent e (pixels)
MAX_OBJECTS = 4
N_DISTRACTORS = 2
BOX_MARGIN = 8          # context pixels around an object's tight box
MIN_GAP = 3             # pixels between the extents of two objects
NOISE_STD = 4.0


def _polygon(shape: str, cx: float, cy: float, e: float, angle: float) -> list[tuple]:
    """Vertices of a polygon shape of extent e (~ its radius) centred at (cx, cy)."""
    if shape == "square":
        radii, n, start = [0.82 * e * math.sqrt(2)], 4, math.pi / 4
    elif shape == "triangle":
        radii, n, start = [1.1 * e], 3, -math.pi / 2
    elif shape == "star":
        radii, n, start = [1.15 * e, 0.5 * e], 10, -math.pi / 2
    else:
        raise ValueError(shape)
    return [(cx + radii[k % len(radii)] * math.cos(start + angle + 2 * math.pi * k / n),
             cy + radii[k % len(radii)] * math.sin(start + angle + 2 * math.pi * k / n))
            for k in range(n)]


def _outline(obj: dict) -> np.ndarray:
    """(K, 2) points bounding the drawn object (image pixels)."""
    cx, cy, e = obj["cx"], obj["cy"], obj["extent"]
    if obj["shape"] == "circle":
        return np.array([[cx - e, cy - e], [cx + e, cy + e]])
    return np.array(_polygon(obj["shape"], cx, cy, e, obj["angle"]))


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of boxes a (..., 4) and b (..., 4), broadcast."""
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h

    def area(x):
        return (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])

    return inter / (area(a) + area(b) - inter)


def sample_scene(rng: np.random.Generator) -> dict:
    """Objects (sorted left to right), boxes (whole image, objects, distractors), background."""
    S = IMAGE_SIZE
    n = int(rng.integers(1, MAX_OBJECTS + 1))
    while True:  # rejection sampling of non-overlapping placements (a few tries at most)
        objects = []
        for _ in range(n):
            size = str(rng.choice(list(SIZES)))
            e = float(rng.uniform(*SIZES[size]))
            for _try in range(100):
                cx, cy = rng.uniform(e + 4, S - e - 4, size=2)
                if all(math.hypot(cx - o["cx"], cy - o["cy"]) >= e + o["extent"] + MIN_GAP
                       for o in objects):
                    break
            else:
                break
            colour = str(rng.choice(list(COLOURS)))
            rgb = [_clip255(c + d) for c, d in zip(COLOURS[colour], rng.integers(-12, 13, 3))]
            objects.append({"shape": str(rng.choice(SHAPES)), "colour": colour, "size": size,
                            "extent": e, "cx": float(cx), "cy": float(cy),
                            "angle": float(rng.uniform(-0.2, 0.2)), "rgb": rgb})
        if len(objects) == n:
            break
    objects.sort(key=lambda o: o["cx"])
    for o in objects:
        pts = _outline(o)
        o["box"] = [float(max(0.0, np.floor(pts[:, 0].min()) - BOX_MARGIN)),
                    float(max(0.0, np.floor(pts[:, 1].min()) - BOX_MARGIN)),
                    float(min(S, np.ceil(pts[:, 0].max()) + BOX_MARGIN)),
                    float(min(S, np.ceil(pts[:, 1].max()) + BOX_MARGIN))]
    boxes = [[0.0, 0.0, float(S), float(S)]] + [o["box"] for o in objects]
    boxes += distractor_boxes(rng, np.array([o["box"] for o in objects]))
    return {"objects": objects, "boxes": boxes, "background": _sample_background(rng)}


def distractor_boxes(rng: np.random.Generator, object_boxes: np.ndarray) -> list:
    """Up to N_DISTRACTORS random square-ish boxes that overlap no object much (IoU < 0.1)."""
    S, out = IMAGE_SIZE, []
    for _ in range(50):
        if len(out) == N_DISTRACTORS:
            break
        w, h = rng.uniform(22, 46, size=2)
        x0, y0 = rng.uniform(0, S - w), rng.uniform(0, S - h)
        box = np.floor([x0, y0, x0 + w, y0 + h])
        if (iou(box, object_boxes) < 0.1).all() and all(iou(box, np.array(b)) < 0.3 for b in out):
            out.append(box.tolist())
    return out


def _sample_background(rng: np.random.Generator) -> dict:
    grey = rng.uniform(150, 205)
    clutter = []
    for _ in range(int(rng.integers(3, 8))):
        tone = _clip255(grey + rng.choice([-1, 1]) * rng.uniform(35, 70))
        kind = "line" if rng.random() < 0.6 else "blob"
        clutter.append({"kind": kind, "tone": tone, "tint": rng.uniform(-8, 8, size=3).tolist(),
                        "xy": rng.uniform(0, IMAGE_SIZE, size=4).tolist(),
                        "width": float(rng.uniform(1, 2.5)), "radius": float(rng.uniform(2, 5))})
    return {"grey": grey, "tint": rng.uniform(-10, 10, size=3).tolist(),
            "gradient": rng.uniform(-18, 18, size=2).tolist(), "clutter": clutter,
            "noise_seed": int(rng.integers(2**31))}


def _clip255(v: float) -> int:
    return int(min(255.0, max(0.0, v)))


def render(scene: dict) -> np.ndarray:
    """The scene's pixels, (IMAGE_SIZE, IMAGE_SIZE, 3) uint8."""
    bg, k, S = scene["background"], SUPERSAMPLE, IMAGE_SIZE
    ramp = np.linspace(-1, 1, S * k, dtype=np.float32)
    base = bg["grey"] + bg["gradient"][0] * ramp[None, :] + bg["gradient"][1] * ramp[:, None]
    canvas = base[:, :, None] + np.asarray(bg["tint"], dtype=np.float32)
    img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for c in bg["clutter"]:
        rgb = tuple(_clip255(c["tone"] + t) for t in c["tint"])
        x0, y0, x1, y1 = (v * k for v in c["xy"])
        if c["kind"] == "line":
            draw.line([(x0, y0), (x1, y1)], fill=rgb, width=max(1, round(c["width"] * k)))
        else:
            r = c["radius"] * k
            draw.ellipse([x0 - r, y0 - r, x0 + r, y0 + r], fill=rgb)
    for o in scene["objects"]:
        rgb = tuple(o["rgb"])
        cx, cy, e = o["cx"] * k, o["cy"] * k, o["extent"] * k
        if o["shape"] == "circle":
            draw.ellipse([cx - e, cy - e, cx + e, cy + e], fill=rgb)
        else:
            draw.polygon(_polygon(o["shape"], cx, cy, e, o["angle"]), fill=rgb)
    small = np.asarray(img.reduce(k), dtype=np.float32)
    noise = np.random.default_rng(bg["noise_seed"]).standard_normal(small.shape, np.float32)
    return np.clip(np.rint(small + NOISE_STD * noise), 0, 255).astype(np.uint8)
