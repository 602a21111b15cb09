"""harness.py: this project's model in lm-evaluation-harness gives the harness's `hf` model's numbers on the export,
offline, over local task YAMLs (tests/data/harness_tasks) with fixture rows."""
import math
import shutil
from functools import partial

import lm_eval.evaluator
import pytest

import export_hf
import harness
from checkpoint import GPT2_VOCAB
from helpers import ROOT, one_line_exit, our_checkpoint
from evaluate import load_model
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM
from lm_eval.tasks import TaskManager
from model import GPT, GPTConfig

TASKS = ["sciq_tiny", "wikitext_tiny"]
INCLUDE = "tests/data/harness_tasks"  # the YAMLs name their data files from the repository root
pytestmark = pytest.mark.usefixtures("single_process", "one_thread")


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    # the environment report the harness adds to its results (pip list, nvidia-smi, ...): child processes, not checked
    monkeypatch.setattr(lm_eval.evaluator, "add_env_info", lambda results: None)


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    """harness.py's task index for the module, over the local tasks and 'gone', a copy of sciq_tiny whose data file
    does not exist; without the harness's own thousands of task YAMLs, whose reading costs ~7 s each time."""
    tasks = tmp_path_factory.mktemp("harness_tasks")
    shutil.copytree(ROOT / INCLUDE, tasks, dirs_exist_ok=True)
    (tasks / "gone.yaml").write_text((ROOT / INCLUDE / "sciq_tiny.yaml").read_text().replace(
        "tests/data/sciq_tiny.jsonl", str(tasks / "gone.jsonl")).replace("task: sciq_tiny", "task: gone"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(harness, "TaskManager", partial(TaskManager, include_defaults=False))
        return harness.task_manager([*TASKS, "gone"], str(tasks))


@pytest.fixture
def models(tmp_path, offline):
    """Ours over a checkpoint with a padded vocabulary and a 24-token context (so contexts and pages are cut and
    rolled), and the harness's hf model over its export."""
    ckpt, _ = our_checkpoint(tmp_path, block_size=24)
    export_hf.export(ckpt, tmp_path / "hf")
    ours = harness.InherituneLM(load_model(str(ckpt), "cpu"), "cpu", batch_size=3)
    return ours, HFLM(pretrained=str(tmp_path / "hf"), dtype="float32", device="cpu", batch_size=3)


def leaves(resps):
    """The numbers and flags of a sample's responses, whatever their nesting ((ll, greedy) per choice; a total)."""
    return [leaf for r in resps for leaf in (leaves(r) if isinstance(r, (list, tuple)) else [r])]


def test_our_model_gives_the_hf_models_numbers_on_local_tasks(models, manager):
    ours, hf = models
    got, want = (harness.run_tasks(lm, TASKS, manager, bootstrap_iters=0, log_samples=True) for lm in (ours, hf))
    for task in TASKS:
        assert got["results"][task].keys() == want["results"][task].keys()
        for metric, value in want["results"][task].items():
            if isinstance(value, float):
                assert got["results"][task][metric] == pytest.approx(value, rel=1e-5), (task, metric)
        # every request's answer, not only the means: each choice's log-likelihood and greedy flag, each page's total
        rows = [(g["resps"], w["resps"]) for g, w in zip(got["samples"][task], want["samples"][task], strict=True)]
        assert len(rows) == {"sciq_tiny": 4, "wikitext_tiny": 2}[task]
        for g, w in rows:
            for r, v in zip(leaves(g), leaves(w), strict=True):
                assert r == v if isinstance(v, bool) else r == pytest.approx(v, rel=1e-5, abs=1e-4), (task, g, w)
    assert math.isfinite(got["results"]["wikitext_tiny"]["word_perplexity,none"])
    assert got["results"]["sciq_tiny"]["acc,none"] in (0, 0.25, 0.5, 0.75, 1)


def test_greedy_generation_stops_as_the_hf_models(models):
    ours, hf = models
    requests = [Instance("generate_until", {}, (context, {"until": until, "max_gen_toks": 6, "do_sample": False}), i)
                for i, (context, until) in enumerate([("The heart is a", ["\n"]), ("Ice melts at zero", [" "]),
                                                      ("x" * 200, ["."])])]  # the last is cut to the context left
    got, want = ours.generate_until(requests), hf.generate_until(requests)
    assert got == want and any(got)


def test_the_table_has_the_papers_columns_and_the_local_tasks():
    results = {"hellaswag": {"acc,none": 0.3, "acc_norm,none": 0.34}, "sciq": {"acc,none": 0.8},
               "lambada_openai": {"acc,none": 0.4, "perplexity,none": 20.24}, "wikitext": {"word_perplexity,none": 25.5},
               "wikitext_tiny": {"word_perplexity,none": 9.0}}
    table = harness.markdown_table("m", results, ["hellaswag", "sciq", "lambada_openai", "wikitext", "wikitext_tiny"])
    assert table.splitlines() == [
        "| model | SciQ | HellaSwag | LAMBADA | average | WikiText ppl | LAMBADA ppl | wikitext_tiny ppl |",
        "|---|---|---|---|---|---|---|---|",
        "| m | 80.00 | 34.00 | 40.00 | 51.33 | 25.50 | 20.24 | 9.00 |"]


def test_an_unknown_task_and_missing_task_data_end_in_one_line(manager, offline, monkeypatch):
    monkeypatch.setattr(harness, "TaskManager", lambda include_path: manager)  # its index, not a new one
    assert "sciq_tin" in one_line_exit(harness.task_manager, ["sciq_tin"], INCLUDE)
    lm = harness.InherituneLM(GPT(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=GPT2_VOCAB)))
    assert "--include-path" in one_line_exit(harness.run_tasks, lm, ["gone"], manager)
