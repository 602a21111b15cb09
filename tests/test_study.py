"""The small-scale study: its pipeline end to end (study.py --quick), its statistics, and its presets' regime."""
import json
import math

import pytest

import study
from configurator import load_config
from model import GPT, GPTConfig
from prepare_openwebtext import read_meta
from train import DEFAULTS


def _final(run_dir):
    return json.loads((run_dir / "result.json").read_text())["val_loss"]


def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())


def test_quick_study_writes_tables_and_figures_from_its_runs(tmp_path, builtin_bpe_data_dir, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)  # study.py works in data/ and out/ of the current directory
    (tmp_path / "data").symlink_to(builtin_bpe_data_dir)
    out, results = tmp_path / "runs", tmp_path / "results"
    study.main(["--quick", "--out", str(out), "--results", str(results)])

    numbers = json.loads((results / "results.json").read_text())
    K, n, n_abl, T = numbers["K"], numbers["n"], numbers["n_ablation"], numbers["T"]
    assert (K, n, n_abl) == (4, 2, 3)  # grow from K/2; ablation at 2K/3
    seed_dir = out / "seed0"
    dirs = {"reference": seed_dir / "reference", "inheritune": seed_dir / "grow" / "n02",
            "inheritune_wpe_lnf": seed_dir / "inherit2_full_wte_wpe_ln_f", "scratch_T": seed_dir / "scratch2_T",
            "scratch_2T": seed_dir / "scratch2_2T", "ablate_full": seed_dir / "grow" / "n03",
            "ablate_attn_ln": seed_dir / "inherit3_attn_ln_wte", "ablate_scratch": seed_dir / "scratch3_T"}
    md = (results / "study.md").read_text()
    for row, run_dir in dirs.items():
        assert numbers["final_val_loss"][row] == [_final(run_dir)], row
        assert f"{_final(run_dir):.4f}" in md
    assert json.loads((dirs["scratch_2T"] / "result.json").read_text())["step"] == 2 * T
    # the paper's inheritance (blocks + wte) by default, wpe and ln_f only in their own row
    assert _config(dirs["inheritune"])["inherit_embeddings"] == "wte"
    assert _config(dirs["inheritune_wpe_lnf"])["inherit_embeddings"] == "wte,wpe,ln_f"
    # scratch controls train exactly like the inherited runs, but for the initialisation
    origin = ("init_from", "inherit_from", "inherit_parts", "inherit_layers", "inherit_embeddings", "out_dir")
    same = {k: v for k, v in _config(dirs["inheritune"]).items() if k not in origin + ("git_commit", "num_params")}
    assert {k: _config(dirs["scratch_T"])[k] for k in same} == same
    assert _config(dirs["reference"])["seed"] == 0 and _config(dirs["scratch_T"])["init_from"] == "scratch"
    # the compared models train on another batch order than their reference: the reference's data_seed + 1
    assert _config(dirs["reference"])["data_seed"] == 0 and _config(dirs["inheritune"])["data_seed"] == 1
    assert _config(dirs["scratch_2T"])["data_seed"] == 1
    assert [c["verdict"] for c in numbers["claims"]] == ["inconclusive (one seed)"] * len(study.CLAIMS)
    assert "first_collapsed_layer" in json.loads((results / "attention.json").read_text())
    for fig in ("curves.png", "grow.png", "ablation.png", "attention.png"):
        data = (results / fig).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, fig


def test_paired_differences_and_verdicts():
    d = study.paired([3.0, 4.0, 5.0], [1.0, 1.0, 1.0])  # differences 2, 3, 4
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2 df) x std 1 / sqrt 3
    assert (d["diffs"], d["mean"], d["std"]) == ([2.0, 3.0, 4.0], 3.0, 1.0)
    assert (d["lo"], d["hi"]) == pytest.approx((3 - half, 3 + half))
    assert study.verdict(d, "beats") == "does not hold"  # interval (0.52, 5.48) lies above 0
    assert study.verdict(study.paired([1.0, 1.1, 1.2], [2.0, 2.0, 2.0]), "beats") == "holds"
    assert study.verdict(study.paired([1.0, 3.0, 1.0], [2.0, 2.0, 2.0]), "beats") == "inconclusive"
    assert study.verdict(study.paired([2.01, 2.005, 2.012], [2.0, 2.0, 2.0]), "matches") == "holds"  # worse, within the margin
    assert study.verdict(study.paired([2.0, 2.005, 1.995], [2.0, 2.0, 2.0]), "equal") == "holds"
    assert study.verdict(study.paired([2.2, 2.3, 2.25], [2.0, 2.0, 2.0]), "equal") == "does not hold"
    assert study.verdict(study.paired([1.0], [2.0]), "beats") == "inconclusive (one seed)"
    # "matches" allows MATCH_MARGIN worse: an interval straddling the margin is inconclusive, one above it fails
    assert study.verdict(study.paired([2.018, 2.02, 2.022], [2.0, 2.0, 2.0]), "matches") == "inconclusive"
    assert study.verdict(study.paired([2.05, 2.06, 2.055], [2.0, 2.0, 2.0]), "matches") == "does not hold"
    assert study.verdict(study.paired([2.0, 2.03, 2.01], [2.0, 2.0, 2.0]), "equal") == "inconclusive"


def test_plateau_is_the_relative_gain_of_the_last_fifth(tmp_path):
    losses = {0: 7.0, 40: 4.0, 70: 3.2, 90: 3.0, 100: 2.97}
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"step": s, "val_loss": v}) + "\n" for s, v in losses.items())
                                        + json.dumps({"step": 90, "train_loss": 1.0}) + "\n")
    assert study.plateau(tmp_path) == pytest.approx(0.23 / 3.2)  # from the last evaluation at or before step 80


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_presets_are_in_the_papers_regime(preset, builtin_bpe_data_dir):
    cfg = load_config(DEFAULTS, [str(study.HERE / study.PRESETS[preset])])
    meta = read_meta(builtin_bpe_data_dir, cfg["dataset"])
    model = GPT(GPTConfig(**{k: cfg[k] for k in ("n_layer", "n_head", "n_embd", "block_size", "bias")},
                          vocab_size=meta["vocab_size"]))
    total = sum(p.numel() for p in model.parameters())
    blocks = sum(p.numel() for p in model.transformer.h.parameters())
    tokens = cfg["max_iters"] * cfg["tokens_per_step"]
    assert cfg["n_layer"] >= 8 and blocks / total >= 0.75
    assert tokens / total >= 10 and tokens / meta["tokens"]["train"] <= 8


def test_gpu_preset_trains_at_its_size_on_cpu(builtin_bpe_data_dir, tmp_path, single_process, one_thread):
    import train
    run = tmp_path / "gpu_ref"
    train.main([str(study.HERE / study.PRESETS["gpu"]), f"--data_dir={builtin_bpe_data_dir}", f"--out_dir={run}",
                "--device=cpu", "--batch_size=2", "--tokens_per_step=512", "--max_iters=2", "--eval_interval=2",
                "--eval_tokens=512", "--log_interval=1"])
    config = _config(run)
    assert (config["n_layer"], config["n_embd"], config["block_size"], config["vocab_size"]) == (12, 80, 256, 1024)
    assert math.isfinite(_final(run))
