"""Hugging Face: GPT-2 import (exact), export (loads offline in transformers, same logits, round trip),
inherit.py --format hf on tiny LLaMA and GPT-2 models, and evaluate.py against values computed here.

Every model is built from a config with random weights: nothing is downloaded.
"""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import evaluate
import export_hf
import inherit
import train
from checkpoint import GPT2_VOCAB, load_model_source, save_checkpoint
from model import GPT, GPTConfig
from model_card import hub_id
from helpers import PADDED_VOCAB, one_line_exit, our_checkpoint, randomize, save_edited_checkpoint

transformers = pytest.importorskip("transformers")
DATA = Path(__file__).resolve().parent / "data"

pytestmark = pytest.mark.usefixtures("single_process", "one_thread")


def hf_gpt2(tmp_path, **overrides):
    """A tiny random HF GPT-2 saved in tmp_path/hf (a local 'hub' directory) and the model."""
    config = transformers.GPT2Config(**{**dict(n_layer=3, n_head=2, n_embd=32, n_positions=16,
                                               vocab_size=GPT2_VOCAB), **overrides})
    model = randomize(transformers.GPT2LMHeadModel(config)).eval()
    model.save_pretrained(tmp_path / "hf")
    return tmp_path / "hf", model



# ---- import --------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [dict(scale_attn_by_inverse_layer_idx=True, layer_norm_epsilon=1e-2),
                                     dict(activation_function="gelu_pytorch_tanh", n_inner=128)])
def test_imported_gpt2_gives_hf_log_probabilities_exactly(tmp_path, options):
    folder, hf = hf_gpt2(tmp_path, **options)
    source = load_model_source(str(folder))
    assert source["model_args"]["vocab_size"] == GPT2_VOCAB  # not padded: padded rows would take probability
    for key in ("scale_attn_by_inverse_layer_idx", "layer_norm_epsilon"):
        if key in options:
            assert source["model_args"][key] == options[key]
    ours = GPT(GPTConfig(**source["model_args"])).eval()
    ours.load_state_dict(source["model"])
    x = torch.randint(0, GPT2_VOCAB, (2, 16))
    with torch.no_grad():
        expected = torch.log_softmax(hf(x).logits, -1)
        got = torch.log_softmax(ours(x)[0], -1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("option,value", [("reorder_and_upcast_attn", True), ("activation_function", "relu"),
                                          ("n_inner", 100), ("scale_attn_weights", False)])
def test_import_refuses_what_model_py_cannot_compute(tmp_path, option, value):
    folder, _ = hf_gpt2(tmp_path, **{option: value})
    assert option in one_line_exit(load_model_source, str(folder))


def test_import_refuses_other_architectures(tmp_path):
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                      num_attention_heads=2)
    transformers.LlamaForCausalLM(config).save_pretrained(tmp_path / "llama")
    assert "'llama'" in one_line_exit(load_model_source, str(tmp_path / "llama"))


def test_checkpoints_from_before_layer_norm_epsilon_load_with_its_default(tmp_path):
    ckpt, _ = our_checkpoint(tmp_path, layer_norm_epsilon=1e-5)
    old = torch.load(ckpt, weights_only=True)
    del old["model_args"]["layer_norm_epsilon"], old["model_args"]["attn_divisors"]
    save_edited_checkpoint(old, ckpt)
    assert load_model_source(str(ckpt))["model_args"]["layer_norm_epsilon"] == 1e-5
    assert load_model_source(str(ckpt))["model_args"]["attn_divisors"] == []  # each block: its index + 1


def test_hub_id_without_network_names_the_id_and_the_cache(monkeypatch):
    import huggingface_hub

    def offline(*args, **kwargs):
        raise huggingface_hub.errors.LocalEntryNotFoundError("no network and not in the cache")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", offline)
    message = one_line_exit(load_model_source, "gpt2-medium")
    assert "'gpt2-medium'" in message and huggingface_hub.constants.HF_HUB_CACHE in message


