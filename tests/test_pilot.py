"""The depth-regime pilot (pilot.py): its arms follow the study's seeds and batch orders and one learning-rate
rule, so a study that retrains a point's reference reproduces it; its parameter count is the model's."""
import pytest

import pilot
import study


@pytest.mark.parametrize("name", sorted(pilot.POINTS))
def test_arms_are_the_studys_reference_and_scratch_at_half_depth(name):
    for seed in (0, 2):
        (ref_name, ref), (scratch_name, scratch) = pilot.arms(name, seed)
        assert (ref_name, scratch_name) == ("reference", "scratch")
        assert ref["seed"] == scratch["seed"] == seed
        assert (ref["data_seed"], scratch["data_seed"]) == tuple(study.data_orders(seed).values())
        assert scratch["n_layer"] == ref["n_layer"] // 2
        assert {k: v for k, v in scratch.items() if k not in ("n_layer", "data_seed")} == \
            {k: v for k, v in ref.items() if k not in ("n_layer", "data_seed")}
        assert ref["learning_rate"] == pytest.approx(pilot.LR_AT_D64 * 64 / ref["n_embd"])
        assert ref["min_lr"] == pytest.approx(ref["learning_rate"] / 10)
        assert ref["n_embd"] // ref["n_head"] in range(16, 33)  # heads of 16-32 dimensions


def test_the_first_studys_point_is_its_recipe():
    base = study.study_settings("cpu", quick=False)
    assert pilot.recipe("kjv_d64_K8") == base


@pytest.mark.parametrize("name, vocab, share", [("pcfg_d64_K8", 260, 0.94), ("kjv_d64_K8", 1024, 0.84)])
def test_parameters_and_the_blocks_share(name, vocab, share):
    total, blocks = pilot.parameters(pilot.recipe(name), vocab)
    d = pilot.POINTS[name]["n_embd"]
    assert total == 8 * (12 * d * d + 2 * d) + vocab * d + 128 * d + d  # no biases: 8 blocks, wte, wpe, ln_f
    assert blocks == pytest.approx(share, abs=0.005)
