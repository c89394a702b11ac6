"""The demo's report: one Markdown and one HTML page with every measured number next to the
paper's published Flickr8K figures (different data: the shapes world is not Flickr8K, so the
columns are comparable in kind only), and the figures the demo drew.

`results` is the dict `vsa_np.demo.pipeline.run_demo` builds; every number in the report comes
from it, and `results.json` beside the report holds the same dict.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path

# Published figures (the paper's Table 1, Sec. 4.1): Flickr8K, BRNN (Eq. 8) and DeFrag (Eq. 7).
PAPER_RETRIEVAL = {
    "eq8": {"annotation": {"R@1": 16.5, "R@5": 40.6, "R@10": 54.2, "med_r": 7.6},
            "search": {"R@1": 11.8, "R@5": 32.1, "R@10": 44.7, "med_r": 12.4}},
    "eq7": {"annotation": {"R@1": 13.8, "R@5": 35.8, "R@10": 48.2, "med_r": 10.4},
            "search": {"R@1": 9.5, "R@5": 28.2, "R@10": 40.3, "med_r": 15.6}},
}
PAPER_GENERATION = {"BLEU-1": 0.579, "BLEU-2": 0.383, "BLEU-3": 0.245, "BLEU-4": 0.160,
                    "METEOR": 0.167, "CIDEr-D": 0.318}
# Table 3 (MSCOCO region snippets): region RNN vs full-frame RNN, BLEU-1..4.
PAPER_REGIONS = {"region": {"BLEU-1": 0.352, "BLEU-2": 0.230, "BLEU-3": 0.161, "BLEU-4": 0.148},
                 "full_frame": {"BLEU-1": 0.142, "BLEU-2": 0.060, "BLEU-3": 0.022,
                                "BLEU-4": 0.0}}
REGION_LABELS = {"nearest_neighbour": "nearest neighbour (copies a TRUE training phrase: an "
                                    "oracle-data baseline)"}
GEN_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")


def _meteor_note(generation: dict) -> list:
    """A line saying why METEOR is n/a and how to get it, when it is."""
    if any(m.get("METEOR") is not None for m in generation.values()):
        return []
    from vsa_np.metrics.meteor import how_to_get
    return ["", how_to_get() or "METEOR n/a: the METEOR jar failed when the demo ran."]


def _fmt(v, digits=3):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_fmt(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _pct(m):
    """A retrieval row's cells: recalls in % with one decimal, the median rank as is."""
    return [f"{m[d][k]:.1f}" if k != "med_r" else f"{m[d][k]:g}"
            for d in ("annotation", "search") for k in ("R@1", "R@5", "R@10", "med_r")]


def _retrieval_rows(res):
    rows = []
    for kind, label in (("eq8", "BRNN, Eq. 8"), ("eq7", "DeFrag score, Eq. 7")):
        m = res["retrieval"].get(kind)
        if m:
            rows.append([f"vsa-np, shapes world ({label})"] + _pct(m))
    if res["retrieval"].get("baseline"):
        chosen = res["retrieval"]["baseline"].get("chosen", "ridge regression")
        rows.append([f"linear baseline from bags of words, chosen on val ({chosen}; same "
                     f"split)"] + _pct(res["retrieval"]["baseline"]))
    for kind, label in (("eq8", "paper, Flickr8K (BRNN, Eq. 8)"),
                        ("eq7", "paper, Flickr8K (DeFrag, Eq. 7)")):
        p = PAPER_RETRIEVAL[kind]
        rows.append([label] + _pct(p))
    return rows


def _difference_note(res) -> list:
    """The Eq. 8 model's R@10 minus the baseline's, with the bootstrap interval (when measured)."""
    d = res["retrieval"].get("difference")
    if not d:
        return []
    parts = [f"{k} {d[k]['diff']:+.1f} points ({d['level']:g}% interval {d[k]['low']:+.1f} to "
             f"{d[k]['high']:+.1f})" for k in ("annotation", "search")]
    return [f"The Eq. 8 model's R@10 minus the linear baseline's, over the {d['n_images']} "
            f"test images drawn with replacement {d['n_boot']} times: {'; '.join(parts)}. An "
            "interval that holds 0 means this split cannot tell the two apart.", ""]


def _diversity_table(gen: dict) -> str:
    rows = []
    for key, label in (("model", "vsa-np multimodal RNN"),
                       ("nearest_neighbour", "nearest-neighbour baseline")):
        d = gen.get(key, {}).get("diversity")
        if d:
            rows.append([label] + [f"{100 * d[k]:.0f}%"
                                   for k in ("distinct", "most_common", "in_training")])
    return _table(["captions", "distinct", "most frequent", "in the training set"], rows)


