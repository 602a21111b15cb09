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

from plots.plot_ablation import plot_ablation  # the repo root is on sys.path: see conftest.py
from plots.plot_grow import plot_grow
from plots.plot_runs import loss_ylim, main as plot_runs_main, plot_runs
from plots.report import report_table
from plots.runs import distinct_labels, format_count, load_run, run_label
from conftest import one_line_exit

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def loss_at(step, final, start=10.83, tau=15.0):
    """A loss curve falling from ~ln(50257) at step 0 towards `final`."""
    return final + (start - final) * math.exp(-step / tau)


def make_run(root, name, n_layer=16, n_embd=384, init_from="scratch", inherit_from="",
             inherit_parts="full", max_iters=100, seed=1337, final=3.0, finished=True,
             stop_at=None, tokens_per_step=2048, num_params=10_000_000, learning_rate=6e-4):
    """A run directory as train.py writes it; an unfinished one stops logging at stop_at."""
    path = root / name
    path.mkdir(parents=True)
    config = dict(out_dir=str(path), n_layer=n_layer, n_head=6, n_embd=n_embd, block_size=256,
                  init_from=init_from, inherit_from=inherit_from, inherit_parts=inherit_parts,
                  inherit_layers="", max_iters=max_iters, learning_rate=learning_rate,
                  tokens_per_step=tokens_per_step, seed=seed, dataset="builtin",
                  git_commit="abc123", num_params=num_params, world_size=1, device="cpu")
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


def test_plot_runs_png_zooms_past_the_step0_loss(study, tmp_path):
    out = tmp_path / "curves.png"
    fig = plot_runs([str(study["scratch_T"]), str(tmp_path / "inh_full_*")], str(out), train=True,
                    smooth=5, baseline_run=str(study["ref"]))
    assert_png(out)
    bottom, top = fig.axes[0].get_ylim()
    assert top < 6, "the step-0 loss (10.8) must not set the y-range"
    assert bottom < 3.0 < top, "the reference's final loss must be visible"
    assert fig.axes[1].get_ylim() == (bottom, top)  # panels share y
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    # two seeds of one setting: the seed tells them apart
    assert "16L Inheritune (full) from 24L 100 steps, seed 1" in legend
    assert "16L Inheritune (full) from 24L 100 steps, seed 2" in legend
    assert "reference 24L final: 3.0000" in legend
    running = make_run(tmp_path, "running", finished=False, stop_at=60)
    fig = plot_runs([str(running)], str(out))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["16L scratch 100 steps (unfinished: step 60)"]


def test_same_setting_same_seed_is_told_apart_by_directory(tmp_path):
    runs = [load_run(make_run(tmp_path, name)) for name in ("lr_a", "lr_b")]
    assert distinct_labels(runs) == ["16L scratch 100 steps, seed 1337 (lr_a)",
                                     "16L scratch 100 steps, seed 1337 (lr_b)"]


def test_ylim_shows_the_curves_from_a_quarter_of_their_steps():
    bottom, top = loss_ylim([([0, 20, 40, 60, 80], [10.83, 7.25, 6.23, 6.03, 5.94]),
                             ([0, 60, 120], [10.83, 6.0, 5.2])], extra=[5.69])
    assert bottom < 5.2 and 7.25 < top < 7.6  # step 20 of 80 is in view, the step-0 losses are not


def test_diverged_run_still_plots(tmp_path):
    run = make_run(tmp_path, "diverged", finished=False)
    lines = (run / "log.jsonl").read_text().replace('"val_loss": 3.', '"val_loss": NaN, "was": 3.', 1)
    (run / "log.jsonl").write_text(lines)
    bottom, top = plot_runs([str(run)], str(tmp_path / "d.png")).axes[0].get_ylim()
    assert math.isfinite(bottom) and math.isfinite(top) and top < 6


def test_plot_runs_cli_svg(study, tmp_path):
    out = tmp_path / "curves"
    plot_runs_main([str(study["ref"]), str(study["scratch_2T"]), "--out", str(out), "--format", "svg",
                    "--baseline", "3.05", "--logx"])
    ET.parse(tmp_path / "curves.svg")  # raises when not well-formed XML


