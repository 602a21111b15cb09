"""bench.py: its CPU smoke version times train.py's real step and reports every figure; --cpu sets train.py's step beside a plain loop's."""
import inspect
from types import SimpleNamespace

import pytest
import torch

import bench
import settings
import train
from checkpoint import load_checkpoint
from configurator import load_config
from data import load_tokens, resolve_vocab_size, train_batches
from helpers import one_line_exit


def test_smoke_bench_reports_speed_figures(builtin_data_dir):
    (result,) = bench.main(["--smoke", f"--data_dir={builtin_data_dir}", "--iters=1", "--warmup=1",
                            "--batch_size=4", "--block_size=32", "--n_layer=1"])
    assert result["bench"] == "tiny-cpu" and result["device"] == "cpu" and result["torch"]
    assert result["n_layer"] == 1 and result["batch_size"] == 4 and result["block_size"] == 32
    assert result["ms_per_iter"] > 0
    assert abs(result["tokens_per_s"] - 4 * 32 / (result["ms_per_iter"] / 1e3)) <= 1
    assert result["mfu"] is None and result["peak_mem_gb"] is None  # no peak FLOP/s or CUDA memory on a CPU


def test_smoke_bench_times_train_pys_batches_against_synthetic_ones(builtin_data_dir, monkeypatch):
    """A clock that charges 3 ms for a step on the batches train.py draws at that step and 2 ms for any
    other step: the real-data figures must come from the first cost, the synthetic ones from the second."""
    options = [f"--data_dir={builtin_data_dir}", "--batch_size=4", "--block_size=32", "--n_layer=1"]
    cfg = SimpleNamespace(**load_config(settings.DEFAULTS, [str(bench.SMOKE["tiny-cpu"]), *options], settings.CHOICES))
    cfg.vocab_size = resolve_vocab_size(cfg)  # as prepare() does for the scratch run bench.py builds
    train.resolve_data_seed(cfg, None)
    data, d = load_tokens(cfg, "train"), train.Dist(0, 0, 1, "cpu")

    def drawn_by_train_py(batches):  # at one of the first steps
        return any(len(batches) == len(expected) and all(torch.equal(x, ex) and torch.equal(y, ey)
                                                         for (x, y), (ex, ey) in zip(batches, expected))
                   for expected in (list(train_batches(data, cfg, s, 1, d)) for s in range(10)))

    clock, steps = [0.0], {"real": 0, "synthetic": 0}
    signature = inspect.signature(train.train_step)

    def charged_step(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.arguments["batches"] = list(call.arguments["batches"])
        kind = "real" if drawn_by_train_py(call.arguments["batches"]) else "synthetic"
        steps[kind] += 1
        clock[0] += {"real": 3e-3, "synthetic": 2e-3}[kind]
        return train.train_step(*call.args, **call.kwargs)

    monkeypatch.setattr(bench, "train_step", charged_step)
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    (result,) = bench.main(["--smoke", "--iters=2", "--warmup=1", *options])
    assert steps == {"real": 1 + 1 + 2, "synthetic": 2}  # first step, warmup, timed; timed
    assert result["ms_per_iter"] == 3.0 and result["compile_s"] == 0
    assert result["tokens_per_s"] == round(4 * 32 / 3e-3)
    assert result["tokens_per_s_synthetic"] == round(4 * 32 / 2e-3)
    assert result["real_over_synthetic"] == round(2 / 3, 4)


def test_smoke_bench_with_accumulation_and_profile(builtin_data_dir):
    (result,) = bench.main(["--smoke", f"--data_dir={builtin_data_dir}", "--iters=1", "--warmup=1", "--accum=2",
                            "--profile", "--batch_size=2", "--block_size=32", "--n_layer=1"])
    assert result["accum"] == 2
    assert abs(result["tokens_per_s"] - 2 * 2 * 32 / (result["ms_per_iter"] / 1e3)) <= 1
    profile = result["profile"]
    assert "matmul" in profile["categories"] and profile["top_kernels"]
    shares = sum(c["share"] for c in profile["categories"].values())
    assert abs(shares - 1) < 0.01
    assert abs(sum(c["ms"] for c in profile["categories"].values()) - profile["device_ms_per_step"]) < 0.1


def test_kernel_categories():
    assert bench.category("nvjet_sm90_tst_256x128_64x4_1x2_h_bz_coopA_NNT") == "matmul"
    assert bench.category("cudnn_generated_fort_native_sdpa_sm90_flash_bprop_wgmma_f16") == "attention"
    assert bench.category("void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel") == "attention"
    assert bench.category("void multi_tensor_apply_kernel<FusedOptimizerTensorListMetadata>") == "optimizer"
    assert bench.category("triton_per_fused__to_copy_add_native_layer_norm_backward_view_5") == "fused (inductor)"
    assert bench.category("aten::addmm") == "matmul" and bench.category("Memcpy HtoD") == "other"


def test_gpu_bench_without_a_gpu_points_to_smoke(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert one_line_exit(bench.main, []).endswith("python bench.py --smoke")
    assert "--smoke" in one_line_exit(bench.main, ["--only", "gpt2l-18L"])


TINY = ["--n_layer=1", "--batch_size=4", "--block_size=32", "--tokens_per_step=128"]


def test_the_plain_loop_trains_what_train_py_trains(builtin_data_dir, tmp_path):
    """--cpu's yardstick does train.py's work and no other: with the gradient unscaled, both end at the same weights
    after the same steps."""
    argv = [str(bench.SMOKE["tiny-cpu"]), f"--data_dir={builtin_data_dir}", *TINY, "--grad_scale=1.0",
            "--grad_clip=0.5"]
    model = bench.plain_loop(argv, 3)
    train.main([*argv, "--max_iters=3", "--eval_interval=3", f"--out_dir={tmp_path}"])
    trained = load_checkpoint(tmp_path / "ckpt.pt")["model"]
    assert trained.keys() == model.state_dict().keys()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, trained[name], msg=name)


@pytest.mark.slow
def test_cpu_bench_reports_train_pys_step_over_the_plain_loops(builtin_data_dir):
    options = [f"--data_dir={builtin_data_dir}", "--dataset=builtin", *TINY]
    (result,) = bench.main(["--cpu", "--warmup=1", "--iters=2", "--repeats=1", *options])
    assert result["bench"] == "cpu-step" and result["steps"] == [1, 3] and result["repeats"] == 1
    assert result["argv"] == [str(bench.CPU_SHAPE), *options]
    for key in ("ratio_cpu", "ratio_wall", "ratio_whole_process_cpu", "ratio_whole_process_wall"):
        assert isinstance(result[key], float), key
    assert one_line_exit(bench.main, ["--cpu", "--repeats=1", *options, "--no_such_key=1"]).startswith(
        "bench.py --cpu: train.py")