def _objects_table(gen: dict) -> str:
    """The captions checked against the pictures' objects, beside BLEU-4, CIDEr-D and the share
    of distinct captions of the same captioners."""
    rows = []
    for key, label in (("model", "vsa-np multimodal RNN"),
                       ("nearest_neighbour", "nearest-neighbour baseline")):
        m = gen.get(key, {})
        o = m.get("objects")
        if o:
            rows.append([label] + [f"{100 * o[k]:.0f}%" for k in
                                   ("precision", "recall", "chair_s", "chair_i", "repeats")]
                        + [m.get("BLEU-4"), m.get("CIDEr-D"),
                           f"{100 * m.get('diversity', {}).get('distinct', 0):.0f}%"])
    return _table(["captions", "object precision", "object recall", "CHAIR_s", "CHAIR_i",
                   "repeat an object", "BLEU-4", "CIDEr-D", "distinct"], rows)


OBJECTS_NOTE = (
    "Are the captions true? Each (colour, shape) object a caption names is checked against the "
    "objects of its picture: precision (named objects that are there), recall (the picture's "
    "objects that are named), CHAIR_s (captions naming an object that is not there), CHAIR_i "
    "(mentions that are not there; Rohrbach et al. 2018) and the captions that name one object "
    "twice. BLEU and CIDEr count n-grams shared with the references: \"there is a yellow star\" "
    "shares all but one word with \"there is a yellow triangle\", so a fluent caption of the "
    "wrong objects still scores well, and a model can beat the baseline on n-grams while "
    "naming fewer true objects. Right and wrong objects are marked on the captions page.")


def _generator_note(cfg: dict) -> str:
    """Which recurrence the demo's generator used, and why it is not the paper's."""
    cell = cfg.get("gen_cell", "rnn")
    every = cfg.get("gen_image_every_step", False)
    if cell == "rnn" and not every:
        return "The generator: Eq. 13-15 as the paper writes them (a ReLU RNN, b_v at t = 1)."
    return (f"The generator: Eq. 13 and 15 as the paper writes them, with "
            f"{'an LSTM (Vinyals et al., Sec. 4.2)' if cell == 'lstm' else 'the ReLU RNN'} in "
            f"Eq. 14's place{', reading b_v at every step' if every else ''}. A caption of the "
            "shapes world names up to four objects, the last one 15 words after t = 1: with "
            "the paper's RNN and b_v at t = 1 only, the image and what has been named are lost "
            "on the way, and the captions name objects that are not in the picture "
            "(docs/benchmarks.md, issue 13). `vsa-np train-gen --cell rnn "
            "--no-image-every-step` is the paper's model.")


def _whole_image_note(res) -> list:
    """The decoding with the whole picture (region 0) among the candidates, as in the paper."""
    w = res["alignment"].get("with_whole_image")
    if not w:
        return []
    return [f"The words may take the boxes only. With the whole picture among the candidates "
            f"too (the paper's 20 regions), the MRF puts {w['on_whole_image']:.1f}% of the "
            f"object words on it and {w['mrf']:.1f}% on their box (arg-max {w['argmax']:.1f}%, "
            f"beta {w['beta']:g}): the whole picture contains every object, so a feature that "
            "says what a picture contains matches every object word there too, and Eq. 8 has "
            "no reason to prefer the box (`vsa_np/alignment/alignment_eval.py`).", ""]


def _features_section(res: dict) -> list:
    """What a linear read-out of the world's features finds (ridge regression, fitted on the
    training images, scored on the test images): the whole-image feature the generator gets
    (Eq. 13) and the region features the alignment model gets (Eq. 1)."""
    f = res.get("features")
    if not f:
        return []
    cnn, p = f["cnn"], f["probe"]
    if cnn.get("kind") == "trained":
        what = ("a CNN trained from scratch on labelled pictures of the world's own (shape, "
                "colour and size of object crops; which objects a whole picture contains; never "
                f"a caption), {cnn.get('pictures', '?')} pictures, {cnn.get('epochs', '?')} "
                f"epochs, {cnn.get('seconds', '?')} s" if "from" not in cnn
                else f"a trained CNN reused from `{cnn['from']}`")
    else:
        what = "a fixed random CNN (never trained)"
    pct = lambda v: f"{100 * v:.0f}%"  # noqa: E731
    rows = [["whole image: is this shape in it? (4 labels)", pct(p["shape"]["mean"]),
             pct(p["shape"]["min"]), pct(p["shape"]["majority"])],
            ["whole image: is this (colour, shape) object in it? (20 labels)",
             pct(p["object"]["mean"]), pct(p["object"]["min"]), pct(p["object"]["majority"])]]
    rows += [[f"region: its object's {k}", pct(v), "", ""] for k, v in p["regions"].items()]
    return ["## The image features (Sec. 3.1.1)", "",
            f"The features of every region and of every whole image come from {what}. A "
            "linear probe (ridge regression on the centred features, fitted on the training "
            "images, scored on the test images) measures what they say about the pictures; the "
            "paper starts from a trained CNN because a caption can only be as true as this.", "",
            _table(["probe", "accuracy (mean)", "worst label", "majority-class rate"], rows), ""]


