"""Knowledge distillation in train.py: the KL term against a direct computation, the teacher's mode and
gradients, the mix of the two losses, and a distilled run whose loss falls on the built-in corpus."""
import json
from contextlib import nullcontext

import pytest
import torch

import distill
import train
from checkpoint import save_checkpoint
from model import GPT, GPTConfig
from helpers import one_line_exit

TINY = dict(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=64)
pytestmark = pytest.mark.usefixtures("single_process", "one_thread")


def test_kl_term_equals_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    student, teacher = torch.randn(2, 3, 2, 5, generator=g).unbind(0)  # (batch 3, tokens 2, vocab 5)
    for T in (1.0, 2.0):
        expected = 0.0
        for s_row, t_row in zip(student.reshape(-1, 5).double(), teacher.reshape(-1, 5).double()):
            p = torch.exp(t_row / T) / torch.exp(t_row / T).sum()
            q = torch.exp(s_row / T) / torch.exp(s_row / T).sum()
            expected += (p * (p / q).log()).sum() / 6  # KL(teacher || student), mean over the 6 tokens
        assert distill.distill_kl(student, teacher, T).item() == pytest.approx(T * T * expected.item(), rel=1e-5)
    assert distill.distill_kl(teacher, teacher, 2.0).abs().item() < 1e-6


def test_the_loss_mixes_data_and_kl_and_the_teacher_gets_no_gradient():
    torch.manual_seed(0)
    student, teacher_model = GPT(GPTConfig(**TINY)), GPT(GPTConfig(**TINY, dropout=0.5))
    teacher = distill.Teacher(teacher_model, weight=0.25, temperature=2.0)
    assert not teacher_model.training  # eval mode: dropout off, the same teacher every step
    x, y = torch.randint(0, 64, (2, 4, 32))
    loss = train.forward_backward(student, [(x[:2], y[:2]), (x[2:], y[2:])], 2, nullcontext(), teacher)
    logits, data_loss = student(x, y)
    kl = distill.distill_kl(logits, teacher_model(x)[0], 2.0)
    assert loss.item() == pytest.approx((0.75 * data_loss + 0.25 * kl).item(), rel=1e-6)
    assert teacher.last_parts.tolist() == pytest.approx([data_loss.item(), kl.item()], rel=1e-6)  # logged apart
    assert all(p.grad is None for p in teacher_model.parameters())
    assert all(p.grad is not None for p in student.parameters())


def test_distilled_run_loss_falls_and_the_settings_are_checked(builtin_bpe_data_dir, tmp_path, capsys):
    # the corpus in its own 1,024-token BPE: GPT-2's 50,304-row head made each step ~30 times dearer
    common = [f"--data_dir={builtin_bpe_data_dir}", "--dataset=builtin_bpe1024", "--device=cpu", "--dtype=float32",
              "--n_head=2", "--n_embd=32", "--block_size=32", "--batch_size=4", "--tokens_per_step=128",
              "--learning_rate=1e-2", "--min_lr=1e-3", "--warmup_iters=5", "--eval_tokens=1024",
              "--log_interval=10"]
    teacher_dir, student_dir = tmp_path / "teacher", tmp_path / "student"
    train.main(common + [f"--out_dir={teacher_dir}", "--n_layer=2", "--max_iters=30", "--eval_interval=30"])
    val_loss = train.main(common + [f"--out_dir={student_dir}", "--n_layer=1", "--max_iters=30",
                                    "--eval_interval=30", f"--distill_from={teacher_dir / 'ckpt.pt'}"])
    log = [json.loads(line) for line in (student_dir / "log.jsonl").read_text().splitlines()]
    assert val_loss < log[0]["val_loss"] - 1.0
    for line in log[1:]:  # the mix and its parts, logged apart
        assert line["train_loss"] == pytest.approx(0.5 * line["data_loss"] + 0.5 * line["distill_kl"], rel=1e-5)
    teacher_log = (teacher_dir / "log.jsonl").read_text()
    assert "train_loss" in teacher_log and "data_loss" not in teacher_log
    config = json.loads((student_dir / "config.json").read_text())
    assert (config["distill_from"], config["distill_weight"], config["distill_temperature"]) == (
        str(teacher_dir / "ckpt.pt"), 0.5, 1.0)
    # a resumed run keeps its teacher and settings
    message = one_line_exit(train.main, common + [f"--out_dir={student_dir}", "--n_layer=1", "--max_iters=40",
                                                  "--init_from=resume", "--distill_weight=0.9"])
    assert "distill_weight=0.9 (set by '--distill_weight=0.9') but the run" in message
    # ... and its teacher: it resumes from the same one, and is refused once the teacher trained on
    student = common + [f"--out_dir={student_dir}", "--n_layer=1", "--init_from=resume"]
    train.main(student + ["--max_iters=31"])
    train.main(common + [f"--out_dir={teacher_dir}", "--n_layer=2", "--max_iters=31", "--init_from=resume"])
    message = one_line_exit(train.main, student + ["--max_iters=32"])
    assert f"distill_from={teacher_dir / 'ckpt.pt'} is not the teacher this run was distilled from" in message
    # a teacher that cannot read the student's windows is refused before anything is written
    assert "block_size=32, below the student's 64" in one_line_exit(train.main, common + [
        f"--out_dir={tmp_path / 'z'}", "--n_layer=1", "--block_size=64", "--batch_size=2",
        f"--distill_from={teacher_dir / 'ckpt.pt'}"])
    assert not (tmp_path / "z").exists()
    # a teacher with another vocabulary, and weights outside [0, 1], are refused in one line
    save_checkpoint(tmp_path / "other" / "ckpt.pt", GPT(GPTConfig(**TINY)), {}, step=0)
    assert "vocab_size=64" in one_line_exit(train.main, common + [
        f"--out_dir={tmp_path / 'x'}", "--n_layer=1", f"--distill_from={tmp_path / 'other' / 'ckpt.pt'}"])
    assert "distill_weight=1.5 must be in [0, 1]" in one_line_exit(train.main, common + [
        f"--out_dir={tmp_path / 'y'}", "--distill_weight=1.5"])
