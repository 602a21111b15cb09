"""sample.py and model.py's KV cache: greedy equals transformers' generate on the export, the cache changes no
token (a sliding window too), a compact-BPE model decodes with its own tokenizer, bad input ends in one line.

Every model is built from a config with random weights: nothing is downloaded.
"""
import pytest
import torch

import export_hf
import sample
from checkpoint import GPT2_VOCAB, save_checkpoint
from helpers import one_line_exit
from data import read_meta, tokenizer_of
from model import GPT, GPTConfig, KVCache
from tokenizer import gpt2_encoding

pytestmark = pytest.mark.usefixtures("single_process", "one_thread")
PROMPT = "Hello, world. The"


def randomized(config, std=0.2):
    """Large random weights: the next token is clear-cut, so greedy decoding has no near-ties."""
    torch.manual_seed(0)
    model = GPT(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, std)
    return model


def gpt2_checkpoint(tmp_path, **overrides):
    """A tiny GPT-2-token checkpoint: no biases, logits divided by the layer index + 1, and a padded vocabulary
    whose rows (no token's) would win every step if sampling did not leave them out."""
    config = GPTConfig(**{**dict(n_layer=3, n_head=2, n_embd=32, block_size=32, vocab_size=50304, bias=False,
                                 scale_attn_by_inverse_layer_idx=True), **overrides})
    model = randomized(config)
    with torch.no_grad():
        model.lm_head.weight[GPT2_VOCAB:] *= 100
    path = tmp_path / "run" / "ckpt.pt"
    save_checkpoint(path, model, {}, step=1, tokenizer="gpt2")
    return path


def run_sample(source, *flags):
    return sample.main([f"--init_from={source}", "--device=cpu", "--num_samples=1", *flags])


def test_greedy_equals_transformers_generate_on_the_export(tmp_path):
    transformers = pytest.importorskip("transformers")
    ckpt = gpt2_checkpoint(tmp_path)
    export_hf.export(ckpt, tmp_path / "hf")
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf").eval()
    hf.generation_config.eos_token_id = None  # generate all the tokens, as sample.py does
    prompt = gpt2_encoding().encode(PROMPT)
    new = 32 - len(prompt)  # up to the context HF can hold: it does not slide
    expected = hf.generate(torch.tensor([prompt]), max_new_tokens=new, do_sample=False,
                           pad_token_id=GPT2_VOCAB - 1)[0, len(prompt):].tolist()
    assert len(set(expected)) > 3  # not one token repeated: the comparison has something to compare
    for source in (ckpt, tmp_path / "hf"):  # our checkpoint (padded vocabulary) and the exported directory
        for cache in (True, False):
            assert run_sample(source, f"--start={PROMPT}", "--top_k=1", f"--max_new_tokens={new}",
                              f"--cache={cache}") == [expected], (source, cache)


