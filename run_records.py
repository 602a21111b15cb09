"""A run directory's records, written by train.py's master rank: config.json once per run (with the git commit),
log.jsonl lines, result.json and eval.json, each whole or not at all; a write that fails (a full disk) ends in one
line, and a run warns at start when the disk cannot hold its next checkpoint. With wandb_log, the config and every
logged line also go to Weights & Biases.

Their readers are here too, for every reader of a run directory (the grow loop, study.py, export_hf.py, plots/): a
damaged file ends in one line saying what to do.
"""
import datetime
import json
import math
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

from checkpoint import MODEL_KEYS
from data import read_json_object, write_json_atomically, write_text_atomically
from settings import require_wandb


def cannot_write(path, e):
    """One line for a run file that could not be written, most often on a full disk; what was written before stays."""
    return SystemExit(f"cannot write {path} ({e.strerror or e}): disk full or not writable; the files written before "
                      "are kept; free space, then run the same command again (--init_from=resume continues from "
                      "the last checkpoint)")


def write_run_file(path, content, write=write_text_atomically):
    """A file of the run directory, whole or not at all: a kill or a full disk keeps the old one."""
    try:
        write(path, content)
    except OSError as e:
        raise cannot_write(path, e) from None


def write_run_json(path, obj):
    write_run_file(path, obj, write_json_atomically)


def _logged_step(line):
    """The step of a log.jsonl line; a blank or half-written one (a crash mid-write) counts as none."""
    try:
        return json.loads(line)["step"]
    except (ValueError, KeyError, TypeError):
        return math.inf


class RunLog:
    """config.json once per run, then log.jsonl lines; only the master rank writes."""

    def __init__(self, out_dir, master):
        self.path = Path(out_dir) / "log.jsonl"
        self.master = master
        self.tracker = None  # a wandb run (see tracking) that also receives every line

    def start(self, record, resumed_step):
        if not self.master:
            return
        config_path = self.path.parent / "config.json"
        before = self.previous_config(config_path) if resumed_step is not None else None
        if before is None:
            write_run_json(config_path, record)
        else:  # config.json keeps how the run began; it must still describe the model being trained
            for key in MODEL_KEYS:
                if before.get(key, record[key]) != record[key]:
                    raise SystemExit(f"{config_path} says {key}={before[key]!r} but the checkpoint's model has "
                                     f"{key}={record[key]!r}: ckpt.pt comes from another run; put this run's "
                                     "checkpoint back or start a new out_dir")
        if resumed_step is None:
            write_run_file(self.path, "")
        else:  # drop lines logged after the checkpoint we resume from: they will be redone
            lines = self.path.read_text().splitlines() if self.path.exists() else []
            kept = [ln for ln in lines if _logged_step(ln) <= resumed_step]
            write_run_file(self.path, "".join(ln + "\n" for ln in kept))

    @staticmethod
    def previous_config(config_path):
        """The resumed run's config.json; None if missing, or damaged (it is then written again)."""
        if not config_path.exists():
            return None
        before = read_json_object(config_path)
        if before is None:
            print(f"warning: {config_path} is damaged (not a JSON object): written again from the checkpoint",
                  flush=True)
            return None
        return before

    def write(self, eta_s=None, **record):
        """One log.jsonl line; the printed line also carries the run's estimated time left (eta_s)."""
        if self.master:
            try:  # a half-written last line is dropped on resume
                with open(self.path, "a") as f:
                    f.write(json.dumps(record) + "\n")
            except OSError as e:
                raise cannot_write(self.path, e) from None
            if self.tracker is not None:
                self.tracker.log({k: v for k, v in record.items() if v is not None})
            shown = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in record.items() if v is not None)
            eta = f" eta {datetime.timedelta(seconds=round(eta_s))}" if eta_s is not None else ""
            print(shown + eta, flush=True)


@contextmanager
def tracking(cfg, config, master):
    """The Weights & Biases run of a training run (wandb_log, rank 0 only; else None), finished when the run ends.
    Its id is the run's wandb_run_id, so a resumed run continues it. Charts are drawn against the training step:
    steps redone after a resume are logged again rather than dropped."""
    if not (cfg.wandb_log and master):
        yield None
        return
    require_wandb()  # also when a resumed run took wandb_log from its checkpoint
    import wandb
    try:
        run = wandb.init(project=cfg.wandb_project, name=cfg.wandb_run_name or cfg.out_dir,
                         group=cfg.wandb_group or None, id=cfg.wandb_run_id, resume="allow", config=config,
                         dir=cfg.out_dir)
    except Exception as e:  # wandb raises many kinds (no login, no network, a bad project name)
        reason = str(e).strip().split("\n")[0]
        raise SystemExit(f"wandb could not start ({type(e).__name__}: {reason}): run "
                         "`wandb login`, or set WANDB_MODE=offline and `wandb sync` later, or track nothing (--wandb_log=False)") from None
    run.define_metric("step")
    run.define_metric("*", step_metric="step")
    try:
        yield run
    except BaseException:
        run.finish(exit_code=1)
        raise
    run.finish()


def git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def warn_if_disk_is_short(out_dir, raw_model):
    """A checkpoint holds the fp32 weights and AdamW's two moments; the next save needs that much free."""
    need = 3 * sum(p.numel() * 4 for p in raw_model.parameters())
    free = shutil.disk_usage(out_dir).free
    if free < need:
        print(f"warning: {free / 2**20:.3g} MiB free in {out_dir}, less than one checkpoint "
              f"(~{need / 2**20:.3g} MiB): saving will fail; free space first", flush=True)


# ---- reading a run directory ------------------------------------------------------------------

RESULT_NUMBERS = ("step", "tokens", "val_loss", "num_params", "elapsed_s", "clip_rate")  # of result.json


def read_run_json(path, remedy, numbers=()):
    """A JSON object of a run directory or a folder of runs (config.json, result.json, eval.json, the grow loop's
    results.json...), or one line saying it is damaged and what to do (`remedy`); its keys `numbers` must hold
    finite numbers (true, NaN or a list do not)."""
    value = read_json_object(path)
    if value is None:
        raise SystemExit(f"{path} is damaged (not a JSON object): {remedy}")
    for key in numbers:
        if type(value.get(key)) not in (int, float) or not math.isfinite(value[key]):
            raise SystemExit(f"{path} is damaged ({key} is {value.get(key)!r}, not a finite number): {remedy}")
    return value


def read_result(run_dir, remedy):
    """A finished run's result.json, its numbers checked."""
    return read_run_json(Path(run_dir) / "result.json", remedy, RESULT_NUMBERS)


def read_log(path):
    """log.jsonl's records; a final line without newline that does not parse is still being written."""
    with open(path) as f:
        lines = f.read().split("\n")
    records = []
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines):
                break
            raise SystemExit(f"{path} line {i} is not valid JSON; fix or remove that line")
        if "step" not in records[-1]:
            raise SystemExit(f"{path} line {i} has no 'step'; is this a train.py log?")
    return records
