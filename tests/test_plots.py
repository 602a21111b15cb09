"""plots/: images come out valid and readable, tables carry the runs' exact numbers,
and user mistakes end in one line. Run dirs are written here in train.py's format."""

import json
import math
import os
import statistics
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from plots.plot_ablation import plot_ablation  # the repo root is on sys.path: see pytest.ini
from plots.plot_grow import plot_grow
from plots.plot_runs import main as plot_runs_main, plot_runs
from plots.plot_seeds import main as plot_seeds_main, plot_seed_bars, plot_seed_curves
from plots.report import report_table
from plots.runs import distinct_labels, format_count, load_run, run_label, save_figure
from helpers import ROOT, one_line_exit


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def loss_at(step, final, start=10.83, tau=15.0):
    """A loss curve falling from ~ln(50257) at step 0 towards `final`."""
    return final + (start - final) * math.exp(-step / tau)


def make_run(root, name, n_layer=16, n_embd=384, init_from="scratch", inherit_from="",
             inherit_parts="full", max_iters=100, seed=1337, final=3.0, finished=True,
             stop_at=None, tokens_per_step=2048, num_params=10_000_000, learning_rate=6e-4, **settings):
    """A run directory as train.py writes it (settings: more of its config); an unfinished one stops logging at
    stop_at."""
    path = root / name
    path.mkdir(parents=True)
    config = dict(out_dir=str(path), n_layer=n_layer, n_head=6, n_embd=n_embd, block_size=256,
                  init_from=init_from, inherit_from=inherit_from, inherit_parts=inherit_parts,
                  inherit_layers="", max_iters=max_iters, learning_rate=learning_rate,
                  tokens_per_step=tokens_per_step, seed=seed, dataset="builtin",
                  git_commit="abc123", num_params=num_params, world_size=1, device="cpu", **settings)
    (path / "config.json").write_text(json.dumps(config))
    last = stop_at if stop_at is not None else max_iters
    lines = [dict(step=0, tokens=0, val_loss=10.83, elapsed_s=0.1)]
    for step in range(5, last + 1, 5):
        line = dict(step=step, tokens=step * tokens_per_step, lr=6e-4,
                    train_loss=loss_at(step, final) + 0.05 * (-1) ** (step // 5),
                    tokens_per_s=1e4, mfu=None, elapsed_s=step * 0.1)
        if step % 20 == 0:
            line["val_loss"] = loss_at(step, final)
        lines.append(line)
    (path / "log.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    if finished:
        # the final deterministic evaluation differs a little from the last logged one
        result = dict(step=max_iters, tokens=max_iters * tokens_per_step, val_loss=final,
                      num_params=num_params, elapsed_s=max_iters * 0.1)
        (path / "result.json").write_text(json.dumps(result))
    return path


@pytest.fixture
def study(tmp_path):
    """A 24L reference, 16L scratch at T and 2T, and Inheritune runs (two seeds of 'full')."""
    ref = make_run(tmp_path, "ref24", n_layer=24, max_iters=200, final=3.00, num_params=30_000_000)
    ckpt = str(ref / "ckpt.pt")
    runs = dict(
        ref=ref,
        scratch_T=make_run(tmp_path, "s16_T", final=3.40),
        scratch_2T=make_run(tmp_path, "s16_2T", max_iters=200, final=3.20),
        full_a=make_run(tmp_path, "inh_full_a", init_from="inherit", inherit_from=ckpt, final=3.10, seed=1),
        full_b=make_run(tmp_path, "inh_full_b", init_from="inherit", inherit_from=ckpt, final=3.14, seed=2),
        attn=make_run(tmp_path, "inh_attn", init_from="inherit", inherit_from=ckpt,
                      inherit_parts="attn_ln", final=3.25),
    )
    return runs


def legend_texts(fig):
    return [t.get_text() for t in fig.legends[0].get_texts()]


def assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 20_000  # a blank 150-dpi canvas compresses far smaller than real plots



def test_labels_read_the_reference_layers_from_its_run_dir(study, tmp_path):
    assert run_label(load_run(study["ref"])) == "24L scratch 200 steps"
    assert run_label(load_run(study["full_a"])) == "16L Inheritune (full) from 24L 100 steps"
    assert run_label(load_run(study["attn"])) == "16L Inheritune (attn_ln) from 24L 100 steps"
    lost = make_run(tmp_path, "lost", init_from="inherit", inherit_from=str(tmp_path / "gone" / "ckpt.pt"))
    assert run_label(load_run(lost)) == "16L Inheritune (full) 100 steps"
    preset = make_run(tmp_path, "preset", init_from="inherit", inherit_from="gpt2-medium")
    assert run_label(load_run(preset)) == "16L Inheritune (full) from gpt2-medium 100 steps"
    # inheriting more (or less) than the paper's wte is named
    more = make_run(tmp_path, "more", init_from="inherit", inherit_from=str(study["ref"] / "ckpt.pt"))
    config = json.loads((more / "config.json").read_text())
    (more / "config.json").write_text(json.dumps({**config, "inherit_embeddings": "wte,wpe,ln_f"}))
    assert run_label(load_run(more)) == "16L Inheritune (full, embeddings wte,wpe,ln_f) from 24L 100 steps"


def test_plot_runs_shows_step_0_and_zooms_into_the_end(study, tmp_path):
    out = tmp_path / "curves.png"
    fig = plot_runs([str(study["scratch_T"]), str(tmp_path / "inh_full_*")], str(out), train=True,
                    smooth=5, baseline_run=str(study["ref"]))
    assert_png(out)
    whole, zoom = fig.axes  # one row: every run trains on the same tokens per step
    assert whole.get_xlim()[0] <= 0 and whole.get_ylim()[1] > 10.83, "step 0 and its loss must be in view"
    bottom, top = zoom.get_ylim()
    assert top < 6, "the zoom must not be flattened by the first steps' losses"
    assert bottom < 3.0 < top, "the reference's final loss must be visible"
    assert zoom.get_xlim()[0] == 25 and zoom.get_xlim()[1] >= 100
    assert whole.get_xlabel() == zoom.get_xlabel() == "step"
    assert len(whole.lines) == 3 * 2 + 1  # val and train loss of three runs, the baseline
    legend = legend_texts(fig)
    # two seeds of one setting: the seed tells them apart
    assert "16L Inheritune (full) from 24L 100 steps, seed 1" in legend
    assert "16L Inheritune (full) from 24L 100 steps, seed 2" in legend
    assert "reference 24L final: 3.0000" in legend
    running = make_run(tmp_path, "running", finished=False, stop_at=60)
    fig = plot_runs([str(running)], str(out))
    assert legend_texts(fig) == ["16L scratch 100 steps (unfinished: step 60)"]


def test_plot_runs_overlays_a_run_on_the_authors_logged_curves(tmp_path):
    """--paper gpt2m draws every committed curve of the authors' medium runs (plots/paper_curves/gpt2m_*.csv), dashed,
    with its label, beside the user's run; each file names the log and commit it was read from."""
    files = sorted((ROOT / "plots" / "paper_curves").glob("gpt2m_*.csv"))
    expected = {}
    for path in files:
        lines = path.read_text().splitlines()
        header = {k: v for k, _, v in (line[2:].partition(": ") for line in lines if line.startswith("# "))}
        assert header["path"].startswith("GPT2-experiments/logs/") and len(header["commit"]) == 40, path
        rows = [line.split(",") for line in lines[lines.index("step,val_loss") + 1:]]
        expected[f"paper gpt2m: {header['label']}"] = ([int(a) for a, _ in rows], [float(b) for _, b in rows])
    assert len(files) == 7 and expected["paper gpt2m: Inheritune, 16L"][1][-1] == 2.8108  # the released finals
    assert expected["paper gpt2m: scratch, 24L (reference)"][0][-1] == 100_000
    run = make_run(tmp_path, "mine", max_iters=100)
    fig = plot_runs([str(run)], str(tmp_path / "overlay.png"), paper="gpt2m")
    whole = fig.axes[0]
    assert whole.lines[0].get_linestyle() == "-" and list(whole.lines[0].get_xdata()) == list(range(0, 101, 20))
    drawn = whole.lines[1:]
    assert [line.get_linestyle() for line in drawn] == ["--"] * 7
    legend = legend_texts(fig)
    assert legend[0] == "16L scratch 100 steps" and legend[1:] == list(expected)
    for line, (steps, values) in zip(drawn, expected.values()):
        assert list(line.get_xdata()) == steps and list(line.get_ydata()) == values
    alone = plot_runs([], str(tmp_path / "paper.png"), paper="gpt2xl")  # the authors' curves alone
    assert len(alone.axes[0].lines) == 7 and all(t.startswith("paper gpt2xl: ") for t in legend_texts(alone))
    plot_runs_main(["--paper", "gpt2l", "--out", str(tmp_path / "l.png")])
    assert_png(tmp_path / "l.png")
    with pytest.raises(SystemExit):
        plot_runs_main(["--out", str(tmp_path / "none.png")])  # neither runs nor --paper


def test_plot_runs_other_tokens_per_step_get_their_own_row(tmp_path):
    runs = [make_run(tmp_path, "a"), make_run(tmp_path, "b", tokens_per_step=4096)]
    fig = plot_runs([str(r) for r in runs], str(tmp_path / "c.png"))
    assert [ax.get_xlabel() for ax in fig.axes] == ["step", "step", "tokens", "tokens"]
    assert fig.axes[2].get_xlim()[1] >= 100 * 4096


def test_seed_curves_mean_band_and_step_0(tmp_path):
    groups = {"scratch (16L)": [make_run(tmp_path, f"s{i}", seed=i, final=3.3 + 0.02 * i) for i in range(3)],
              "Inheritune (16L)": [make_run(tmp_path, "inh0", init_from="inherit", inherit_from="x", final=3.1)]}
    (groups["Inheritune (16L)"][0] / "log.jsonl").write_text(  # an inherited model starts lower
        (groups["Inheritune (16L)"][0] / "log.jsonl").read_text().replace('"val_loss": 10.83', '"val_loss": 7.5'))
    fig = plot_seed_curves(groups, tmp_path / "seeds.png", "title")
    assert_png(tmp_path / "seeds.png")
    whole, zoom = fig.axes
    for ax in (whole, zoom):
        assert len(ax.lines) == 2 and len(ax.collections) == 1  # a mean per group; a band where seeds vary
    assert list(whole.lines[1].get_ydata())[0] == 7.5 and list(whole.lines[0].get_xdata())[0] == 0
    assert whole.get_xlim()[0] <= 0 and whole.get_ylim()[1] > 10.83  # the head start is in view
    assert zoom.get_ylim()[1] < 5
    assert legend_texts(fig) == ["scratch (16L) (3 seeds)", "Inheritune (16L) (1 seed)",
                                 "band: mean ± 1 std over seeds"]
    # the band's drawn edges, read back at every step: mean -+ 1 std of the seeds' losses there (their std
    # grows from 0 at step 0, where every seed starts at 10.83, to that of the final losses)
    drawn = {}
    for x, y in whole.collections[0].get_paths()[0].vertices:
        drawn.setdefault(x, []).append(y)
    logs = [dict(zip(*load_run(d).points("val_loss")[::2])) for d in groups["scratch (16L)"]]
    assert sorted(drawn) == sorted(logs[0]) and len(drawn) > 3
    for step, edges in drawn.items():
        losses = [log[step] for log in logs]
        mean, std = statistics.fmean(losses), statistics.stdev(losses)
        assert (min(edges), max(edges)) == pytest.approx((mean - std, mean + std), abs=1e-9), step
    last = drawn[max(drawn)]
    assert max(last) - min(last) > 0.035  # the seeds' final losses differ (3.30, 3.32, 3.34): a band is drawn


def test_seed_bars_readable_parts_intervals_and_honest_axis(tmp_path):
    groups = {"attn_ln": [3.30, 3.32, 3.34], "mlp_ln": [3.40, 3.41, 3.45], "attn_mlp_noln": [3.5, 3.5, 3.6],
              "full": [3.20, 3.21, 3.25], "scratch": [3.6, 3.62, 3.61]}
    fig = plot_seed_bars(groups, tmp_path / "bars.png", "ablation", baseline=3.1)
    assert_png(tmp_path / "bars.png")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "attention + LN", "MLP + LN", "attention + MLP", "full block", "scratch"]
    bars = [c for c in ax.containers]  # one errorbar per group, its interval +-1 std
    assert len(bars) == 5
    low, high = bars[0].lines[1][0].get_ydata(), bars[0].lines[1][1].get_ydata()
    mean, std = statistics.fmean(groups["attn_ln"]), statistics.stdev(groups["attn_ln"])
    assert (low[0], high[0]) == pytest.approx((mean - std, mean + std))
    bottom, top = ax.get_ylim()
    assert bottom < 3.1 and top > 3.6 and top - bottom < 1  # points with intervals: zoomed to the data
    assert "reference 3.100" in legend_texts(fig) and "each seed" in legend_texts(fig)
    one = plot_seed_bars({"full": [3.2]}, tmp_path / "one.png", "one seed")
    assert "final loss (1 seed)" in legend_texts(one)


@pytest.mark.slow
def test_plot_seeds_cli(tmp_path):
    runs = [make_run(tmp_path, f"s{i}", seed=i) for i in range(2)]
    proc = subprocess.run([sys.executable, "plots/plot_seeds.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "--curves" in proc.stdout and "--bars" in proc.stdout
    out = tmp_path / "c.png"
    plot_seeds_main(["--curves", str(tmp_path / "s*"), "--out", str(out)])
    assert_png(out)
    plot_seeds_main(["--bars", ",".join(map(str, runs)), "--out", str(tmp_path / "b.svg")])
    ET.parse(tmp_path / "b.svg")


def test_same_setting_same_seed_is_told_apart_by_directory(tmp_path):
    runs = [load_run(make_run(tmp_path, name)) for name in ("lr_a", "lr_b")]
    assert distinct_labels(runs) == ["16L scratch 100 steps, seed 1337 (lr_a)",
                                     "16L scratch 100 steps, seed 1337 (lr_b)"]


def test_diverged_run_still_plots(tmp_path):
    run = make_run(tmp_path, "diverged", finished=False)
    lines = (run / "log.jsonl").read_text().replace('"val_loss": 3.', '"val_loss": NaN, "was": 3.', 1)
    (run / "log.jsonl").write_text(lines)
    whole, zoom = plot_runs([str(run)], str(tmp_path / "d.png")).axes
    assert all(math.isfinite(y) for y in whole.get_ylim() + zoom.get_ylim()) and zoom.get_ylim()[1] < 6


def test_plot_runs_cli_svg(study, tmp_path):
    out = tmp_path / "curves"
    plot_runs_main([str(study["ref"]), str(study["scratch_2T"]), "--out", str(out), "--format", "svg",
                    "--baseline", "3.05", "--logx"])
    ET.parse(tmp_path / "curves.svg")  # raises when not well-formed XML


@pytest.mark.slow
def test_plot_runs_as_script(study, tmp_path):
    out = tmp_path / "script.pdf"
    proc = subprocess.run([sys.executable, "plots/plot_runs.py", str(study["attn"]), "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    assert out.read_bytes()[:5] == b"%PDF-"


def write_grow(tmp_path, rounds, stopped_at, tolerance=0.02):
    rounds = [dict(n=n, params=n * 1_000_000, val_loss=loss, baseline=3.0, gap=loss - 3.0,
                   tokens=204800, wall_s=10.0, run_dir=str(tmp_path / f"n{n}")) for n, loss in rounds]
    (tmp_path / "results.json").write_text(json.dumps(dict(
        reference="out/ref24/ckpt.pt", baseline_val_loss=3.0, K=24, tolerance=tolerance,
        stopped_at=stopped_at, rounds=rounds)))


def test_plot_grow_shows_every_round_its_gap_and_the_stopping_round(tmp_path):
    write_grow(tmp_path, ((4, 3.6), (8, 3.2), (12, 3.01)), stopped_at=12)
    fig = plot_grow(str(tmp_path), tmp_path / "grow.png")  # a pathlib.Path works too, as study.py passes
    assert_png(tmp_path / "grow.png")
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [4, 8, 12, 24]  # the rounds and the reference at n = K
    rounds = [line for line in ax.lines if line.get_label().startswith("Inheritune round")]
    assert len(rounds) == 1 and list(rounds[0].get_xdata()) == [4, 8, 12]
    ring = [line for line in ax.lines if line.get_label() == "stopped at n=12"]
    assert len(ring) == 1 and list(ring[0].get_xdata()) == [12]
    assert {t.get_text() for t in ax.texts} == {"3.6000\ngap +0.6000", "3.2000\ngap +0.2000", "3.0100\ngap +0.0100"}
    # every legend entry names something drawn, and the other way round
    drawn = {a.get_label() for a in ax.lines + ax.patches} - {""} | {c.get_label() for c in ax.collections}
    assert set(legend_texts(fig)) == drawn - {"_nolegend_"} and len(legend_texts(fig)) == 5


def test_plot_grow_one_round_is_read_against_the_baseline(tmp_path):
    write_grow(tmp_path, ((4, 3.3),), stopped_at=None, tolerance=0.0)
    fig = plot_grow(str(tmp_path), str(tmp_path / "grow.png"))
    ax = fig.axes[0]
    assert "no round has reached the baseline" in ax.get_title()
    assert legend_texts(fig) == ["baseline 3.0000", "Inheritune round: n layers", "reference: 24 layers"]
    bottom, top = ax.get_ylim()
    assert bottom < 3.0 and 3.3 < top  # baseline and round both in view
    assert [t.get_text() for t in ax.texts] == ["3.3000\ngap +0.3000"]


def test_plot_ablation_groups_and_zooms(study, tmp_path):
    out = tmp_path / "ablation.png"
    runs = [str(study[k]) for k in ("scratch_T", "scratch_2T", "full_a", "full_b", "attn")]
    fig = plot_ablation(runs, str(out), baseline_run=str(study["ref"]))
    assert_png(out)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["scratch\n16L T", "scratch\n16L 2T",
                      "Inheritune\nfull block\n16L T", "Inheritune\nattention + LN\n16L T"]
    bottom, top = ax.get_ylim()
    assert 2.8 < bottom < 3.0 and 3.4 < top < 3.8  # zoomed to 3.00-3.40, not from 0
    assert "3.1200\n(n=2)" in [t.get_text() for t in ax.texts]  # mean of the two seeds


def parse_table(markdown):
    """Rows of a markdown table as dicts keyed by the header."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")))) for line in lines[2:]]


def test_report_table_has_the_runs_numbers(study, tmp_path):
    unfinished = make_run(tmp_path, "s16_running", final=3.3, finished=False, stop_at=60)
    table = report_table([str(study["ref"]), str(study["attn"]), str(study["scratch_T"]), str(unfinished)])
    rows = parse_table(table)
    assert [r["run"] for r in rows] == [str(study["ref"]), str(study["scratch_T"]), str(unfinished),
                                        str(study["attn"])]
    ref, scratch, running, attn = rows
    assert ref == {"model": "24L-384d", "layers": "24", "init": "random", "steps": "200", "tokens": "410k",
                   "final val loss": "3.0000", "params": "30M", "seed": "1337", "run": str(study["ref"])}
    assert attn["init"] == "Inheritune (attn_ln) from 24L"
    assert attn["final val loss"] == "3.2500"  # result.json, not the last logged loss
    last_logged = [json.loads(x) for x in (unfinished / "log.jsonl").read_text().splitlines()][-1]
    assert last_logged["step"] == 60
    assert running["final val loss"] == f"{last_logged['val_loss']:.4f}*"
    assert running["tokens"] == "123k"
    assert f"`*` unfinished: last val_loss in log.jsonl ({unfinished} at step 60 of 100)" in table
    assert "*" not in scratch["final val loss"]


def test_report_aggregates_seeds(study):
    table = report_table([str(study["full_a"]), str(study["full_b"]), str(study["attn"])], aggregate=True)
    rows = parse_table(table)
    assert len(rows) == 2 and "unfinished" not in table
    full = rows[0]
    mean, std = statistics.fmean([3.10, 3.14]), statistics.stdev([3.10, 3.14])
    assert full["final val loss (mean ± std)"] == f"{mean:.4f} ± {std:.4f}" == "3.1200 ± 0.0283"
    assert full["seeds"] == "2" and full["init"] == "Inheritune (full) from 24L"
    assert rows[1]["final val loss (mean ± std)"] == "3.2500" and rows[1]["seeds"] == "1"


def test_aggregate_never_averages_runs_of_other_hyperparameters(tmp_path):
    """Same columns, other learning rate: two settings, not two seeds of one."""
    runs = [make_run(tmp_path, "a", seed=1, final=3.0), make_run(tmp_path, "b", seed=2, final=3.2),
            make_run(tmp_path, "c", seed=1, final=4.0, learning_rate=1e-3)]
    rows = parse_table(report_table([str(r) for r in runs], aggregate=True))
    assert [(r["final val loss (mean ± std)"], r["seeds"]) for r in rows] == [
        (f"{statistics.fmean([3.0, 3.2]):.4f} ± {statistics.stdev([3.0, 3.2]):.4f}", "2"), ("4.0000", "1")]


def test_seeds_tracked_in_their_own_wandb_runs_are_one_setting(tmp_path):
    runs = [make_run(tmp_path, "a", seed=1, final=3.0, wandb_log=True, wandb_run_id="0123456789abcdef"),
            make_run(tmp_path, "b", seed=2, final=3.2, wandb_run_id="")]
    rows = parse_table(report_table([str(r) for r in runs], aggregate=True))
    assert [r["seeds"] for r in rows] == ["2"]


def test_aggregate_marks_a_setting_with_an_unfinished_seed(study, tmp_path):
    running = make_run(tmp_path, "inh_full_c", init_from="inherit", final=3.0, seed=3, finished=False,
                       stop_at=80, inherit_from=str(study["ref"] / "ckpt.pt"))
    losses = [3.10, 3.14, load_run(running).final_loss]
    runs = [str(study["full_a"]), str(study["full_b"]), str(running)]
    row = parse_table(report_table(runs, aggregate=True))[0]
    mean, std = statistics.fmean(losses), statistics.stdev(losses)
    assert row["final val loss (mean ± std)"] == f"{mean:.4f} ± {std:.4f}*" and row["seeds"] == "3"


def test_glob_skips_what_is_not_a_run(study, tmp_path, capsys):
    (tmp_path / "notes.md").write_text("")
    (tmp_path / "grow").mkdir()
    rows = parse_table(report_table([str(tmp_path / "*")]))
    assert len(rows) == len(study)
    assert f"skipping {tmp_path / 'grow'}: not a run directory" in capsys.readouterr().err


def test_report_descends_into_grow_and_study_folders(tmp_path):
    """out/* catches a grow folder (runs one level down) and a study folder (two levels down)."""
    out = tmp_path / "out"
    (out / "grow").mkdir(parents=True)
    (out / "grow" / "results.json").write_text("{}")
    grow = [make_run(out / "grow", name, n_layer=n) for name, n in (("reference", 8), ("n04", 4), ("n06", 6))]
    (out / "study" / "seed0").mkdir(parents=True)
    study = [make_run(out / "study" / "seed0", "reference", n_layer=8, seed=0),
             make_run(out / "study" / "seed0" / "grow", "n04", n_layer=4, seed=0)]
    single = make_run(out, "single")
    rows = parse_table(report_table([str(out / "*")]))
    assert sorted(r["run"] for r in rows) == sorted(map(str, grow + study + [single]))
    assert len(parse_table(report_table([str(out / "grow")]))) == 3


def test_log_line_being_written_is_skipped(study):
    with open(study["attn"] / "log.jsonl", "a") as f:
        f.write('{"step": 105, "tok')
    assert load_run(study["attn"]).log[-1]["step"] == 100


def test_bad_inputs_end_in_one_line(study, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "does not exist" in one_line_exit(report_table, [str(tmp_path / "nope")])
    assert "no files match" in one_line_exit(report_table, [str(tmp_path / "zzz*")])
    message = one_line_exit(report_table, [str(tmp_path / "empty")])
    assert "not a run directory" in message and "holds none" in message
    assert "results.json" in one_line_exit(plot_grow, str(tmp_path / "empty"), str(tmp_path / "g.png"))
    assert "matches no run directory" in one_line_exit(report_table, [str(tmp_path / "emp*")])
    assert "unsupported image type" in one_line_exit(plot_runs_main, [str(study["ref"]), "--out", "x.jpg"])
    with open(study["ref"] / "log.jsonl", "r+") as f:
        f.write("not json\n")
    assert "line 1 is not valid JSON" in one_line_exit(report_table, [str(study["ref"])])
    (study["attn"] / "result.json").write_text('{"step": 100, "val_')  # a write cut short
    assert one_line_exit(report_table, [str(study["attn"])]).startswith(f"{study['attn'] / 'result.json'} is damaged")


@pytest.mark.slow
def test_script_errors_have_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "plots/report.py", str(tmp_path / "nope")],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{tmp_path / 'nope'} does not exist; pass a run directory made by train.py"


# tiny enough that each train.py process is mostly Python and torch start-up
TINY_RUN = ["--n_head=1", "--n_embd=16", "--block_size=16", "--batch_size=4", "--tokens_per_step=64",
            "--max_iters=6", "--warmup_iters=1", "--eval_interval=3", "--eval_tokens=256", "--log_interval=1"]


@pytest.mark.slow
def test_real_train_runs_plot_and_report(tmp_path, builtin_data_dir):
    """Two real train.py runs (2 and 1 layers) go through every plot and the report."""
    data_dir = builtin_data_dir
    runs = {n_layer: tmp_path / f"{n_layer}L" for n_layer in (2, 1)}
    # both at once: each is mostly start-up, and the machine has two cores
    procs = [subprocess.Popen([sys.executable, "train.py", "config/tiny_cpu.py", f"--out_dir={out}",
                               f"--data_dir={data_dir}", f"--n_layer={n_layer}", *TINY_RUN],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n_layer, out in runs.items()]
    for proc in procs:
        _, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
    ref, small = (str(runs[n]) for n in (2, 1))

    fig = plot_runs([ref, small], str(tmp_path / "runs.png"), train=True, baseline_run=ref)
    assert_png(tmp_path / "runs.png")
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["2L scratch 6 steps", "1L scratch 6 steps"]
    plot_ablation([ref, small], str(tmp_path / "ablation.svg"))
    ET.parse(tmp_path / "ablation.svg")

    rows = parse_table(report_table([small, ref]))
    for row, run_dir in zip(rows, (ref, small)):
        with open(os.path.join(run_dir, "result.json")) as f:
            result = json.load(f)
        assert row["run"] == run_dir and row["steps"] == "6" and row["init"] == "random"
        assert row["final val loss"] == f"{result['val_loss']:.4f}"
        assert row["tokens"] == "384" and row["params"] == format_count(result["num_params"])


@pytest.mark.parametrize("name,magic", [("f.png", b"\x89PNG"), ("f.pdf", b"%PDF"), ("f.svg", b"<?xml")])
def test_a_figure_replaces_its_file_whole_in_the_format_its_name_says(tmp_path, name, magic):
    """Written to a temporary file and renamed: a kill mid-save leaves the old figure, never half of one."""
    from matplotlib.figure import Figure
    fig = Figure()
    fig.subplots().plot([0, 1])
    out = tmp_path / name
    save_figure(fig, str(out))
    inode = out.stat().st_ino
    save_figure(fig, str(out))
    assert out.stat().st_ino != inode and out.read_bytes().startswith(magic)
    assert list(tmp_path.iterdir()) == [out]