def test_inherit_and_pretrained_runs_start_from_a_hf_gpt2(tmp_path, builtin_data_dir):
    folder, hf = hf_gpt2(tmp_path)
    hf_sd = {k: v for k, v in hf.state_dict().items()}
    # inherit.py --reference DIR: the first 2 of 3 blocks, transposed Conv1D weights equal
    inherit.main(["--reference", str(folder), "--n-layer", "2", "--out", str(tmp_path / "t" / "ckpt.pt")])
    target = torch.load(tmp_path / "t" / "ckpt.pt", weights_only=True)
    assert target["model_args"]["n_layer"] == 2 and target["model_args"]["bias"]
    assert torch.equal(target["model"]["transformer.h.1.mlp.c_fc.weight"], hf_sd["transformer.h.1.mlp.c_fc.weight"].t())
    assert torch.equal(target["model"]["transformer.wte.weight"], hf_sd["transformer.wte.weight"])

    # train.py init_from='pretrained': the HF model's shape and weights; step 0's val loss is HF's
    out = tmp_path / "run"
    val_loss = train.main([f"--out_dir={out}", "--init_from=pretrained", f"--pretrained_from={folder}",
                           f"--data_dir={builtin_data_dir}", "--max_iters=0", "--eval_tokens=64", "--batch_size=2",
                           "--tokens_per_step=32", "--device=cpu", "--dtype=float32"])
    config = json.loads((out / "config.json").read_text())
    assert (config["pretrained_from"], config["n_layer"], config["bias"], config["vocab_size"]) == (str(folder), 3, True, GPT2_VOCAB)
    val = np.fromfile(builtin_data_dir / "builtin" / "val.bin", dtype=np.uint16)
    windows = torch.from_numpy(val[:65].astype(np.int64)).unfold(0, 17, 16)  # 4 windows of 16 + 1 tokens
    with torch.no_grad():
        expected = hf(windows[:, :-1]).logits
    expected = torch.nn.functional.cross_entropy(expected.reshape(-1, GPT2_VOCAB), windows[:, 1:].reshape(-1))
    assert val_loss == pytest.approx(expected.item(), abs=1e-5)


def test_a_hf_gpt2_continues_only_on_gpt2_tokens(tmp_path, builtin_bpe_data_dir):
    """Its vocabulary holds builtin_bpe1024's ids, which are other text: refused, no longer by vocabulary size alone."""
    folder, _ = hf_gpt2(tmp_path)
    assert load_model_source(str(folder))["tokenizer"] == "gpt2"
    message = one_line_exit(train.main, [f"--out_dir={tmp_path / 'run'}", "--init_from=pretrained",
                                         f"--pretrained_from={folder}", f"--data_dir={builtin_bpe_data_dir}",
                                         "--dataset=builtin_bpe1024", "--max_iters=0", "--device=cpu"])
    assert message.startswith(f"pretrained_from={folder} was trained on tokens of tokenizer gpt2")
    assert not (tmp_path / "run").exists()


# ---- export --------------------------------------------------------------------------------

def test_export_loads_offline_in_transformers_with_our_logits(tmp_path):
    ckpt, ours = our_checkpoint(tmp_path)
    export_hf.main([str(ckpt), str(tmp_path / "hf")])
    hf, info = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "hf", output_loading_info=True)
    assert not any(info.values())  # no missing, unexpected or mismatched keys
    x = torch.randint(0, GPT2_VOCAB, (2, 16))
    with torch.no_grad():
        torch.testing.assert_close(hf.eval()(x).logits, ours(x)[0][..., :GPT2_VOCAB], rtol=0, atol=1e-5)
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    text = " Hello world, it's 2024!\n\tAnd 'tis done."
    from tokenizer import gpt2_encoding
    assert tokenizer.encode(text) == gpt2_encoding().encode_ordinary(text)
    assert tokenizer.eos_token_id == GPT2_VOCAB - 1
    assert json.loads((tmp_path / "hf" / "generation_config.json").read_text())["eos_token_id"] == GPT2_VOCAB - 1
    # every file as readable as the umask lets a new file be (safetensors alone would leave its weights 0600)
    modes = {f.name: f.stat().st_mode & 0o777 for f in (tmp_path / "hf").iterdir()}
    assert set(modes.values()) == {0o666 & ~export_hf.current_umask()}, modes


