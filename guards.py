"""What stops a run safely: SIGTERM or Ctrl-C (save after the current step, then stop), and the first non-finite
loss or gradient norm, noted on the device with no host sync and agreed on by every rank at the loop's check points.
"""
import signal

import torch
import torch.distributed as dist


class StopSignals:
    """SIGTERM and SIGINT (Ctrl-C) ask the run to stop after the current step and save; a second
    Ctrl-C stops at once without saving."""

    def __init__(self, master):
        self.master, self.received = master, None

    def handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise SystemExit("interrupted twice: stopped without saving; resume from the last checkpoint "
                             "with --init_from=resume" if self.master else 1)
        first, self.received = self.received is None, self.received or signal.Signals(signum).name
        if first and self.master:  # noted first: a Ctrl-C landing inside this print is the second one
            print(f"{signal.Signals(signum).name}: saving a checkpoint after this step, then stopping "
                  "(Ctrl-C again stops at once, without saving)", flush=True)

    def __enter__(self):
        self.previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


NEVER = torch.iinfo(torch.int64).max  # "no non-finite step yet"


def note_non_finite(first_bad, loss, grad_norm, step):
    """The first step whose loss or gradient norm was NaN or inf, kept on the device: no host sync."""
    return torch.where(torch.isfinite(loss + grad_norm), first_bad, first_bad.clamp(max=step))


def agree(first_bad, stop_requested, d):
    """At a check point, every rank learns the first non-finite step of any rank (None if none) and
    whether any rank was asked to stop; one host sync and, under DDP, one small all-reduce."""
    flags = torch.stack([first_bad, torch.tensor(-int(stop_requested), device=first_bad.device)])
    if d.world_size > 1:
        dist.all_reduce(flags, op=dist.ReduceOp.MIN)
    bad, stop = flags.tolist()
    return (None if bad == NEVER else bad), stop < 0


def stop_every_rank(message, d):
    """Every rank stops; the master says why (one line), the others exit 1 quietly."""
    raise SystemExit(message if d.master else 1)
