"""The study's reports: paired statistics and verdicts, the answers the reports give, and every committed report's
markdown rendered again from its JSON alone."""
import json
import math
import subprocess
import sys

import pytest

import study_report
from helpers import ROOT, one_line_exit
from study_report import LAYER_ROWS, REPORTS, comparison, paired, verdict

# every report study.py wrote and this repository keeps (a run's own results.json, under runs/, is none)
COMMITTED = sorted(str(p.relative_to(ROOT)) for name in REPORTS for p in ROOT.glob(f"results/**/{name}")
                   if "runs" not in p.relative_to(ROOT).parts)


def test_the_committed_reports_are_all_checked():
    assert {"results/results.json", "results/layers.json", "results/pcfg/results.json"} <= set(COMMITTED)


@pytest.mark.parametrize("report", COMMITTED)
def test_a_committed_report_renders_from_its_json_byte_for_byte(report):
    md = (ROOT / report).with_name(REPORTS[(ROOT / report).name][0])
    assert study_report.render(ROOT / report) == md.read_text()


@pytest.mark.slow
def test_the_renderer_runs_as_a_script():
    proc = subprocess.run([sys.executable, "study_report.py", "results/pcfg/results.json"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout == (ROOT / "results" / "pcfg" / "study.md").read_text()


def test_a_json_the_renderer_cannot_read_ends_in_one_line(tmp_path):
    assert "not a report's JSON" in one_line_exit(study_report.main, [str(tmp_path / "search.json")])
    assert "does not exist" in one_line_exit(study_report.main, [str(tmp_path / "layers.json")])
    old = {k: v for k, v in json.loads((ROOT / "results" / "results.json").read_text()).items() if k != "labels"}
    (tmp_path / "results.json").write_text(json.dumps(old))
    assert "has no 'labels': an older study.py" in one_line_exit(study_report.main, [str(tmp_path / "results.json")])


def test_the_authors_ordering_is_judged_from_the_paired_intervals():
    def judged(**rows):
        rows = {"inheritune_n4": [3.0, 3.01, 3.02], "reference": [3.0, 3.0, 3.0], **rows}
        names = ["inheritune_n4", "stack1", "stack2", "half_width", "reference"]
        compared = [comparison(f"{a} - {b}", a, b, rows) for a, b in study_report.baseline_pairs(names)]
        return study_report.authors_order({"comparisons": compared,
                                           "authors_final_val_loss": study_report.AUTHORS_ORDER})[0]
    theirs = dict(stack2=[3.0, 3.005, 2.995], stack1=[3.2, 3.21, 3.22], half_width=[3.4, 3.41, 3.42])
    assert "**holds**" in judged(**theirs)
    assert "**does not hold (stacking 1 round worse than 2 rounds: no)**" in judged(**{**theirs, "stack1": [2.8] * 3})
    assert "**inconclusive (stacking 2 rounds ≈ the reference: inconclusive;" in judged(
        **{**theirs, "stack2": [3.0, 3.1, 2.9]})


def test_rows_against_first_n_and_the_answers_they_give():
    assert verdict(paired([1.0, 1.1, 1.2], [2.0, 2.0, 2.0]), "versus") == "better"
    assert verdict(paired([2.2, 2.3, 2.25], [2.0, 2.0, 2.0]), "versus") == "worse"
    assert verdict(paired([2.0, 2.005, 1.995], [2.0, 2.0, 2.0]), "versus") == "equal (within ±0.02)"
    assert verdict(paired([1.0, 3.0, 1.0], [2.0, 2.0, 2.0]), "versus") == "inconclusive"
    assert verdict(paired([1.0], [2.0]), "versus") == "inconclusive (one seed)"
    first = [3.0, 3.01, 3.02]
    rows = {"first_n4": first, "spread_n4": [2.9, 2.91, 2.93], "influence_n4": [3.2, 3.21, 3.23],
            "rank_n4": [3.3, 3.0, 2.8], "distill_scratch_n4": [3.5, 3.52, 3.51], "distill_inherit_n4": first}
    numbers = {"labels": {f"{r}_n4": [label, 4] for r, label in LAYER_ROWS.items()},
               "selection": {f"{p}_n4": [] for p in ("first", "spread", "influence", "rank")},
               "comparisons": [comparison("", r, "first_n4", rows) for r in rows if r != "first_n4"]}
    best, kd = study_report.answer(numbers, 4)
    assert best.startswith("**Is first-n the best choice at n = 4?** No: Inheritune, n spread over K: -0.0967")
    assert "worse than first-n: Inheritune, n most influential" in best and "inconclusive: Inheritune, n least" in best
    assert "scratch init: +0.5000" in kd and kd.count("worse") == 1 and kd.endswith("equal (within ±0.02).")


def test_claim_a_is_judged_from_the_grow_loops_outcome():
    stopped = {0: {"stopped_at": 4}, 1: {"stopped_at": 6}, 2: {"stopped_at": 4}}
    assert study_report.grow_verdict(stopped, 8) == "holds"
    failed = {**stopped, 1: {"stopped_at": None}}
    assert study_report.grow_verdict(failed, 8).startswith("does not hold (seed 1: no n up to 6")
    assert study_report.grow_verdict({0: {"stopped_at": 2}}, 4) == "holds (one seed)"


def test_detectable_difference_and_seeds_to_decide():
    d = paired([3.0, 4.0, 5.0], [0.0, 0.0, 0.0])  # mean 3, std 1, 3 seeds
    assert study_report.detectable(d) == pytest.approx((4.302653 + 1.060660) / math.sqrt(3), rel=1e-5)
    # t(0.975, 1) x 1 / sqrt 2 = 8.98 > 3 > t(0.975, 2) / sqrt 3 = 2.48: three seeds clear 0
    assert study_report.seeds_to_decide(d, "beats") == 3
    close = paired([0.02, 0.03, 0.04], [0.0, 0.0, 0.0])  # mean 0.03, std 0.01: 0.01 above the margin
    assert verdict(close, "matches") == "inconclusive"
    # t(0.975, 5) / sqrt 6 = 1.05 > 1 > t(0.975, 6) / sqrt 7 = 0.92: seven seeds put the interval above 0.02
    assert study_report.seeds_to_decide(close, "matches") == 7
    assert study_report.detectable(paired([1.0], [0.0])) is None and study_report.seeds_to_decide(
        paired([1.0], [0.0]), "beats") is None


def test_paired_differences_and_verdicts():
    d = paired([3.0, 4.0, 5.0], [1.0, 1.0, 1.0])  # differences 2, 3, 4
    half = 4.302652729911275 / math.sqrt(3)  # t(0.975, 2 df) x std 1 / sqrt 3
    assert (d["diffs"], d["mean"], d["std"]) == ([2.0, 3.0, 4.0], 3.0, 1.0)
    assert (d["lo"], d["hi"]) == pytest.approx((3 - half, 3 + half))
    assert verdict(d, "beats") == "does not hold"  # interval (0.52, 5.48) lies above 0
    assert verdict(paired([1.0, 1.1, 1.2], [2.0, 2.0, 2.0]), "beats") == "holds"
    assert verdict(paired([1.0, 3.0, 1.0], [2.0, 2.0, 2.0]), "beats") == "inconclusive"
    assert verdict(paired([2.01, 2.005, 2.012], [2.0, 2.0, 2.0]), "matches") == "holds"  # worse, within the margin
    assert verdict(paired([2.0, 2.005, 1.995], [2.0, 2.0, 2.0]), "equal") == "holds"
    assert verdict(paired([2.2, 2.3, 2.25], [2.0, 2.0, 2.0]), "equal") == "does not hold"
    assert verdict(paired([1.0], [2.0]), "beats") == "inconclusive (one seed)"
    # "matches" allows MATCH_MARGIN worse: an interval straddling the margin is inconclusive, one above it fails
    assert verdict(paired([2.018, 2.02, 2.022], [2.0, 2.0, 2.0]), "matches") == "inconclusive"
    assert verdict(paired([2.05, 2.06, 2.055], [2.0, 2.0, 2.0]), "matches") == "does not hold"
    assert verdict(paired([2.0, 2.03, 2.01], [2.0, 2.0, 2.0]), "equal") == "inconclusive"


def test_plateau_is_the_relative_gain_of_the_last_fifth(tmp_path):
    losses = {0: 7.0, 40: 4.0, 70: 3.2, 90: 3.0, 100: 2.97}
    (tmp_path / "log.jsonl").write_text("".join(json.dumps({"step": s, "val_loss": v}) + "\n" for s, v in losses.items())
                                        + json.dumps({"step": 90, "train_loss": 1.0}) + "\n")
    assert study_report.plateau(tmp_path) == pytest.approx(0.23 / 3.2)  # from the last evaluation at or before step 80
