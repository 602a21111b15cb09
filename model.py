"""A hand-written GPT-2 whose parameter names match Hugging Face's GPT2LMHeadModel.

Matching names means a state dict maps one to one onto HF checkpoints and onto the
Inheritune paper's code: `transformer.h.{i}.attn.c_attn.weight` is the same tensor
everywhere (HF stores Conv1D weights transposed; checkpoint.py converts both ways).
"""

import inspect
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int = 1024
    vocab_size: int = 50304  # GPT-2's 50257 padded up to a multiple of 64 for speed
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True
    scale_attn_by_inverse_layer_idx: bool = False  # the paper's reference models use it
    layer_norm_epsilon: float = 1e-5
    # each block's attention-logit divisor, on top of sqrt(head_dim); [] = the layer index + 1 under
    # scale_attn_by_inverse_layer_idx, else 1. Inherited blocks moved to another position keep theirs.
    attn_divisors: list = field(default_factory=list)

    def __post_init__(self):
        self.attn_divisors = [float(x) for x in self.attn_divisors]
        if self.attn_divisors and (len(self.attn_divisors) != self.n_layer or min(self.attn_divisors) <= 0):
            raise ValueError(f"attn_divisors={self.attn_divisors} must be empty or hold n_layer={self.n_layer} "
                             "positive numbers")

    def divisors(self):
        """The attention-logit divisor of each block."""
        if self.attn_divisors:
            return list(self.attn_divisors)
        return [float(i + 1) if self.scale_attn_by_inverse_layer_idx else 1.0 for i in range(self.n_layer)]


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.dropout = config.dropout
        head_dim = config.n_embd // config.n_head
        # HF's scale_attn_by_inverse_layer_idx divides the logits by (layer_idx + 1) on top of 1/sqrt(head_dim)
        self.scale = 1.0 / (math.sqrt(head_dim) * config.divisors()[layer_idx])

    def forward(self, x, cache=None):
        """cache: a KVCache that holds this block's keys and values of the earlier positions, which x follows."""
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        past = 0
        if cache is not None:
            past = cache.length(self)
            k, v = cache.extend(self, k, v)
        # new positions after cached ones: is_causal would align the mask to the first key, not the last
        mask = None if past == 0 or T == 1 else torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(past)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=past == 0, scale=self.scale,
            dropout_p=self.dropout if self.training else 0.0,
        )
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate="tanh")))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, cache=None):
        x = x + self.attn(self.ln_1(x), cache)
        return x + self.mlp(self.ln_2(x))


class KVCache:
    """Each block's keys and values of the positions run so far, so a new token costs one position, not the
    whole context. Positions are absolute (learned wpe): a cache is valid only for a context that starts where it
    started, so a window that slides must be run afresh (GPT.generate does)."""

    def __init__(self):
        self.kv = {}  # attention module -> (keys, values), each (B, n_head, positions, head_dim)

    def length(self, attn=None):
        """Positions held (for one block's attention, or for any: all hold the same number)."""
        kv = self.kv.get(attn) if attn is not None else next(iter(self.kv.values()), None)
        return 0 if kv is None else kv[0].size(2)

    def extend(self, attn, k, v):
        if attn in self.kv:
            k, v = (torch.cat([old, new], dim=2) for old, new in zip(self.kv[attn], (k, v)))
        self.kv[attn] = (k, v)
        return k, v


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config, i) for i in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # tied, as in GPT-2
        self.apply(self._init_weights)
        # GPT-2 scales the residual projections by depth so the residual stream stays O(1)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=True):
        """Parameter count; the position embedding is left out by default (as in the MFU formula)."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, cache=None, last_only=False):
        """cache (a KVCache): idx continues the positions it holds, and its keys and values are added to it.
        last_only: the logits of the last position only (all that generation reads)."""
        past = cache.length() if cache is not None else 0
        T = past + idx.size(1)
        if T > self.config.block_size:
            raise ValueError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        pos = torch.arange(past, T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x, cache)
        logits = self.lm_head(self.transformer.ln_f(x[:, -1:] if last_only else x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=0, n_tokens=None, use_cache=True, generator=None):
        """idx (B, T) continued by max_new_tokens sampled tokens, as nanoGPT's generate. top_k=1 is greedy; 0 keeps
        every token. n_tokens: only the first n_tokens logits are tokens (a vocabulary padded past its
        tokenizer's). A context longer than block_size keeps its last block_size tokens; once that window slides,
        every token has a new position, so the window is run whole at each step (the cache helps until then)."""
        cache = None
        for _ in range(max_new_tokens):
            if cache is not None and idx.size(1) <= self.config.block_size:
                logits, _ = self(idx[:, -1:], cache=cache, last_only=True)  # the cache holds every earlier position
            else:  # the first step, no cache, or a slid window
                cache = KVCache() if use_cache and idx.size(1) <= self.config.block_size else None
                logits, _ = self(idx[:, -self.config.block_size:], cache=cache, last_only=True)
            logits = logits[:, -1, :n_tokens].float() / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                logits = logits.masked_fill(logits < kth, -float("inf"))
            probs = F.softmax(logits, dim=-1)
            idx = torch.cat([idx, torch.multinomial(probs, 1, generator=generator)], dim=1)
        return idx

    def flops_per_token(self, attention_factor=12):
        """6N for the matmuls of forward+backward plus attention_factor*L*d*T for attention.

        12 counts the full T x T score and value matmuls (PaLM appendix B, nanoGPT); llm.c counts
        6, the causal half that is actually computed.
        """
        c = self.config
        return 6 * self.num_params() + attention_factor * c.n_layer * c.n_embd * c.block_size

    def decayed_parameter_names(self, decay_embeddings=False):
        """Names of the parameters AdamW decays: the nn.Linear weights, as in the paper's released code
        (no decay on biases, LayerNorms, the token embedding = tied LM head, the position embedding);
        decay_embeddings=True decays the two embeddings too (every 2-D tensor, as current nanoGPT)."""
        embeddings = {id(self.transformer.wte.weight), id(self.transformer.wpe.weight)}
        linear = {id(m.weight) for m in self.modules() if isinstance(m, nn.Linear)}
        chosen = linear | embeddings if decay_embeddings else linear - embeddings
        return [name for name, p in self.named_parameters() if id(p) in chosen]

    def configure_optimizer(self, weight_decay, learning_rate, betas, device_type, decay_embeddings=False):
        """AdamW, weight decay on `decayed_parameter_names` only, fused on CUDA."""
        decayed = set(self.decayed_parameter_names(decay_embeddings))
        params = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in params if n in decayed], "weight_decay": weight_decay},
            {"params": [p for n, p in params if n not in decayed], "weight_decay": 0.0},
        ]
        fused = device_type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **({"fused": True} if fused else {}))


# dense bf16 peak TFLOP/s by GPU name; the first matching key wins
PEAK_TFLOPS = {"H200": 989.0, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H100": 989.0, "A100": 312.0}


def peak_flops(device_name, override_tflops=0.0):
    """Peak FLOP/s of the device for MFU, or None when unknown (e.g. a CPU)."""
    if override_tflops > 0:
        return override_tflops * 1e12
    for key, tflops in PEAK_TFLOPS.items():
        if key in device_name:
            return tflops * 1e12
    return None