@pytest.mark.parametrize("vocab_size", [GPT2_VOCAB, PADDED_VOCAB])
def test_export_then_import_gives_identical_tensors(tmp_path, vocab_size):
    ckpt, ours = our_checkpoint(tmp_path, vocab_size=vocab_size)
    export_hf.export(ckpt, tmp_path / "hf")
    back = load_model_source(str(tmp_path / "hf"))
    original = ours.state_dict()
    assert set(back["model"]) == set(original)  # bias=False comes back without biases
    for name, tensor in original.items():
        if name in ("transformer.wte.weight", "lm_head.weight"):
            tensor = tensor[:GPT2_VOCAB]  # the padded rows, no token's, are not exported
        assert torch.equal(back["model"][name], tensor), name
    assert {k: back["model_args"][k] for k in ("bias", "scale_attn_by_inverse_layer_idx", "layer_norm_epsilon")} == \
        dict(bias=False, scale_attn_by_inverse_layer_idx=True, layer_norm_epsilon=1e-3)


def test_a_model_trained_on_another_tokenizer_is_neither_exported_nor_scored_as_gpt2(tmp_path):
    """Its ids are other text than GPT-2's, whatever its vocabulary size; a GPT-2-tokens run or one that recorded
    no tokenizer (before runs did) passes."""
    ckpt, model = our_checkpoint(tmp_path)
    save_checkpoint(ckpt, model, {}, step=7, tokenizer="tokenizer.json sha256:0123")
    for refused in (lambda: export_hf.export(ckpt, tmp_path / "hf"),
                    lambda: evaluate.evaluate(str(ckpt), ["lambada"], {"lambada": DATA / "lambada_tiny.jsonl"})):
        assert "trained on tokens of tokenizer tokenizer.json sha256:0123, not GPT-2's" in one_line_exit(refused)
    assert not (tmp_path / "hf").exists()
    save_checkpoint(ckpt, model, {}, step=7, tokenizer="gpt2")
    export_hf.export(ckpt, tmp_path / "hf")
    assert "lambada" in evaluate.evaluate(str(ckpt), ["lambada"], {"lambada": DATA / "lambada_tiny.jsonl"})


def test_export_refuses_what_hf_gpt2_cannot_express_and_never_overwrites(tmp_path):
    ckpt, _ = our_checkpoint(tmp_path, vocab_size=256)
    assert "vocab_size=256" in one_line_exit(export_hf.export, ckpt, tmp_path / "hf")
    moved, _ = our_checkpoint(tmp_path / "moved", attn_divisors=[1, 3])  # block 1 kept a reference block 2's
    assert "[1.0, 3.0]" in one_line_exit(export_hf.export, moved, tmp_path / "hf")
    assert not (tmp_path / "hf").exists()
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    assert "not empty" in one_line_exit(export_hf.export, ckpt, tmp_path / "full")
    (tmp_path / "notes").write_text("x")
    assert f"out_dir {tmp_path / 'notes'} is a file" in one_line_exit(export_hf.export, ckpt, tmp_path / "notes")
    assert (tmp_path / "notes").read_text() == "x"