def test_cached_logits_equal_the_whole_context_in_any_chunks():
    """Chunks of several tokens after cached ones (the mask aligned to the last key), with per-block divisors."""
    model = randomized(GPTConfig(n_layer=3, n_head=2, n_embd=16, block_size=16, vocab_size=64,
                                 attn_divisors=[3.0, 1.0, 2.0]))
    idx = torch.randint(0, 64, (2, 16))
    with torch.no_grad():
        whole, _ = model(idx)
        cache = KVCache()
        chunks = [model(idx[:, a:b], cache=cache)[0] for a, b in ((0, 5), (5, 6), (6, 11), (11, 16))]
        last, _ = model(idx, last_only=True)
    assert cache.length() == 16
    torch.testing.assert_close(torch.cat(chunks, 1), whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(last, whole[:, -1:], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="exceeds block_size"):
        model(idx[:, :1], cache=cache)


@pytest.mark.parametrize("scaled", [dict(scale_attn_by_inverse_layer_idx=True), dict(attn_divisors=[2.0, 5.0, 1.0])])
def test_cache_and_no_cache_give_the_same_tokens_also_once_the_window_slides(scaled):
    model = randomized(GPTConfig(n_layer=3, n_head=2, n_embd=16, block_size=16, vocab_size=64, **scaled))
    prompt = torch.randint(0, 64, (1, 10))
    for flags in (dict(top_k=1), dict(top_k=5, temperature=1.0)):
        runs = [model.generate(prompt, 30, **flags, use_cache=cache, generator=torch.Generator().manual_seed(3))
                for cache in (True, False)]  # 10 + 30 tokens: the window of 16 slides after the 6th
        assert torch.equal(runs[0], runs[1]), flags


def test_a_prompt_longer_than_block_size_keeps_its_last_window(tmp_path, capsys):
    ckpt = gpt2_checkpoint(tmp_path, block_size=8)
    long_prompt = " one two three four five six seven eight nine ten eleven twelve"
    assert len(gpt2_encoding().encode(long_prompt)) > 8
    runs = [run_sample(ckpt, f"--start={long_prompt}", "--top_k=1", "--max_new_tokens=12", f"--cache={cache}")
            for cache in (True, False)]
    assert runs[0] == runs[1] and len(runs[0][0]) == 12
    out = capsys.readouterr()
    assert out.out.startswith(long_prompt) and "tokens/s (KV cache on)" in out.err


def test_sampling_is_seeded_and_temperature_and_top_k_act(tmp_path):
    ckpt = gpt2_checkpoint(tmp_path)
    flags = ["--max_new_tokens=12", "--top_k=0", "--temperature=2.0"]
    first = run_sample(ckpt, *flags, "--num_samples=2")
    assert first == run_sample(ckpt, *flags, "--num_samples=2") and first[0] != first[1]
    assert first != run_sample(ckpt, *flags, "--num_samples=2", "--seed=1")
    greedy = run_sample(ckpt, "--max_new_tokens=12", "--top_k=1")
    assert run_sample(ckpt, "--max_new_tokens=12", "--top_k=1", "--temperature=5.0") == greedy


def compact_bpe_checkpoint(tmp_path, data_dir, dataset="builtin_bpe1024"):
    meta = read_meta(data_dir, dataset)
    config = GPTConfig(n_layer=2, n_head=2, n_embd=32, block_size=32, vocab_size=meta["vocab_size"])
    path = tmp_path / "bpe_run" / "ckpt.pt"
    save_checkpoint(path, randomized(config), {"data_dir": str(data_dir), "dataset": dataset}, step=1,
                    tokenizer=tokenizer_of(meta))
    return path


def test_a_compact_bpe_checkpoint_decodes_with_its_own_tokenizer(tmp_path, builtin_bpe_data_dir, capsys):
    from tokenizers import Tokenizer

    ckpt = compact_bpe_checkpoint(tmp_path, builtin_bpe_data_dir)
    tok = Tokenizer.from_file(str(builtin_bpe_data_dir / "builtin_bpe1024" / "tokenizer.json"))
    prompt = "And God said, Let there be"
    [new] = run_sample(ckpt, f"--start={prompt}", "--max_new_tokens=20", "--top_k=1")
    assert max(new) < 1024
    text = capsys.readouterr().out.split("\n---------------\n")[0]
    ids = tok.encode(prompt, add_special_tokens=False).ids
    assert text == tok.decode(ids + new, skip_special_tokens=False) and text.startswith(prompt)
    assert text != gpt2_encoding().decode(ids + new)  # GPT-2's decoding of these ids is other text

    # the dataset moved: the tokenizer file is named with --tokenizer, and only the one recorded is taken
    moved = tmp_path / "moved.json"
    moved.write_bytes((builtin_bpe_data_dir / "builtin_bpe1024" / "tokenizer.json").read_bytes())
    elsewhere = compact_bpe_checkpoint(tmp_path / "x", builtin_bpe_data_dir)
    ckpt_dict = torch.load(elsewhere, weights_only=True)
    model = GPT(GPTConfig(**ckpt_dict["model_args"]))
    model.load_state_dict(ckpt_dict["model"])
    save_checkpoint(elsewhere, model, {"data_dir": str(tmp_path / "gone"), "dataset": "builtin_bpe1024"}, step=1,
                    tokenizer=ckpt_dict["tokenizer"])
    assert "--tokenizer=PATH" in one_line_exit(run_sample, elsewhere, f"--start={prompt}", "--max_new_tokens=2")
    assert run_sample(elsewhere, f"--start={prompt}", "--max_new_tokens=20", "--top_k=1",
                      f"--tokenizer={moved}") == [new]
    save_checkpoint(elsewhere, model, {}, step=1)  # from before runs recorded their tokenizer: taken as named
    assert "unknown tokenizer" in one_line_exit(run_sample, elsewhere, f"--start={prompt}")
    assert run_sample(elsewhere, f"--start={prompt}", "--max_new_tokens=20", "--top_k=1",
                      f"--tokenizer={moved}") == [new]
    save_checkpoint(elsewhere, model, {}, step=1, tokenizer=ckpt_dict["tokenizer"])
    moved.write_text(moved.read_text().replace('"And"', '"Andd"'))
    assert "is not the tokenizer the model was trained with" in one_line_exit(
        run_sample, elsewhere, f"--start={prompt}", f"--tokenizer={moved}")


@pytest.mark.parametrize("flags,expected", [
    (["--temperature=0"], "temperature=0.0 must be above 0"),
    (["--temperature=-1"], "temperature=-1.0 must be above 0"),
    (["--start="], "the prompt is empty"),
    (["--start=FILE:/nonexistent/prompt.txt"], "cannot read the prompt file /nonexistent/prompt.txt"),
    (["--max_new_tokens=0"], "max_new_tokens=0 must be at least 1"),
    (["--topk=1"], "unknown key 'topk'"),
    (["--device=tpu"], "device='tpu' is not one of"),
    (["--dtype=float16"], "dtype='float16' is not one of"),
])
def test_bad_flags_end_in_one_line(tmp_path, flags, expected):
    ckpt = gpt2_checkpoint(tmp_path)
    assert expected in one_line_exit(run_sample, ckpt, *flags)


def test_bad_models_and_unknown_tokenizers_end_in_one_line(tmp_path):
    assert "not found" in one_line_exit(run_sample, tmp_path / "missing" / "ckpt.pt")
    assert "out_dir/ckpt.pt" in one_line_exit(sample.main, [f"--out_dir={tmp_path / 'empty'}", "--device=cpu"])
    path = tmp_path / "small" / "ckpt.pt"  # no tokenizer recorded, no dataset, a vocabulary that is not GPT-2's
    save_checkpoint(path, randomized(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=64)), {}, 1)
    assert "unknown tokenizer" in one_line_exit(run_sample, path)
    save_checkpoint(path, randomized(GPTConfig(n_layer=1, n_head=1, n_embd=8, block_size=8, vocab_size=64)), {}, 1,
                    tokenizer="gpt2")
    assert "the tokenizer has 50257 tokens but the model only 64" in one_line_exit(run_sample, path)
    assert "drop --tokenizer" in one_line_exit(run_sample, path, f"--tokenizer={path}")
