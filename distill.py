"""Knowledge distillation, a baseline of the paper's later versions: the teacher and the loss it adds to a student's
data loss (train.py distill_from, distill_weight, distill_temperature).
"""
import torch
import torch.nn.functional as F

from checkpoint import checksum, load_model_source
from configurator import ConfigError
from data import check_tokenizer
from model import GPT, GPTConfig


def distill_kl(logits, teacher_logits, temperature):
    """T^2 * KL(teacher || student) of the next-token distributions at temperature T, mean over tokens;
    T^2 keeps the gradient's scale as T changes (Hinton et al. 2015)."""
    student, teacher = (F.log_softmax(t.float() / temperature, dim=-1).flatten(0, -2) for t in (logits, teacher_logits))
    return temperature ** 2 * F.kl_div(student, teacher, log_target=True, reduction="batchmean")


class Teacher:
    """The distillation teacher: eval mode, no gradients, run under the student's autocast on its micro-batch
    (under DDP every rank runs its own copy on its own micro-batches)."""

    def __init__(self, model, weight, temperature, identity=None):
        self.model, self.weight, self.temperature = model.eval().requires_grad_(False), weight, temperature
        self.identity = identity  # the checksum of its weights and shape: a resumed student keeps its teacher
        self.last_parts = None  # the last step's mean data loss and KL term (a tensor of 2), logged apart

    def loss(self, logits, data_loss, x):
        """The mixed loss, and its two parts (detached)."""
        with torch.no_grad():
            teacher_logits, _ = self.model(x)
        kl = distill_kl(logits, teacher_logits, self.temperature)
        return (1 - self.weight) * data_loss + self.weight * kl, torch.stack([data_loss, kl]).detach()


def load_teacher(cfg, device, distilled_from=None):
    """cfg.distill_from's model as a Teacher, or None without distillation. distilled_from: the identity of the
    teacher a resumed run was distilled from (None: a new run, or one from before runs recorded it)."""
    if not cfg.distill_from:
        return None
    source = load_model_source(cfg.distill_from)
    check_tokenizer(source.get("tokenizer"), cfg.data_dir, cfg.dataset, f"distill_from={cfg.distill_from}")
    teacher_args = source["model_args"]
    if teacher_args["vocab_size"] != cfg.vocab_size:
        raise ConfigError(f"distill_from={cfg.distill_from} has vocab_size={teacher_args['vocab_size']}, the "
                          f"student {cfg.vocab_size}: distillation compares their distributions token by token; "
                          "use a teacher with the student's vocabulary")
    if teacher_args["block_size"] < cfg.block_size:
        raise ConfigError(f"distill_from={cfg.distill_from} has block_size={teacher_args['block_size']}, below the "
                          f"student's {cfg.block_size}: it cannot read the student's windows; use a teacher with "
                          f"block_size >= {cfg.block_size} or set --block_size={teacher_args['block_size']}")
    identity = checksum({"model": source["model"], "model_args": teacher_args})
    if distilled_from is not None and identity != distilled_from:
        raise SystemExit(f"distill_from={cfg.distill_from} is not the teacher this run was distilled from (its weights' "
                         f"checksum is {identity}, the run's teacher's {distilled_from}): it changed since, e.g. it "
                         "trained on; put that teacher back to resume, or start a new out_dir")
    model = GPT(GPTConfig(**{**teacher_args, "dropout": 0.0}))
    model.load_state_dict(source["model"])
    return Teacher(model.to(device), cfg.distill_weight, cfg.distill_temperature, identity)
