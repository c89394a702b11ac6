"""`vsa-np demo` end to end at a tiny size: every step runs and the report holds every number.
(The quality of a real run is reported in the issue notes; this checks the plumbing.)"""
import json

from vsa_np.demo import run_demo
from vsa_np.demo.report import GEN_KEYS


def test_demo_tiny_end_to_end(tmp_path):
    """The default path: a CNN trained here (on 12 pictures, one epoch), the LSTM generator."""
    res = run_demo(tmp_path, quiet=True, log=lambda *a: None, images=40, feature_dim=128,
                   cnn_pictures=12, cnn_epochs=1,
                   align_epochs=2, align_embed=32, align_hidden=32, align_word_dim=16,
                   compare_eq7=True, gen_epochs=2, gen_hidden=32, gen_word_dim=16,
                   region_gen_hidden=32, region_gen_word_dim=16,
                   region_gen_epochs=1, beam=2, figures=1, caption_images=3, meteor=False)
    for name in ("report.md", "report.html", "results.json", "loss_curves.png", "captions.html",
                 "alignment_0.png"):
        assert (tmp_path / name).stat().st_size > 0, name
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["retrieval"]) == {"eq8", "eq7", "baseline", "difference"}
    for kind in ("eq8", "eq7"):
        for d in ("annotation", "search"):
            m = saved["retrieval"][kind][d]
            assert 0 <= m["R@1"] <= m["R@5"] <= m["R@10"] <= 100 and m["med_r"] >= 1
    assert 0 <= saved["alignment"]["argmax"] <= 100 and 0 <= saved["alignment"]["mrf"] <= 100
    assert set(GEN_KEYS) <= set(saved["generation"]["model"])
    assert set(saved["regions"]) >= {"region RNN", "full-frame RNN"}
    md = (tmp_path / "report.md").read_text()
    # Every measured retrieval figure appears in the report, next to the paper's.
    assert f"| {saved['retrieval']['eq8']['annotation']['R@5']:.1f} |" in md
    assert "16.5" in md and "different data" in md
    diff = saved["retrieval"]["difference"]          # Eq. 8 minus the baseline, with its interval
    for d in ("annotation", "search"):
        model, base = (saved["retrieval"][k][d]["R@10"] for k in ("eq8", "baseline"))
        assert abs(diff[d]["diff"] - (model - base)) < 1e-9
        assert f"{d} {diff[d]['diff']:+.1f} points" in md
    assert res["seconds"]["total"] > 0
    assert saved["features"]["cnn"]["kind"] == "trained" and (tmp_path / "data" / "cnn.npz").is_file()
    assert saved["config"]["gen_cell"] == "lstm"
    assert json.loads((tmp_path / "gen" / "best.json").read_text())["arch"]["cell"] == "lstm"
    w = saved["alignment"]["with_whole_image"]
    assert 0 <= w["mrf"] <= 100 and 0 <= w["on_whole_image"] <= 100