def test_an_export_that_fails_midway_leaves_nothing_and_the_same_command_runs_again(tmp_path, monkeypatch):
    """A full disk after config.json and the weights are written: no half directory blocks the rerun."""
    ckpt, _ = our_checkpoint(tmp_path)
    write_tokenizer = export_hf.write_tokenizer

    def full_disk(folder, block_size):
        assert (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(export_hf, "write_tokenizer", full_disk)
    (tmp_path / "hf").mkdir()  # an empty directory the user made is allowed, and kept on failure
    message = one_line_exit(export_hf.export, ckpt, tmp_path / "hf")
    assert message.startswith(f"cannot write {tmp_path / 'hf'} (No space left on device;") and \
        "nothing was written" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hf", "run"] and not any((tmp_path / "hf").iterdir())
    monkeypatch.setattr(export_hf, "write_tokenizer", write_tokenizer)
    export_hf.export(ckpt, tmp_path / "hf")
    assert {"config.json", "model.safetensors", "vocab.json", "README.md"} <= {p.name for p in (tmp_path / "hf").iterdir()}


def model_card(folder):
    """The README.md model card of an exported folder, parsed as the Hugging Face hub does."""
    from huggingface_hub import ModelCard
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "transformers" and card.data.license and "inheritune" in card.data.tags
    return card


def test_export_writes_a_model_card_with_the_inheritance_training_and_scores(tmp_path, builtin_data_dir):
    reference, _ = our_checkpoint(tmp_path / "ref", n_layer=4, scale_attn_by_inverse_layer_idx=False)
    run = tmp_path / "run"
    train.main([f"--out_dir={run}", "--init_from=inherit", f"--inherit_from={reference}", "--n_layer=2",
                "--inherit_layers=1,3", "--n_head=2", "--n_embd=32", "--block_size=16", f"--vocab_size={PADDED_VOCAB}",
                "--layer_norm_epsilon=1e-3", f"--data_dir={builtin_data_dir}", "--max_iters=2", "--eval_tokens=64",
                "--batch_size=2", "--tokens_per_step=32", "--device=cpu", "--dtype=float32"])
    scores = evaluate.main([str(run / "ckpt.pt"), "--device", "cpu", "--data", f"lambada={DATA / 'lambada_tiny.jsonl'}",
                            "--tasks", "lambada", "--out", str(tmp_path / "scores.json")])
    export_hf.main([str(run / "ckpt.pt"), str(tmp_path / "hf"), "--scores", str(tmp_path / "scores.json")])
    card = model_card(tmp_path / "hf")
    assert "gpt2" in card.data.tags
    val_loss = json.loads((run / "result.json").read_text())["val_loss"]
    for fact in ("n = 2 blocks", f"`{reference}`, K = 4 blocks", "reference blocks 1, 3 (K = 4) are blocks 0-1",
                 "inherit_parts=full", "2 steps x 32 tokens = 64 tokens", f"Final validation loss: {val_loss:.4f}",
                 f"| lambada | acc | {scores['lambada']['acc']:.4f} |", "--inherit_layers=1,3",
                 f"python export_hf.py {run / 'ckpt.pt'}"):
        assert fact in card.text, fact


def test_model_card_names_a_hub_reference_as_base_model_and_openwebtext_as_dataset(tmp_path, monkeypatch):
    """A run inherited from a hub GPT-2 on OpenWebText, as the paper's large runs (no run files beside it)."""
    from huggingface_hub import ModelCard
    ref = GPT(GPTConfig(n_layer=3, n_head=2, n_embd=32, block_size=16, vocab_size=GPT2_VOCAB))
    model, manifest = inherit.inherit(ref.state_dict(), {**ref.config.__dict__}, 2)
    config = {"init_from": "inherit", "inherit_from": "gpt2-large", "dataset": "openwebtext", "tokens_per_step": 8}
    ckpt = {"config": config, "inherit_manifest": manifest, "model_args": model.config.__dict__, "step": 3}
    card = ModelCard(export_hf.checkpoint_card(ckpt, tmp_path / "run" / "ckpt.pt", tmp_path / "hf"))
    assert card.data.base_model == "gpt2-large" and card.data.datasets == ["Skylion007/openwebtext"]
    assert "Final validation loss: not known" in card.text and "reference blocks 0, 1 (K not recorded)" in card.text
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hf" / "local").mkdir(parents=True)
    assert [hub_id(spec) for spec in (tmp_path, "run/ckpt.pt", "hf/local", "org/model")] == \
        [None, None, None, "org/model"]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "result.json").write_text('{"step": 3, "val_')  # a write cut short: refused, not left out
    message = one_line_exit(export_hf.checkpoint_card, ckpt, tmp_path / "run" / "ckpt.pt", tmp_path / "hf")
    assert message.startswith(f"{tmp_path / 'run' / 'result.json'} is damaged (not a JSON object): restore it")


