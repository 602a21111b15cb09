"""The small-scale study: its pipeline end to end (study.py --quick), its statistics, and its presets' regime."""
import json
import math
import os
import re
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import grow
import study
import study_plan
import study_report
from helpers import one_line_exit
from configurator import load_config
from model import GPT, GPTConfig
from data import read_meta
from run_records import read_log
from settings import DEFAULTS, target_data_seed


def _final(run_dir):
    return json.loads((run_dir / "result.json").read_text())["val_loss"]


def _config(run_dir):
    return json.loads((run_dir / "config.json").read_text())


@pytest.fixture(scope="module")
def quick_study(tmp_path_factory, builtin_bpe_data_dir, one_thread):
    """study.py --quick's claims suite (seed 0, one run at a time), trained once for the tests that read it or build
    on it (another suite on its runs, a second part); first/ keeps its report and records as that suite left them."""
    root = tmp_path_factory.mktemp("quick_study")
    (root / "data").symlink_to(builtin_bpe_data_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # study.py works in data/ and out/ of the current directory
        study.main(["--quick", "--out", str(root / "runs"), "--results", str(root / "results")])
    shutil.copytree(root / "results", root / "first")
    return SimpleNamespace(root=root, out=root / "runs", results=root / "results", first=root / "first")


@pytest.mark.slow
def test_quick_study_writes_tables_and_figures_from_its_runs(quick_study, monkeypatch):
    monkeypatch.chdir(quick_study.root)
    out, results = quick_study.out, quick_study.results
    numbers = json.loads((results / "results.json").read_text())
    K, T = numbers["K"], numbers["T"]
    assert (K, numbers["depths"], numbers["n_ablation"]) == (4, [2], 2)  # the CPU plan: K/2 only
    seed_dir = out / "seed0"
    dirs = {"reference": seed_dir / "reference", "inheritune_n2": seed_dir / "grow" / "n02",
            "scratch_T_n2": seed_dir / "scratch2_T", "scratch_2T_n2": seed_dir / "scratch2_2T",
            "ablate_attn_ln_n2": seed_dir / "inherit2_attn_ln"}
    md = (results / "study.md").read_text()
    assert study_report.render(results / "results.json") == md  # the report is its JSON, rendered
    for row, run_dir in dirs.items():
        assert numbers["final_val_loss"][row] == [_final(run_dir)], row
        assert f"{_final(run_dir):.4f}" in md
        assert numbers["clip_rate"][row] == json.loads((run_dir / "result.json").read_text())["clip_rate"]
    assert json.loads((dirs["scratch_2T_n2"] / "result.json").read_text())["step"] == 2 * T
    assert _config(dirs["ablate_attn_ln_n2"])["inherit_parts"] == "attn_ln"
    assert _config(dirs["inheritune_n2"])["inherit_embeddings"] == "wte"  # the paper's inheritance: blocks + wte
    # scratch controls train exactly like the inherited runs, but for the initialisation
    origin = ("init_from", "inherit_from", "inherit_parts", "inherit_layers", "inherit_embeddings", "out_dir")
    same = {k: v for k, v in _config(dirs["inheritune_n2"]).items() if k not in origin + ("git_commit", "num_params")}
    assert {k: _config(dirs["scratch_T_n2"])[k] for k in same} == same
    assert _config(dirs["reference"])["seed"] == 0 and _config(dirs["scratch_T_n2"])["init_from"] == "scratch"
    # the seed's own batch orders, recorded in every run's config.json
    orders = study.data_orders(0)
    assert numbers["data_orders"]["0"] == orders
    assert _config(dirs["reference"])["data_seed"] == orders["reference"]
    assert {_config(d)["data_seed"] for row, d in dirs.items() if row != "reference"} == {orders["targets"]}
    # (a) from the grow loop's outcome; the paired claims at the fixed depths, one seed: inconclusive
    grow = json.loads((seed_dir / "grow" / "results.json").read_text())
    assert numbers["grow"]["0"]["stopped_at"] == grow["stopped_at"]
    assert numbers["grow_verdict"].startswith("holds" if grow["stopped_at"] else "does not hold")
    assert [c["verdict"] for c in numbers["claims"]] == ["inconclusive (one seed)"] * len(study_report.claims(K, "cpu"))
    # the seed's run records are kept beside the report, no checkpoints; the attention analysis among them
    kept = results / "runs" / "seed0"
    assert json.loads((kept / "claims.json").read_text())["scratch_T_n2"] == "scratch2_T"
    for row, run_dir in dirs.items():
        for name in ("config.json", "result.json", "log.jsonl"):
            assert (kept / run_dir.relative_to(seed_dir) / name).read_bytes() == (run_dir / name).read_bytes()
    assert not list(kept.rglob("*.pt")) and (kept / "grow" / "results.json").exists()
    assert json.loads((kept / "inherit2_attn_ln" / "manifest.json").read_text())  # from its checkpoint
    assert "first_collapsed_layer" in json.loads((kept / "reference" / "attention.json").read_text())
    assert "](runs/seed0/reference/attention.png)" in md
    for fig in ("curves.png", "grow.png", "ablation.png", "runs/seed0/reference/attention.png"):
        data = (results / fig).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, fig

    # the layers suite on the same runs: it reuses the references, grow loops, first-n and scratch
    study.main(["--suite", "layers", "--quick", "--jobs", "2", "--out", str(out), "--results", str(results)])
    layers = json.loads((results / "layers.json").read_text())
    teacher = str(seed_dir / "reference" / "ckpt.pt")
    runs = {"first_n2": seed_dir / "grow" / "n02", "scratch_T_n2": seed_dir / "scratch2_T",
            **{f"{p}_n2": seed_dir / f"select2_{p}" for p in ("spread", "influence", "rank")},
            "distill_scratch_n2": seed_dir / "distill2_scratch", "distill_inherit_n2": seed_dir / "distill2_inherit"}
    for row, run_dir in runs.items():
        assert layers["final_val_loss"][row] == [_final(run_dir)], row
        assert _config(run_dir)["data_seed"] == orders["targets"] and _config(run_dir)["max_iters"] == T, row
    for p in ("spread", "influence", "rank"):
        assert _config(runs[f"{p}_n2"])["inherit_select"] == p
        assert layers["selection"][f"{p}_n2"][0]["policy"] == p
    assert layers["selection"]["spread_n2"][0]["blocks"] == [0, 3]  # block 0 and block K-1
    assert len(layers["selection"]["rank_n2"][0]["scores"]) == K
    assert (_config(runs["distill_scratch_n2"])["init_from"], _config(runs["distill_inherit_n2"])["init_from"]) == (
        "scratch", "inherit")
    assert {_config(runs[r])["distill_from"] for r in ("distill_scratch_n2", "distill_inherit_n2")} == {teacher}
    assert not _config(runs["first_n2"]).get("distill_from")
    assert [c["verdict"] for c in layers["comparisons"]] == ["inconclusive (one seed)"] * 8
    assert layers["distill_cost"]["2"]["distill_step_s"] > 0
    md = (results / "layers.md").read_text()
    assert study_report.render(results / "layers.json") == md
    assert "**Is first-n the best choice at n = 2?**" in md and "| Inheritune, n spread over K | 2 | 0,3 |" in md
    assert (results / "study.md").exists()  # the claims suite's report stays
    for fig in ("layers_blocks.png", "layers_curves_n2.png", "layers_bars_n2.png"):
        assert (results / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig

    # a rerun reuses every run and replaces the report and figures whole: written aside, then renamed
    written = ("study.md", "curves.png", "grow.png")
    inodes = {name: (results / name).stat().st_ino for name in written}
    study.main(["--quick", "--out", str(out), "--results", str(results)])
    assert [name for name in written if (results / name).stat().st_ino == inodes[name]] == []


@pytest.mark.slow
def test_a_study_in_parts_reports_every_kept_seed_and_a_part_checks_what_it_retrains(quick_study, tmp_path,
                                                                                      monkeypatch):
    """Part 1 trained seed 0 (the quick study); part 2, on a machine whose out/ is gone, trains seed 1 alone and
    reports both from the kept records; a part that retrains a kept reference must end where its record did."""
    monkeypatch.chdir(quick_study.root)
    out, results = tmp_path / "runs", tmp_path / "results"
    shutil.copytree(quick_study.first, results)  # part 1's report and records, without its out/
    first = json.loads((results / "results.json").read_text())
    study.main(["--quick", "--seeds", "1", "--jobs", "2", "--out", str(out), "--results", str(results)])
    both = json.loads((results / "results.json").read_text())
    assert not (out / "seed0").exists() and both["seeds"] == [0, 1]
    for row, losses in first["final_val_loss"].items():
        assert both["final_val_loss"][row][0] == losses[0], row
        assert both["final_val_loss"][row][1] == _final(out / "seed1" / json.loads(
            (results / "runs" / "seed1" / "claims.json").read_text())[row]), row
    assert both["grow"]["0"] == first["grow"]["0"] and both["claims"][0]["std"] is not None

    record = results / "runs" / "seed1" / "reference" / "result.json"
    kept = json.loads(record.read_text())
    record.write_text(json.dumps({**kept, "val_loss": kept["val_loss"] + 1e-6}))
    message = one_line_exit(study.main, ["--quick", "--seeds", "1", "--out", str(out), "--results", str(results)])
    assert "does not reproduce the kept runs" in message and str(out / "seed1" / "reference") in message


@pytest.mark.slow
def test_quick_baselines_suite_trains_every_rival_for_t_steps_on_the_inheritune_batches(quick_study, monkeypatch):
    """On the claims suite's runs, as a study does: its reference, grow loop and scratch are reused."""
    monkeypatch.chdir(quick_study.root)
    out, results = quick_study.out, quick_study.results
    study.main(["--suite", "baselines", "--quick", "--jobs", "2", "--out", str(out), "--results", str(results)])
    numbers = json.loads((results / "baselines.json").read_text())
    K, T, seed_dir, targets = numbers["K"], numbers["T"], out / "seed0", study.data_orders(0)["targets"]
    assert (K, T) == (4, 4)
    dirs = {"inheritune_n2": seed_dir / "grow" / "n02", "stack1": seed_dir / "stack1_n04",
            "stack2": seed_dir / "stack2_n04", "half_width": seed_dir / "half_width",
            "scratch_T_n2": seed_dir / "scratch2_T", "reference": seed_dir / "reference"}
    md = (results / "baselines.md").read_text()
    assert study_report.render(results / "baselines.json") == md
    for row, run_dir in dirs.items():
        assert numbers["final_val_loss"][row] == [_final(run_dir)] and f"{_final(run_dir):.4f}" in md, row
        assert json.loads((run_dir / "result.json").read_text())["step"] == T, row  # T steps in all, stacked too
        if row != "reference":
            assert _config(run_dir)["data_seed"] == targets and _config(run_dir)["seed"] == 0, row
    # the stages: K/2 for T/2 then K; K/4 for T/4, K/2 to T/2, then K; one cosine over T; each grown from the last
    for rounds, stages in ((1, [(2, 2), (4, 4)]), (2, [(1, 1), (2, 2), (4, 4)])):
        assert study.stack_plan(K, T, rounds) == stages and numbers["stack_plans"][f"stack{rounds}"] == \
            [list(s) for s in stages]
        for i, (depth, end) in enumerate(stages):
            stage = seed_dir / f"stack{rounds}_n{depth:02d}"
            config, log = _config(stage), read_log(stage / "log.jsonl")
            assert (config["n_layer"], config["max_iters"], config["lr_decay_iters"]) == (depth, end, T)
            assert config["data_seed"] == targets and json.loads((stage / "result.json").read_text())["step"] == end
            if i == 0:
                assert config["init_from"] == "scratch" and log[0]["step"] == 0
            else:
                before = seed_dir / f"stack{rounds}_n{stages[i - 1][0]:02d}"
                assert (config["init_from"], config["inherit_from"]) == ("stack", str(before / "ckpt.pt"))
                assert log[0]["step"] >= stages[i - 1][1]  # it goes on from where the last stage stopped
    assert (_config(dirs["half_width"])["n_embd"], _config(dirs["half_width"])["n_head"]) == (8, 2)
    assert {c["verdict"] for c in numbers["comparisons"]} == {"inconclusive (one seed)"}
    assert "**Does the authors' ordering hold here?** **inconclusive (" in md
    for fig in ("baselines_bars.png", "baselines_curves.png"):
        assert (results / fig).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_half_width_keeps_depth_and_head_count_at_half_the_width(preset):
    recipe = {**_resolve(study.HERE / study.PRESETS[preset]), "init_from": "inherit", "inherit_from": "r/ckpt.pt"}
    half = study.half_width(recipe)
    assert half["init_from"] == "scratch" and not any(k.startswith("inherit_") for k in half)
    assert (half["n_layer"], half["n_head"], half["n_embd"]) == (recipe["n_layer"], recipe["n_head"],
                                                                  recipe["n_embd"] // 2)
    model = GPT(GPTConfig(**{k: half[k] for k in ("n_layer", "n_head", "n_embd", "block_size")}, vocab_size=64))
    assert model.transformer.h[0].mlp.c_fc.weight.shape == (4 * recipe["n_embd"] // 2, recipe["n_embd"] // 2)
    assert "cannot be halved" in one_line_exit(study.half_width, {**recipe, "n_embd": 2 * recipe["n_head"] + 2})


def test_stacking_stages_double_the_depth_and_end_at_t():
    assert study.stack_plan(8, 1600, 1) == [(4, 800), (8, 1600)]
    assert study.stack_plan(12, 630, 2) == [(3, 157), (6, 315), (12, 630)]
    assert "need K >= 4" in one_line_exit(study.stack_plan, 2, 100, 2)


def _fake_grow(stops):
    """grow.grow_until_baseline stand-in: seed s's loop stops at stops[s] (None: no n matched)."""
    def grow_until_baseline(launcher, search):
        out, seed = Path(search.out), int(Path(search.out).parent.name[4:])
        K, stop = 8, stops[seed]
        rounds = [{"n": n, "gap": -0.01 if n == stop else 0.05} for n in range(K // 2, (stop or K - 1) + 1, 2)]
        out.mkdir(parents=True)
        (out / "search.json").write_text(json.dumps({"n_layer": K, "max_iters": 10, "data_seed": 2 * seed + 1,
                                                     "init_from": "inherit", "inherit_parts": "full"}))
        (out / "results.json").write_text(json.dumps({"stopped_at": stop, "rounds": rounds}))
    return grow_until_baseline


def test_every_seed_is_compared_at_the_same_fixed_depths_wherever_its_grow_loop_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(grow, "grow_until_baseline", _fake_grow({0: 4, 1: 6, 2: None}))
    monkeypatch.setattr(study, "run", lambda base, out_dir, progress, **changes: (Path(out_dir), changes)[0])
    monkeypatch.setattr(study, "keep_records", lambda *args: None)
    base = {"n_layer": 8, "max_iters": 10, "n_embd": 8, "vocab_size": 64}
    progress = study.Progress(tmp_path, base, (0, 1, 2), "gpu")
    rows = {s: study.seed_runs(base, s, tmp_path, "gpu", progress, tmp_path / "results") for s in (0, 1, 2)}
    assert study_plan.fixed_depths(8) == (4, 5) and study_plan.fixed_depths(24) == (12, 16) and \
        study_plan.fixed_depths(36)[0] == 18
    assert study.compared_depths(8, "gpu") == (4, 5) and study.compared_depths(8, "cpu") == (4,)
    for s in (0, 1, 2):
        assert rows[s].keys() == rows[0].keys()
        assert {int(name.rsplit("_n", 1)[1]) for name in rows[s] if "_n" in name} == {4, 5}
        assert rows[s]["inheritune_n4"] == tmp_path / f"seed{s}" / "grow" / "n04"  # the grow loop's first round
        assert {name for name in rows[s] if name.startswith("ablate_")} == {
            f"ablate_{p}_n5" for p in ("attn_ln", "mlp_ln", "attn_mlp_noln")}  # the paper's ablation depth


@pytest.mark.parametrize("preset", sorted(study.PRESETS))
def test_seeds_draw_disjoint_batch_orders(preset):
    orders = [o for s in study.SEEDS[preset] for o in study.data_orders(s).values()]
    assert len(orders) == len(set(orders)) == 2 * len(study.SEEDS[preset])
    for s in study.SEEDS[preset]:  # the grow loop gives its targets the reference's order + 1
        assert target_data_seed({"seed": s, "data_seed": study.data_orders(s)["reference"]}, s) \
            == study.data_orders(s)["targets"]
    assert len(study.SEEDS["gpu"]) >= 5


# what a study preset may change from the paper's configs, each scaled to the built-in corpus (the config's comment
# gives the reason): size, learning rate, batch, steps; and where and how it runs, logs and evaluates
SCALED = {"size": ("dataset", "n_layer", "n_head", "n_embd", "block_size", "vocab_size"),
          "lr": ("learning_rate", "min_lr"), "batch": ("batch_size", "tokens_per_step"),
          "steps": ("max_iters", "warmup_iters")}
RUNNING = ("out_dir", "eval_interval", "eval_tokens", "log_interval", "ckpt_interval", "device", "dtype", "compile",
           "seed", "data_seed")
PAPER = ("gpt2m_baseline24", "gpt2l_baseline36", "gpt2xl_baseline48")


@pytest.fixture(scope="module")
def pcfg_meta(tmp_path_factory):
    """The grammar corpus's meta.json, its vocabulary from a 2,000-document preparation and its training tokens
    from their mean length (the full corpus takes minutes to prepare)."""
    import pcfg
    import prepare_openwebtext
    full, pcfg.DOCUMENTS = pcfg.DOCUMENTS, 2000
    try:
        data_dir = tmp_path_factory.mktemp("pcfg")
        prepare_openwebtext.prepare_pcfg(data_dir, num_proc=1)
        meta = read_meta(data_dir, "pcfg")
    finally:
        pcfg.DOCUMENTS = full
    per_document = (meta["tokens"]["train"] + meta["tokens"]["val"]) / 2000
    return {**meta, "tokens": {"train": per_document * full * (1 - prepare_openwebtext.PCFG_VAL_FRACTION)}}


def _comments(path):
    """A preset's text and that of the preset it builds on (`from config.X import *`)."""
    text = path.read_text()
    base = re.search(r"^from config\.(\w+) import \*", text, re.M)
    return text + (_comments(path.parent / f"{base.group(1)}.py") if base else "")


def _resolve(path):
    return load_config(DEFAULTS, [str(path)])


@pytest.mark.parametrize("preset", sorted(study.PRESETS))
def test_presets_are_on_the_papers_recipe(preset):
    cfg = _resolve(study.HERE / study.PRESETS[preset])
    papers = [_resolve(study.HERE / "config" / f"{name}.py") for name in PAPER]
    free = {k for keys in SCALED.values() for k in keys} | set(RUNNING) | {"grad_scale"}
    for paper in papers:  # every other key, optimiser, schedule form and model options included, is the paper's
        assert {k: v for k, v in cfg.items() if k not in free} == {k: v for k, v in paper.items() if k not in free}
    assert cfg["scale_attn_by_inverse_layer_idx"] and not cfg["decay_embeddings"] and cfg["lr_decay_iters"] == 0
    # the gradient regime: scaled at least as strongly as the paper's loops (8 or 12 x the mean gradient), so the
    # clip at 1.0 fires on nearly every step (the study reports each row's clip rate)
    assert cfg["grad_clip"] == 1.0 and cfg["grad_scale"] >= max(p["grad_scale"] for p in papers)
    comment = _comments(study.HERE / study.PRESETS[preset])  # each preset names the keys it scales, and why
    assert all(f"# - {reason}:" in comment for reason in SCALED)


@pytest.mark.parametrize("preset", sorted(study.PRESETS))
def test_presets_are_in_the_papers_regime(preset, builtin_bpe_data_dir, pcfg_meta):
    cfg = _resolve(study.HERE / study.PRESETS[preset])
    meta = pcfg_meta if cfg["dataset"] == "pcfg" else read_meta(builtin_bpe_data_dir, cfg["dataset"])
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


def test_cpu_runs_side_by_side_share_the_cores_unless_the_user_chose(monkeypatch):
    monkeypatch.setattr(study.os, "cpu_count", lambda: 8)
    assert study.share_cores(3, "cpu", env := {}) == "2" and env == {"OMP_NUM_THREADS": "2"}
    assert study.share_cores(16, "cpu", env := {}) == "1"
    assert study.share_cores(3, "cpu", env := {"OMP_NUM_THREADS": "4"}) == "4"  # the user's choice stands
    assert study.share_cores(1, "cpu", env := {}) is None and env == {}  # one run: torch's default
    assert study.share_cores(5, "cuda", env := {}) is None and env == {}


@pytest.mark.parametrize("flags", [[], ["--wandb"]])
def test_with_wandb_every_launch_of_the_study_is_tracked_in_the_studys_group(tmp_path, monkeypatch, flags):
    launches = []

    def first_seed(base, seed, out, preset, progress, results_dir, suite):
        launches.append(study.launcher(progress))
        raise LookupError("stop before anything trains")
    monkeypatch.setattr(study, "prepare_dataset", lambda *a, **k: None)
    monkeypatch.setattr(study, "seed_runs", first_seed)
    with pytest.raises(LookupError):
        study.main(["--quick", "--out", str(tmp_path / "s"), *flags])
    command = grow.train_command(launches[0], {"out_dir": "r"})
    tracked = {"--wandb_log=True", f"--wandb_group={tmp_path / 's'}", "--wandb_project=inheritune"}
    assert tracked <= set(command) if flags else not any("wandb" in a for a in command)


def test_a_second_study_on_the_same_out_is_refused_before_it_trains(tmp_path, monkeypatch):
    def trains(*args):
        raise AssertionError("the second study trained")
    monkeypatch.setattr(study, "prepare_dataset", trains)
    monkeypatch.setattr(study, "seed_runs", trains)
    with study.lock_run_dir(tmp_path / "s"):  # the first study, still running
        message = one_line_exit(study.main, ["--quick", "--out", str(tmp_path / "s")])
    assert f"{tmp_path / 's'} is in use by another run (pid {os.getpid()}" in message


@pytest.mark.slow
def test_ctrl_c_stops_the_runs_in_progress_and_ends_in_one_line(tmp_path, monkeypatch):
    """Ctrl-C to study.py alone (its runs in threads, their train.py not in the signalled group): each running
    train.py is told to save and stop (SIGTERM, stubbed here by a process that notes it), and no new one starts."""
    stub = ("import signal, sys, time\n"
            "def saved(*_):\n    open(sys.argv[1], 'w').write('saved'); sys.exit(1)\n"
            "signal.signal(signal.SIGTERM, saved)\nopen(sys.argv[1], 'w').write('started')\ntime.sleep(120)\n")
    monkeypatch.setattr(grow, "STOPPING", threading.Event())
    monkeypatch.setattr(grow, "train_command", lambda launcher, overrides, config_files=(): [
        sys.executable, "-c", stub, str(Path(overrides["out_dir"]) / "note")])
    monkeypatch.setattr(study, "prepare_dataset", lambda *a, **k: None)
    runs = [tmp_path / "s" / "first", tmp_path / "s" / "second"]

    def seed_runs(base, seed, out, preset, progress, results_dir, suite):
        for run_dir in runs:  # one after another, as a seed's runs are
            grow.launch(study.launcher(progress), {"out_dir": str(run_dir)})
    monkeypatch.setattr(study, "seed_runs", seed_runs)

    def in_progress():
        """The first run is one stop_runs reaches, and its SIGTERM handler is set."""
        note = runs[0] / "note"
        return bool(grow.RUNNING) and note.is_file() and note.read_text() == "started"
    sent = []

    def ctrl_c_once_a_run_is_in_progress():
        deadline = time.time() + 300  # however loaded the machine; then sent anyway, to fail below and not hang
        while not in_progress() and time.time() < deadline:
            time.sleep(0.05)
        sent.append((in_progress(), time.time()))
        # to the main thread, which handles it (a process-wide kill may land on a thread blocked in waitpid)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    threading.Thread(target=ctrl_c_once_a_run_is_in_progress, daemon=True).start()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as a terminal's Ctrl-C finds study.py
    try:
        message = one_line_exit(study.main, ["--quick", "--out", str(tmp_path / "s")])
    finally:
        signal.signal(signal.SIGINT, previous)
    (was_in_progress, sent_at), = sent
    assert was_in_progress, "no run was in progress 5 minutes after the study started"
    assert message.startswith("interrupted (Ctrl-C): the runs in progress saved a checkpoint and stopped")
    assert (runs[0] / "note").read_text() == "saved" and not (runs[1] / "note").exists()
    assert time.time() - sent_at < 60 and not grow.RUNNING  # stopped, not waited for (120 s)


def test_a_report_over_no_kept_seed_ends_in_one_line(tmp_path, monkeypatch):
    """A study whose seeds kept no records (here: its runs stubbed away) has nothing to compute statistics over."""
    monkeypatch.setattr(study, "prepare_dataset", lambda *a, **k: None)
    monkeypatch.setattr(study, "seed_runs", lambda *args: {})
    message = one_line_exit(study.main, ["--quick", "--out", str(tmp_path / "s")])
    runs = tmp_path / "s" / "results" / "runs"
    assert message.startswith(f"no seed of the claims suite has its records kept in {runs}: nothing to report")
