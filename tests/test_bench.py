"""bench.py's CPU smoke version times train.py's real step and reports every figure."""
import inspect
from types import SimpleNamespace

import torch

import bench
import settings
import train
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

    def drawn_by_train_py(batches, seed):
        step = next((s for s in range(100) if train.dropout_seed(cfg, s, 0) == seed), None)
        expected = [] if step is None else list(train_batches(data, cfg, step, 1, d))
        return len(batches) == len(expected) and all(
            torch.equal(x, ex) and torch.equal(y, ey) for (x, y), (ex, ey) in zip(batches, expected))

    clock, steps = [0.0], {"real": 0, "synthetic": 0}
    signature = inspect.signature(train.train_step)

    def charged_step(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.arguments["batches"] = list(call.arguments["batches"])
        kind = "real" if drawn_by_train_py(call.arguments["batches"], call.arguments["seed"]) else "synthetic"
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
