"""The default model's architecture (Llama, llama2.c conventions) and its data helpers, for training.

Conventions, matching llama2.c run.c so the exported weights run there and in slimedge unchanged:
- RMSNorm with eps 1e-5, weight only.
- RoPE with theta 10000 rotating ADJACENT pairs (2i, 2i+1) inside each head, frequency
  theta^(-2i/head_dim) (not the Hugging Face half-split layout).
- Multi-head attention, n_kv_heads == n_heads, no biases anywhere.
- SwiGLU feed-forward: w2(silu(w1 x) * w3 x).
- The classifier shares the token-embedding matrix.
Linear weights are (out, in) as in nn.Linear; the exporter writes them row-major as is.
"""
from dataclasses import dataclass, asdict
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    dim: int = 128  # residual width d
    hidden_dim: int = 352  # SwiGLU width: 4·d·2/3 = 341.3, rounded up to a multiple of 32
    n_layers: int = 6
    n_heads: int = 8  # head_dim = 16
    n_kv_heads: int = 8  # multi-head attention: W_K is square (d, d), so it can be inverted
    vocab_size: int = 1024
    max_seq_len: int = 2048  # the context the model is shipped for (RoPE table length)
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def to_dict(self):
        return asdict(self)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(head_dim: int, n_pos: int, theta: float):
    """cos, sin of shape (n_pos, head_dim/2): angle[p, i] = p · theta^(-2i/head_dim)."""
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
    angles = torch.outer(torch.arange(n_pos, dtype=torch.float32), freqs)
    return torch.cos(angles), torch.sin(angles)


def apply_rope(x, cos, sin):
    """x (B, T, H, hd); rotates each adjacent pair (x[2i], x[2i+1]) by angle[t, i].
    cos, sin are (T, hd/2), or (B, T, hd/2) when each row has its own position ids."""
    xr = x.reshape(*x.shape[:-1], -1, 2)
    x0, x1 = xr[..., 0], xr[..., 1]
    if cos.dim() == 3:
        c, s = cos[:, :, None, :], sin[:, :, None, :]
    else:
        c, s = cos[None, :, None, :], sin[None, :, None, :]
    return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.n_heads = cfg.n_heads
        self.head_dim = cfg.dim // cfg.n_heads
        self.wq = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wk = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wv = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.wo = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, D = x.shape
        q = self.wq(x).view(B, T, self.n_heads, self.head_dim)
        k = self.wk(x).view(B, T, self.n_heads, self.head_dim)
        v = self.wv(x).view(B, T, self.n_heads, self.head_dim)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H, T, hd)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim) + mask
        out = F.softmax(scores, dim=-1) @ v
        return self.wo(out.transpose(1, 2).reshape(B, T, D))


class FeedForward(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)
        self.w2 = nn.Linear(cfg.hidden_dim, cfg.dim, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.hidden_dim, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attention = Attention(cfg)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.feed_forward = FeedForward(cfg)

    def forward(self, x, cos, sin, mask):
        x = x + self.attention(self.attention_norm(x), cos, sin, mask)
        return x + self.feed_forward(self.ffn_norm(x))


class Transformer(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        self.output.weight = self.tok_embeddings.weight  # shared classifier
        cos, sin = rope_tables(cfg.dim // cfg.n_heads, cfg.max_seq_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.apply(self._init)
        # GPT-2 style: shrink the projections that write into the residual stream by depth.
        for name, p in self.named_parameters():
            if name.endswith("wo.weight") or name.endswith("w2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg.n_layers))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def forward(self, tokens, pos=None):
        """tokens (B, T) -> logits (B, T, vocab). pos (B, T), optional: each token's RoPE position, for
        positional-skip training; the default is 0..T-1. The mask is causal in sequence order either way."""
        T = tokens.shape[1]
        mask = torch.full((T, T), float("-inf")).triu(1)
        if pos is None:
            cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        else:
            cos, sin = self.rope_cos[pos], self.rope_sin[pos]
        x = self.tok_embeddings(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin, mask)
        return self.output(self.norm(x))


def tokenize_file(sp, path: str) -> np.ndarray:
    """One sentence per line -> one uint16 stream, each sentence preceded by BOS (id 1)."""
    with open(path, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    ids = []
    for enc in sp.encode(lines):
        ids.append(sp.bos_id())
        ids.extend(enc)
    return np.array(ids, dtype=np.uint16)


def key_conditioning_penalty(model, kind: str):
    """Mean over layers of how far each W_K is from a scaled orthogonal matrix (cond(W_K) = 1).

    kind "logsv": variance of log σ_i(W_K); log cond(W_K) = max − min of the same logs.
    kind "gram":  ‖W_KᵀW_K / s − I‖²_F / d with s = tr(W_KᵀW_K) / d (mean squared singular value).
    Both are invariant to the scale of W_K, so they leave the overall key magnitude to the loss and to
    weight decay and only act on the spread of the singular values (ARCHITECTURE.md, "Numerics").
    """
    terms = []
    for layer in model.layers:
        w = layer.attention.wk.weight
        if kind == "logsv":
            ls = torch.log(torch.linalg.svdvals(w))
            terms.append(((ls - ls.mean()) ** 2).mean())
        elif kind == "gram":
            g = w.T @ w
            d = g.shape[0]
            s = torch.diagonal(g).sum() / d
            terms.append(((g / s - torch.eye(d)) ** 2).sum() / d)
        else:
            raise ValueError(f"unknown conditioning penalty kind {kind!r} (expected logsv or gram)")
    return torch.stack(terms).mean()


@torch.no_grad()
def key_conditions(model):
    """cond₂(W_K) per layer, from float64 singular values."""
    out = []
    for layer in model.layers:
        sv = torch.linalg.svdvals(layer.attention.wk.weight.double())
        out.append((sv.max() / sv.min()).item())
    return out
