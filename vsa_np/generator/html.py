"""An HTML page to look at captions: each image with its caption(s) and log probabilities (the
paper's released code writes one too), optionally beside the reference sentences. One
self-contained file; images are linked by paths relative to the page."""
from __future__ import annotations

import html
import os
from pathlib import Path

STYLE = """body { font-family: sans-serif; margin: 1em; }
.item { display: inline-block; vertical-align: top; width: 300px; margin: 0 1em 1.5em 0; }
.item img { max-width: 300px; max-height: 300px; display: block; }
.cap { font-size: 15px; margin-top: 4px; }
.lp { color: #777; font-size: 12px; }
.ref { color: #555; font-size: 12px; }
.ok { color: #1a7f37; } .bad { color: #c62828; text-decoration: line-through; }"""


def _src(image, page: Path) -> str | None:
    if image is None:
        return None
    image = Path(image).resolve()       # a relative path is relative to the working folder
    try:
        return Path(os.path.relpath(image, page.parent.resolve())).as_posix()
    except ValueError:                  # another drive (Windows): no relative path exists
        return image.as_uri()


def write_caption_page(path, items, title: str = "vsa-np captions") -> Path:
    """items: dicts with `name`, `image` (a path or None), `captions` (list of strings, best
    first), `logprobs` (same length) and optionally `references` (list of strings) and `marks`
    (per caption, the objects it names as (text, right) pairs: shown green when the picture has
    it, red and struck through when it does not)."""
    path = Path(path)
    parts = [f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}"
             f"</title>\n<style>\n{STYLE}\n</style></head><body>\n<h1>{html.escape(title)}</h1>"]
    for it in items:
        src = _src(it.get("image"), path)
        parts.append("<div class='item'>")
        if src is not None:
            parts.append(f"<img src='{html.escape(src, quote=True)}' "
                         f"alt='{html.escape(str(it['name']), quote=True)}'>")
        parts.append(f"<div class='lp'>{html.escape(str(it['name']))}</div>")
        marks = it.get("marks") or [None] * len(it["captions"])
        for cap, lp, mk in zip(it["captions"], it["logprobs"], marks):
            parts.append(f"<div class='cap'>{html.escape(cap)} <span class='lp'>"
                         f"(log p = {lp:.2f})</span></div>")
            if mk is not None:
                spans = " ".join(f"<span class='{'ok' if ok else 'bad'}'>"
                                 f"{'&#10003;' if ok else '&#10007;'} {html.escape(t)}</span>"
                                 for t, ok in mk)
                parts.append(f"<div class='lp'>objects named: {spans or 'none'}</div>")
        for ref in it.get("references", []):
            parts.append(f"<div class='ref'>ref: {html.escape(ref)}</div>")
        parts.append("</div>")
    parts.append("</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text("\n".join(parts), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)     # left only when writing or replacing failed
    return path