def test_export_takes_only_the_scores_of_its_own_checkpoint(tmp_path):
    ckpt, _ = our_checkpoint(tmp_path)
    (tmp_path / "other.json").write_text(json.dumps({"model": "gpt2", "lambada": {"acc": 0.3}}))
    (tmp_path / "bad.json").write_text(json.dumps({"lambada": 0.3}))
    assert "scores of gpt2" in one_line_exit(export_hf.export, ckpt, tmp_path / "hf", tmp_path / "other.json")
    assert "evaluate.py --out" in one_line_exit(export_hf.export, ckpt, tmp_path / "hf", tmp_path / "bad.json")
    assert not (tmp_path / "hf").exists()  # nothing written


# ---- inherit.py --format hf ----------------------------------------------------------------

def tiny_llama():
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                                      tie_word_embeddings=False)
    return transformers.LlamaForCausalLM(config), "model.layers"


def tiny_gpt2():
    config = transformers.GPT2Config(n_layer=4, n_head=2, n_embd=32, n_positions=32, vocab_size=128)
    return transformers.GPT2LMHeadModel(config), "transformer.h"


@pytest.mark.parametrize("build", [tiny_llama, tiny_gpt2])
@pytest.mark.parametrize("layers", ["", "0,2"])
def test_format_hf_keeps_the_first_layers_of_any_decoder(tmp_path, monkeypatch, build, layers):
    reference, list_name = build()
    randomize(reference, std=0.1).eval()
    reference.save_pretrained(tmp_path / "ref")
    monkeypatch.chdir(tmp_path)  # in process (a process of its own would spend seconds importing transformers again)
    inherit.main(["--reference", str(tmp_path / "ref"), "--n-layer", "2", "--out", str(tmp_path / "target"),
                  "--format", "hf", "--layers", layers])
    target, info = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "target", output_loading_info=True)
    assert not any(info.values()) and target.config.num_hidden_layers == 2
    kept = [int(i) for i in layers.split(",")] if layers else [0, 1]
    ref_sd, target_sd = reference.state_dict(), target.state_dict()
    for name, tensor in target_sd.items():
        m = re.match(rf"{re.escape(list_name)}\.(\d+)\.(.*)", name)
        source = f"{list_name}.{kept[int(m[1])]}.{m[2]}" if m else name
        assert torch.equal(tensor, ref_sd[source]), name
    manifest = json.loads((tmp_path / "target" / "inherit_manifest.json").read_text())
    assert manifest["layers"] == kept and len(manifest["tensors"]) == len(target_sd)
    card = model_card(tmp_path / "target")
    assert reference.config.model_type in card.data.tags
    for fact in ("n = 2 blocks", f"`{tmp_path / 'ref'}`, K = 4 blocks",
                 f"reference blocks {', '.join(map(str, kept))} (K = 4)", "--n-layer 2 --out"):
        assert fact in card.text, fact

    # the reference with its other layers removed computes what the target computes
    parent, _, attr = list_name.rpartition(".")
    holder = reference.get_submodule(parent)
    setattr(holder, attr, torch.nn.ModuleList([getattr(holder, attr)[i] for i in kept]))
    x = torch.randint(0, 128, (2, 12))
    with torch.no_grad():
        torch.testing.assert_close(target.eval()(x, use_cache=False).logits, reference(x, use_cache=False).logits,
                                   rtol=0, atol=1e-5)


