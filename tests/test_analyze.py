"""analyze.py: attention rank and first-token mass, with answers known in closed form."""
import json
import math

import pytest
import torch

import analyze
from checkpoint import save_checkpoint
from model import GPT, GPTConfig


uniform_causal = analyze.uniform_causal


@pytest.mark.parametrize("T", [10, 16, 128])
def test_rank_of_attention_on_the_first_token_and_on_itself(T):
    first = torch.zeros(T, T)
    first[:, 0] = 1.0
    assert analyze.energy_rank(first, 0.9).item() == 1
    assert analyze.first_token_mass(first).item() == 1.0
    itself = torch.eye(T)
    assert analyze.energy_rank(itself, 0.9).item() == math.ceil(0.9 * T)  # equal singular values
    assert analyze.energy_rank(itself, 0.5).item() == math.ceil(0.5 * T)
    assert analyze.first_token_mass(itself).item() == pytest.approx(1 / T)


def test_rank_of_uniform_causal_attention():
    # T=2: P = [[1, 0], [1/2, 1/2]], P P^T = [[1, 1/2], [1/2, 1/2]] has trace 3/2 and determinant 1/4, so its
    # eigenvalues (the squared singular values) are (3/2 +- sqrt(5)/2)/2; the top one holds (3 + sqrt 5)/6 = 0.873
    top_share = (3 + math.sqrt(5)) / 6
    P = uniform_causal(2)
    assert analyze.energy_rank(P, 0.9).item() == 2
    assert analyze.energy_rank(P, top_share - 1e-6).item() == 1
    assert analyze.energy_rank(P, top_share + 1e-6).item() == 2
    # its squared spectrum sums to the squared Frobenius norm, sum_i (i+1) / (i+1)^2 = H_T, and the mass
    # on the first token is H_T / T (row i puts 1/(i+1) on it)
    T = 64
    H = sum(1 / i for i in range(1, T + 1))
    assert (torch.linalg.svdvals(uniform_causal(T).double()) ** 2).sum().item() == pytest.approx(H)
    assert analyze.first_token_mass(uniform_causal(T)).item() == pytest.approx(H / T)


def test_hooked_probabilities_reproduce_the_models_attention_at_every_layer_scale():
    torch.manual_seed(0)
    model = GPT(GPTConfig(n_layer=3, n_head=2, n_embd=16, block_size=12, vocab_size=50, bias=False,
                          scale_attn_by_inverse_layer_idx=True))
    with torch.no_grad():
        for block in model.transformer.h:
            block.attn.c_attn.weight.mul_(20)  # logits large enough for the 1/(layer+1) scale to matter
    seen = []
    hooks = [b.attn.register_forward_hook(lambda m, a, out: seen.append((m, a[0], out))) for b in model.transformer.h]
    model(torch.randint(0, 50, (3, 12)))
    for h in hooks:
        h.remove()
    for attn, x, out in seen:
        B, T, C = x.shape
        v = attn.c_attn(x).split(C, dim=2)[2].view(B, T, attn.n_head, -1).transpose(1, 2)
        y = (analyze.attention_probs(attn, x) @ v).transpose(1, 2).reshape(B, T, C)
        torch.testing.assert_close(attn.c_proj(y), out, atol=1e-5, rtol=1e-4)


def test_cli_writes_table_json_and_heatmap(builtin_bpe_data_dir, tmp_path, capsys):
    torch.manual_seed(0)
    T = 32
    model = GPT(GPTConfig(n_layer=3, n_head=2, n_embd=16, block_size=T, vocab_size=1024, bias=False))
    with torch.no_grad():
        model.transformer.h[1].attn.c_attn.weight[:16].zero_()  # q = 0: layer 1 attends uniformly
    ckpt = tmp_path / "ref" / "ckpt.pt"
    save_checkpoint(ckpt, model, {"data_dir": str(builtin_bpe_data_dir), "dataset": "builtin_bpe1024"}, step=7)
    analyze.main([str(ckpt), "--windows", "3", "--out", str(tmp_path / "a")])

    report = json.loads((tmp_path / "a" / "attention.json").read_text())
    assert (report["windows"], report["block_size"], report["step"], len(report["layers"])) == (3, T, 7, 3)
    H = sum(1 / i for i in range(1, T + 1))
    assert report["layers"][1]["first_token_mass"] == pytest.approx([H / T] * 2)
    uniform_rank = analyze.energy_rank(uniform_causal(T), 0.9).item()
    assert report["layers"][1]["rank"] == [uniform_rank] * 2
    assert (report["uniform_causal_rank"], report["self_rank"]) == (uniform_rank, math.ceil(0.9 * T))
    out = capsys.readouterr().out
    assert "| 1 | " + f"{uniform_rank:.1f}" in out and "collapsed" in out
    png = (tmp_path / "a" / "attention.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_collapsed_layers_begin_where_most_heads_are_low_rank():
    rows, first = analyze.summarize([[60.0, 50.0], [2.0, 40.0], [1.0, 3.0], [1.0, 1.0]], [[0.1] * 2] * 4, 64, 0.05)
    assert [r["collapsed_heads"] for r in rows] == [0, 1, 2, 2] and first == 2
    assert analyze.summarize([[60.0, 50.0]], [[0.1, 0.1]], 64, 0.05)[1] is None


def test_heatmap_colours_span_the_ranks_found_and_mark_the_references(tmp_path):
    rows = [{"rank": [4.5, 5.5]}, {"rank": [5.0, 6.0]}]
    fig = analyze.plot_heatmap(rows, 64, tmp_path / "a.png", "t", {"uniform causal": 5, "attention to self": 58})
    ax, bar = fig.axes
    assert ax.images[0].get_clim() == (4.5, 6.0)  # not 1-64, where every cell would be one colour
    assert [line.get_ydata()[0] for line in bar.lines] == [5]  # the mark inside the span; 58 is only named
    assert "uniform causal: 5; attention to self: 58" in bar.get_ylabel()
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
