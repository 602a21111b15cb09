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