def test_format_hf_keeps_the_layer_types_of_the_kept_layers(tmp_path):
    """Qwen2-style configs list each layer's attention kind: the target's list is that of its layers."""
    types = ["full_attention", "sliding_attention", "sliding_attention", "full_attention"]
    config = transformers.Qwen2Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=4,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=32,
                                      use_sliding_window=True, sliding_window=8, layer_types=types)
    transformers.Qwen2ForCausalLM(config).save_pretrained(tmp_path / "ref")
    inherit.main(["--reference", str(tmp_path / "ref"), "--n-layer", "2", "--out", str(tmp_path / "target"),
                  "--format", "hf", "--layers", "0,3"])  # not the first two layers' kinds: those are another list
    saved = json.loads((tmp_path / "target" / "config.json").read_text())
    assert saved["num_hidden_layers"] == 2 and saved["layer_types"] == [types[0], types[3]] != types[:2]
    target = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "target")
    assert target.config.layer_types == [types[0], types[3]]


def test_format_hf_refuses_block_parts(tmp_path):
    with pytest.raises(SystemExit):
        inherit.parse_args(["--reference", "x", "--n-layer", "1", "--out", "y", "--format", "hf", "--parts", "attn_ln"])


# ---- evaluate.py ---------------------------------------------------------------------------

def gpt2_tokenizer():
    """transformers' own GPT-2 BPE over the bundled files: independent of tiktoken."""
    from tokenizer import _bundled_bpe_dir
    return transformers.GPT2TokenizerFast(str(_bundled_bpe_dir() / "encoder.json"), str(_bundled_bpe_dir() / "vocab.bpe"))


def token_logprob(hf, context, token):
    """log p(token | context) and whether it is the argmax: one forward per token."""
    with torch.no_grad():
        logprobs = torch.log_softmax(hf(torch.tensor([context])).logits[0, -1], -1)
    return logprobs[token].item(), logprobs.argmax().item() == token


# hand-detokenized wikitext samples (tests/data/wikitext_tiny.jsonl), following the harness's rules
WIKITEXT_DETOKENIZED = [
    " = Valkyria Chronicles III =\n\nSenjō no Valkyria 3: Unrecorded Chronicles (Japanese: 戦場のヴァルキュリア3, "
    "lit. Valkyria of the Battlefield 3) is a tactical role-playing video game developed by Sega.\n",
    " == Reception ==\n\nThe game sold 1,023 copies in its first week, with a score of 8.5 out of 10 from "
    "critics'polls. It had 1 sequels; it was the publisher's \"best\" release at 45°N.\n",
]


def test_wikitext_detokenizer():
    pages = evaluate.load_docs("wikitext", DATA / "wikitext_tiny.jsonl")
    assert [evaluate.wikitext_detokenize(p) for p in pages] == WIKITEXT_DETOKENIZED


