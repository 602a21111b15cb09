"""The small-scale study's pipeline end to end (study.py --quick: a few steps, one seed)."""
import json
import re

import study


def _final(run_dir):
    return json.loads((run_dir / "result.json").read_text())["val_loss"]


def test_quick_study_writes_tables_and_figures_from_its_runs(tmp_path, builtin_data_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)  # study.py works in data/ and out/ of the current directory
    (tmp_path / "data").symlink_to(builtin_data_dir)
    out, results = tmp_path / "runs", tmp_path / "results"
    study.main(["--quick", "--out", str(out), "--results", str(results)])

    numbers = json.loads((results / "results.json").read_text())
    K, n = numbers["K"], numbers["n"]
    assert K == 4 and 1 <= n < K
    seed_dir = out / "seed0"
    expected = {
        "reference": _final(seed_dir / "reference"),
        "inheritune": _final(seed_dir / "grow" / f"n{n:02d}"),
        "scratch_T": _final(seed_dir / f"scratch{n}_T"),
        "scratch_2T": _final(seed_dir / f"scratch{n}_2T"),
    }
    for group, loss in expected.items():
        assert numbers["final_val_loss"][group] == [loss]
    # the paper's defaults: blocks + wte inherited; the scratch controls train on the inherited model's batch
    # order, which is not the reference's
    configs = {g: json.loads((seed_dir / d / "config.json").read_text()) for g, d in
               [("reference", "reference"), ("inheritune", f"grow/n{n:02d}"), ("scratch_T", f"scratch{n}_T"),
                ("scratch_2T", f"scratch{n}_2T")]}
    assert configs["inheritune"]["inherit_embeddings"] == "wte"
    assert configs["reference"]["data_seed"] == 0
    assert configs["inheritune"]["data_seed"] == configs["scratch_T"]["data_seed"] == configs["scratch_2T"]["data_seed"] == 1
    assert all(c["seed"] == 0 for c in configs.values())
    # the 2T scratch run really trained twice as long
    assert json.loads((seed_dir / f"scratch{n}_2T" / "result.json").read_text())["step"] == 2 * numbers["T"]

    md = (results / "study.md").read_text()
    for loss in expected.values():
        assert f"{loss:.4f}" in md
    ablation = numbers["final_val_loss"]["ablation"]
    assert ablation["scratch"] == _final(seed_dir / "scratch3_T")  # the presets' depth, 2K/3 = 3
    for preset in ("attn_ln", "mlp_ln", "attn_mlp_noln", "full"):
        assert re.search(rf"Inheritune \({preset}\).*{ablation[preset]:.4f}", md), preset
    for fig in ("curves.png", "grow.png", "ablation.png"):
        data = (results / fig).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
