"""`vsa-np eval-align CKPT DATA [--split test] [--json]`: image-sentence retrieval with a
trained alignment model, as in the paper's Table 1 (R@1, R@5, R@10 in percent and the median
rank, for image annotation and image search), on every image of the split with all its
sentences, beside the linear baseline (ridge or CCA from bags of words) fitted on the training split
(`vsa_np.alignment.baseline`) on the same images and sentences. On a dataset with ground-truth
alignments (the shapes world's alignments.json) and a region model, also the alignment accuracy on object words: naive arg-max vs. the MRF with beta
chosen on val (see `vsa_np.alignment.alignment_eval`)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path



def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("ckpt", metavar="CKPT", help="run folder (uses its best checkpoint) or a "
                                                "checkpoint .npz")
    p.add_argument("data", metavar="DATA", help="dataset folder")
    p.add_argument("--split", default="test", choices=["train", "val", "test"],
                   help="split to rank (default test)")
    p.add_argument("--score", choices=["eq8", "eq7"], default=None,
                   help="score to rank by (default: the one the model was trained with)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the linear baseline")
    p.add_argument("--no-alignment", action="store_true",
                   help="skip the alignment accuracy even when alignments.json is present")
    p.add_argument("--json", action="store_true",
                   help='print {"annotation": {R@1, R@5, R@10, med_r}, "search": {...}, '
                        '"baseline": {...}, ...}')


def run(args) -> int:
    from vsa_np.alignment.alignment_eval import alignment_report
    from vsa_np.alignment.baseline import (LinearBaseline, baseline_report, compare_line,
                                           retrieval_table)
    from vsa_np.alignment.evaluate import score_metrics, split_scores
    from vsa_np.alignment.retrieval import recall_difference, retrieval_ranks
    from vsa_np.trained import check_data, data_report, load_alignment
    from vsa_np.data import load_dataset
    from vsa_np.data.shapes import load_alignments

    model, vocab, meta = load_alignment(args.ckpt)
    regions = bool(meta.get("config", {}).get("regions", False))
    ds = load_dataset(args.data, regions=True if regions else False)
    check_data(model, meta, ds, args.ckpt)
    S, sent_to_image = split_scores(model, ds, vocab, args.split, regions, args.score)
    out = score_metrics(S, sent_to_image)
    out = {"split": args.split, "n_images": len(ds.split_indices(args.split)),
           "n_sentences": len(ds.sentences_of(args.split)[0]),
           "score": args.score or model.arch["score"], "regions": regions, **out,
           "data": data_report(vocab, meta, ds, args.split)}
    if not args.no_baseline:
        base = LinearBaseline(ds, threshold=vocab.threshold or 5)
        out["baseline"] = baseline_report(ds, args.split, base=base)
        base_S, base_s2i = base.scores(args.split)       # the same sentences, in the same order
        assert (base_s2i == sent_to_image).all()
        out["difference"] = recall_difference(retrieval_ranks(S, sent_to_image),
                                              retrieval_ranks(base_S, sent_to_image),
                                              sent_to_image)
    gt = Path(args.data) / "alignments.json"
    if regions and gt.is_file() and not args.no_alignment:
        out["alignment"] = alignment_report(model, ds, vocab, load_alignments(gt, ds),
                                            where=str(gt))
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print(f"{args.split}: {out['n_images']} images, {out['n_sentences']} sentences, score "
          f"{out['score']}, {'regions' if regions else 'whole images'}; "
          f"{out['data']['unknown_words_percent']:.1f}% of its words unknown to the model")
    print(retrieval_table({"model": out, "linear": out.get("baseline")}))
    if "baseline" in out:
        print(f"linear baseline: {out['baseline']['chosen']} (the best of "
              f"{out['baseline']['tried']} fitted on train, chosen on val)")
        print(compare_line(out, out["baseline"], out["difference"]))
    if "alignment" in out:
        a = out["alignment"]
        print(f"alignment accuracy on {a['test']['n_words']} object words of test: arg-max "
              f"{a['test']['argmax']:.1f}%, MRF {a['test']['mrf']:.1f}% (beta {a['beta']:g}, "
              f"chosen on val), over the boxes")
        w = a["with_whole_image"]
        print(f"  with the whole picture among the candidates: MRF {w['mrf']:.1f}% (arg-max "
              f"{w['argmax']:.1f}%, beta {w['beta']:g}); {w['on_whole_image']:.1f}% of the "
              "object words on the whole picture")
    return 0