def test_evaluate_matches_the_harness_definitions_computed_token_by_token(tmp_path):
    L = 16  # the model's context: passages and articles are longer, so truncation and rolling windows count
    folder, hf = hf_gpt2(tmp_path, n_positions=L)
    results = evaluate.main([str(folder), "--tasks", "lambada,wikitext", "--device", "cpu", "--batch-size", "3",
                             "--data", f"lambada={DATA / 'lambada_tiny.jsonl'}",
                             "--data", f"wikitext={DATA / 'wikitext_tiny.jsonl'}", "--out", str(tmp_path / "r.json")])
    assert json.loads((tmp_path / "r.json").read_text())["lambada"] == results["lambada"]
    tok = gpt2_tokenizer()

    # LAMBADA: ' ' + last word, all its tokens; the passage cut to its last L+1 tokens
    lls, hits = [], []
    for line in (DATA / "lambada_tiny.jsonl").read_text().splitlines():
        text = json.loads(line)["text"]
        words = text.split(" ")
        whole = tok.encode(" ".join(words[:-1]) + " " + words[-1])
        n_word = len(whole) - len(tok.encode(" ".join(words[:-1])))
        start = max(0, len(whole) - (L + 1))
        scored = [token_logprob(hf, whole[start:i], whole[i]) for i in range(len(whole) - n_word, len(whole))]
        lls.append(sum(ll for ll, _ in scored))
        hits.append(all(g for _, g in scored))
    assert results["lambada"]["acc"] == pytest.approx(sum(hits) / len(hits))
    assert results["lambada"]["perplexity"] == pytest.approx(math.exp(-sum(lls) / len(lls)), rel=1e-5)

    # WikiText: token j of an article is predicted from [EOT] + tokens, starting L tokens before the end
    # of its window (windows predict tokens 0..L-1, L..2L-1, ...)
    total, words, n_bytes = 0.0, 0, 0
    for line, text in zip((DATA / "wikitext_tiny.jsonl").read_text().splitlines(), WIKITEXT_DETOKENIZED):
        page = json.loads(line)["page"]
        ids = tok.encode(text)
        stream = [GPT2_VOCAB - 1] + ids
        assert len(ids) > 2 * L
        for j, token in enumerate(ids):
            end = min(len(ids), (j // L + 1) * L)
            total += token_logprob(hf, stream[max(0, end - L):j + 1], token)[0]
        words += len(page.split()) + page.startswith(" ") + page.endswith((" ", "\n"))  # re.split counts edge ''
        n_bytes += len(page.encode("utf-8"))
    wiki = results["wikitext"]
    assert wiki["word_perplexity"] == pytest.approx(math.exp(-total / words), rel=1e-5)
    assert wiki["byte_perplexity"] == pytest.approx(math.exp(-total / n_bytes), rel=1e-5)
    assert wiki["bits_per_byte"] == pytest.approx(-total / n_bytes / math.log(2), rel=1e-5)


def test_padded_checkpoint_and_its_export_evaluate_the_same(tmp_path):
    ckpt, _ = our_checkpoint(tmp_path)
    export_hf.export(ckpt, tmp_path / "hf")
    data = {"lambada": DATA / "lambada_tiny.jsonl", "wikitext": DATA / "wikitext_tiny.jsonl"}
    ours = evaluate.evaluate(str(ckpt), ["lambada", "wikitext"], data)
    exported = evaluate.evaluate(str(tmp_path / "hf"), ["lambada", "wikitext"], data)
    for task in ours:
        for metric, value in ours[task].items():
            assert exported[task][metric] == pytest.approx(value, rel=1e-6), (task, metric)


def test_a_wikitext_file_of_empty_pages_stops_with_one_line_before_the_model_is_loaded(tmp_path):
    path = tmp_path / "wikitext.jsonl"
    path.write_text('{"page": ""}\n{"page": ""}\n')
    message = one_line_exit(evaluate.main, [str(tmp_path / "missing" / "ckpt.pt"), "--tasks", "wikitext",
                                            "--data", f"wikitext={path}", "--device", "cpu"])
    assert f"{path} holds no wikitext documents" in message


@pytest.mark.parametrize("args,expected", [
    (["--batch-size", "0"], "--batch-size 0: give at least 1"),
    (["--device", "tpu"], "--device tpu: choose"),
    pytest.param(["--device", "cuda"], "torch sees no CUDA GPU",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")),
    (["--out", "."], "--out . is a directory")])
def test_evaluate_arguments_no_run_can_use_stop_before_anything_is_scored(tmp_path, capsys, args, expected):
    with pytest.raises(SystemExit) as excinfo:  # the model does not exist: argument errors come first
        evaluate.main([str(tmp_path / "missing" / "ckpt.pt"), "--tasks", "lambada", *args])
    assert excinfo.value.code == 2 and expected in capsys.readouterr().err.strip().splitlines()[-1]


def test_evaluate_out_is_written_whole_in_a_folder_made_for_it(tmp_path):
    folder, _ = hf_gpt2(tmp_path)
    out = tmp_path / "new" / "scores.json"
    argv = [str(folder), "--tasks", "lambada", "--device", "cpu", "--data", f"lambada={DATA / 'lambada_tiny.jsonl'}",
            "--out", str(out)]
    results = evaluate.main(argv)
    assert json.loads(out.read_text())["lambada"] == results["lambada"]
    inode = out.stat().st_ino
    evaluate.main(argv)
    assert out.stat().st_ino != inode  # replaced by a complete file, never rewritten in place
    assert [p.name for p in out.parent.iterdir()] == ["scores.json"]


def test_evaluate_without_data_says_how_to_give_it(tmp_path, monkeypatch):
    import datasets

    def offline(*args, **kwargs):
        raise ConnectionError("no network")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    message = one_line_exit(evaluate.load_docs, "lambada")
    assert "EleutherAI/lambada_openai" in message and "--data lambada=" in message


def test_format_hf_with_an_out_that_is_a_file_stops_before_reading_the_reference(tmp_path):
    (tmp_path / "notes").write_text("x")
    args = ["--reference", str(tmp_path / "missing"), "--n-layer", "1", "--out", str(tmp_path / "notes"),
            "--format", "hf"]
    assert f"--out {tmp_path / 'notes'} is a file" in one_line_exit(inherit.main, args)
    assert (tmp_path / "notes").read_text() == "x"


def test_format_hf_refuses_moving_blocks_whose_attention_scale_depends_on_the_layer(tmp_path):
    config = transformers.GPT2Config(n_layer=3, n_head=2, n_embd=32, n_positions=32, vocab_size=128,
                                     scale_attn_by_inverse_layer_idx=True)
    transformers.GPT2LMHeadModel(config).save_pretrained(tmp_path / "ref")
    args = ["--reference", str(tmp_path / "ref"), "--n-layer", "2", "--out", str(tmp_path / "t"), "--format", "hf",
            "--layers", "0,2"]
    assert "2->1" in one_line_exit(inherit.main, args) and not (tmp_path / "t").exists()


class NextTokenModel(torch.nn.Module):
    """Logits that put almost all probability on token (x + 1) % V: greedy decoding is known in advance."""

    def forward(self, x):
        return 10.0 * torch.nn.functional.one_hot((x + 1) % 64, GPT2_VOCAB).float(), None


def test_score_counts_a_continuation_greedy_only_when_every_token_is_the_argmax():
    ascending, broken = [5, 6, 7, 8, 9], [5, 6, 7, 30, 9]  # the last 3 tokens are the continuation
    (ll_hit, hit), (_, miss) = evaluate.score(NextTokenModel(), [(ascending, 3), (broken, 3)], "cpu", batch_size=2)
    assert hit and not miss
    per_token = 10.0 - math.log(math.exp(10.0) + GPT2_VOCAB - 1)  # log-softmax of the argmax
    assert ll_hit == pytest.approx(3 * per_token, rel=1e-4)  # float32 log-softmax over 50K logits: the sum's order varies with threads


def test_evaluate_data_errors_are_one_line(tmp_path):
    assert "cannot read" in one_line_exit(evaluate.load_docs, "lambada", tmp_path / "missing.jsonl")
    assert "no last word" in one_line_exit(evaluate.lambada_requests, ["oneword"], lambda t: [1], 8)
    assert evaluate.rolling_windows(0, 8) == []  # an empty page scores nothing


@pytest.mark.parametrize("content,expected", [("", "holds no lambada documents"), (" \n\n", "holds no lambada documents"),
                                              ('{"text": "a b"}\n{"text": 5}\n', "line 2"),
                                              ('{"text": "a b"}\n\n[1]\n', "line 3"),
                                              (b"\xff\xfe", "cannot read")])
def test_a_bad_data_file_stops_with_one_line_before_the_model_is_loaded(tmp_path, content, expected):
    path = tmp_path / "lambada.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    # the model does not exist: the data is checked first, so its line is the one shown
    message = one_line_exit(evaluate.main, [str(tmp_path / "missing" / "ckpt.pt"), "--tasks", "lambada",
                                            "--data", f"lambada={path}", "--device", "cpu"])
    assert expected in message and str(path) in message
