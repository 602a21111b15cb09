"""bench.py's CPU smoke version times train.py's real step and reports every figure."""
import bench


def test_smoke_bench_reports_speed_figures(builtin_data_dir):
    (result,) = bench.main(["--smoke", f"--data_dir={builtin_data_dir}", "--iters=1", "--warmup=1",
                            "--batch_size=4", "--block_size=32", "--n_layer=1"])
    assert result["bench"] == "tiny-cpu" and result["device"] == "cpu" and result["torch"]
    assert result["n_layer"] == 1 and result["batch_size"] == 4 and result["block_size"] == 32
    assert result["ms_per_iter"] > 0
    assert abs(result["tokens_per_s"] - 4 * 32 / (result["ms_per_iter"] / 1e3)) <= 1
    assert result["tokens_per_s_synthetic"] > 0 and result["real_over_synthetic"] > 0
    assert result["mfu"] is None and result["peak_mem_gb"] is None  # no peak FLOP/s or CUDA memory on a CPU