def to_markdown(res: dict) -> str:
    out = ["# vsa-np demo report", "",
           f"Data: the shapes world (`{res['data']}`), {res['data_info']}. The paper's figures "
           "are for Flickr8K: **different data**, shown for scale, not for comparison.", "",
           f"Total time: {res['seconds']['total']:.0f} s "
           f"({', '.join(f'{k} {v:.0f} s' for k, v in res['seconds'].items() if k != 'total')}).",
           ""] + _features_section(res) + [
           "## Image-sentence retrieval (Sec. 3.1, test split)", "",
           "Recall@K in %, med r = median rank (1-based).", "",
           _table(["model", "ann. R@1", "R@5", "R@10", "med r", "search R@1", "R@5", "R@10",
                   "med r"], _retrieval_rows(res)), ""] + _difference_note(res) + [
           "![loss curves](loss_curves.png)", "",
           "## Alignment of words to regions (Sec. 3.1.4, Eq. 10-12)", "",
           "Accuracy on the test words that name an object, against the shapes world's "
           "ground truth (`alignments.json`): is the word on its object's box? Beta chosen on "
           "the validation split.", "",
           _table(["decoder", "beta", "accuracy"],
                  [["arg-max per word (beta = 0)", "0", f"{res['alignment']['argmax']:.1f}%"],
                   ["MRF (Viterbi)", f"{res['alignment']['beta']:g}",
                    f"{res['alignment']['mrf']:.1f}%"]]), ""] + _whole_image_note(res)
    for fig in res.get("alignment_figures", []):
        out.append(f"![alignment]({fig})")
    out += ["", "## Caption generation (Sec. 3.2, test split, beam search)", "",
            _generator_note(res.get("config", {})), "",
            _table(["model"] + list(GEN_KEYS),
                   [["vsa-np multimodal RNN"] + [res["generation"]["model"].get(k)
                                                  for k in GEN_KEYS],
                    ["nearest-neighbour baseline (Sec. 4.2)"]
                    + [res["generation"]["nearest_neighbour"].get(k) for k in GEN_KEYS],
                    ["paper, Flickr8K (VGG-16)"] + [PAPER_GENERATION.get(k) for k in GEN_KEYS]]),
            *_meteor_note(res["generation"]),
            "", f"Test perplexity of the model (per word, END included): "
            f"{_fmt(res['generation']['model'].get('perplexity'), 2)}.", "",
            "What the captions say, not only how they score: the distinct captions as a share "
            "of the test images (a model that ignores the image writes one caption for all), "
            "the share of images given the most frequent caption, and the share of "
            "captions copied verbatim from the training sentences (the paper: 60% at beam 7).",
            "", _diversity_table(res["generation"]), ""]
    if any("objects" in m for m in res["generation"].values()):
        out += [OBJECTS_NOTE, "", _objects_table(res["generation"]), ""]
    out += ["Captions of the first test images: [captions.html](captions.html).", "",
            "## Region-level generation (Sec. 4.3, Table 3)", "",
            "BLEU on the ground-truth region phrases of the test images.", "",
            _table(["model", "BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4"],
                   [[f"vsa-np {REGION_LABELS.get(name, name)}"]
                    + [m.get(k) for k in ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4")]
                    for name, m in res["regions"].items()]
                   + [[f"paper, MSCOCO ({name})"] + list(PAPER_REGIONS[key].values())
                      for name, key in (("region RNN", "region"),
                                        ("full-frame RNN", "full_frame"))]), "",
            "Reproduce: `vsa-np demo --out DIR` (this report); the steps one by one: "
            "`vsa-np make-shapes`, `vsa-np train-align`, `vsa-np eval-align`, `vsa-np align`, "
            "`vsa-np train-gen`, `vsa-np eval-gen`, `vsa-np caption`.", ""]
    return "\n".join(out)


def _md_to_html(md: str) -> str:
    """A tiny Markdown subset (headings, tables, images, links, paragraphs) -> HTML."""

    body, table = [], []

    def flush_table():
        if table:
            rows = [r for r in table if not set(r.replace("|", "").strip()) <= {"-"}]
            cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
            h = "".join(f"<th>{html.escape(c)}</th>" for c in cells[0])
            b = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                        for r in cells[1:])
            body.append(f"<table><tr>{h}</tr>{b}</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("#"):
            n = len(line) - len(line.lstrip("#"))
            body.append(f"<h{n}>{html.escape(line[n:].strip())}</h{n}>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1:-1]
            body.append(f'<p><img src="{html.escape(src)}" style="max-width:100%"></p>')
        elif line.strip():
            text = html.escape(line)
            text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
            text = re.sub(r"`(.+?)`", r"<code>\1</code>", text)
            text = re.sub(r"\[(.+?)\]\((.+?)\)", r'<a href="\2">\1</a>', text)
            body.append(f"<p>{text}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
             "text-align:right}td:first-child,th:first-child{text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>vsa-np demo</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def write_report(out_dir, res: dict) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    md = to_markdown(res)
    (out_dir / "report.md").write_text(md, encoding="utf-8")
    (out_dir / "report.html").write_text(_md_to_html(md), encoding="utf-8")
    (out_dir / "results.json").write_text(json.dumps(res, indent=1, default=float),
                                          encoding="utf-8")
    return out_dir / "report.md", out_dir / "report.html"