def test_plot_runs_as_script(study, tmp_path):
    out = tmp_path / "script.pdf"
    proc = subprocess.run([sys.executable, "plots/plot_runs.py", str(study["attn"]), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}" in proc.stdout
    assert out.read_bytes()[:5] == b"%PDF-"


def test_plot_grow_marks_the_stopping_round(tmp_path):
    rounds = [dict(n=n, params=n * 1_000_000, val_loss=loss, baseline=3.0, gap=loss - 3.0,
                   tokens=204800, wall_s=10.0, run_dir=str(tmp_path / f"n{n}"))
              for n, loss in ((4, 3.6), (8, 3.2), (12, 3.01))]
    grow = dict(reference="out/ref24/ckpt.pt", baseline_val_loss=3.0, K=24, tolerance=0.02,
                stopped_at=12, rounds=rounds)
    (tmp_path / "results.json").write_text(json.dumps(grow))
    fig = plot_grow(str(tmp_path), tmp_path / "grow.png")  # a pathlib.Path works too, as study.py passes
    assert_png(tmp_path / "grow.png")
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [4, 8, 12]
    stars = [line for line in ax.lines if line.get_marker() == "*"]
    assert len(stars) == 1 and list(stars[0].get_xdata()) == [12]
    assert {t.get_text() for t in ax.texts} >= {"3.6000", "3.2000", "3.0100"}

    grow.update(stopped_at=None)
    (tmp_path / "results.json").write_text(json.dumps(grow))
    fig = plot_grow(str(tmp_path), str(tmp_path / "grow2.png"))
    assert "no round has reached the baseline" in fig.axes[0].get_title()


def test_plot_ablation_groups_and_zooms(study, tmp_path):
    out = tmp_path / "ablation.png"
    runs = [str(study[k]) for k in ("scratch_T", "scratch_2T", "full_a", "full_b", "attn")]
    fig = plot_ablation(runs, str(out), baseline_run=str(study["ref"]))
    assert_png(out)
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["scratch\n16L T", "scratch\n16L 2T",
                      "Inheritune full\n16L T", "Inheritune attn_ln\n16L T"]
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


def test_log_line_being_written_is_skipped(study):
    with open(study["attn"] / "log.jsonl", "a") as f:
        f.write('{"step": 105, "tok')
    assert load_run(study["attn"]).log[-1]["step"] == 100


def test_bad_inputs_end_in_one_line(study, tmp_path):
    (tmp_path / "empty").mkdir()
    assert "does not exist" in one_line_exit(report_table, [str(tmp_path / "nope")])
    assert "no files match" in one_line_exit(report_table, [str(tmp_path / "zzz*")])
    message = one_line_exit(report_table, [str(tmp_path)])
    assert "not a run directory" in message and os.path.join(str(tmp_path), "*") in message
    assert "results.json" in one_line_exit(plot_grow, str(tmp_path / "empty"), str(tmp_path / "g.png"))
    assert "matches no run directory" in one_line_exit(report_table, [str(tmp_path / "emp*")])
    assert "unsupported image type" in one_line_exit(plot_runs_main, [str(study["ref"]), "--out", "x.jpg"])
    with open(study["ref"] / "log.jsonl", "r+") as f:
        f.write("not json\n")
    assert "line 1 is not valid JSON" in one_line_exit(report_table, [str(study["ref"])])


def test_script_errors_have_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "plots/report.py", str(tmp_path / "nope")],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{tmp_path / 'nope'} does not exist; pass a run directory made by train.py"


# tiny enough that each train.py process is mostly Python and torch start-up
TINY_RUN = ["--n_head=1", "--n_embd=16", "--block_size=16", "--batch_size=4", "--tokens_per_step=64",
            "--max_iters=6", "--warmup_iters=1", "--eval_interval=3", "--eval_tokens=256", "--log_interval=1"]


def test_real_train_runs_plot_and_report(tmp_path, builtin_data_dir):
    """Two real train.py runs (2 and 1 layers) go through every plot and the report."""
    data_dir = builtin_data_dir
    runs = {n_layer: tmp_path / f"{n_layer}L" for n_layer in (2, 1)}
    # both at once: each is mostly start-up, and the machine has two cores
    procs = [subprocess.Popen([sys.executable, "train.py", "config/tiny_cpu.py", f"--out_dir={out}",
                               f"--data_dir={data_dir}", f"--n_layer={n_layer}", *TINY_RUN],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
