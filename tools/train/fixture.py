#!/usr/bin/python3
"""The independent oracle: logits of the shipped model from plain, standard attention.

Reads models/<name>/model.bin and runs it token by token in PyTorch float32 with an ordinary K and V
cache and softmax(q·Kᵀ/√head_dim)·V — no slim-attention algebra — so slimedge's decoder (slim or
vanilla) can be checked against it. The forward pass below is written out on its own, not shared with
the training model; as a cross-check the same logits are recomputed with the training model's
batched forward and the largest difference is recorded.

For each of 3 fixed prompts: token ids = [BOS=1] + sentencepiece(prompt), then greedy continuation
until the sequence has 256 tokens. Written:
  models/<name>/torch-fixture.bin   float32 little-endian logits, for each sequence in order a
                                    (positions, vocab) row-major block; row p = logits after token p
  models/<name>/torch-fixture.json  layout: per sequence the prompt, tokens, byte offset, positions,
                                    and greedy_next[p] = argmax of row p

Usage: /usr/bin/python3 tools/train/fixture.py [--name slimedge-tiny] [--positions 256]
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import sentencepiece as spm
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama2c_bin  # noqa: E402

PROMPTS = [
    "The committee noted with concern that",
    "hey where r u? i'm at the",
    "Monica: Okay, everybody relax. This is not even a date.",
]


class StandardDecoder:
    """Token-at-a-time Llama decoder with a K and a V cache (llama2.c run.c conventions)."""

    def __init__(self, config, w, max_pos):
        self.c, self.w = config, {k: torch.from_numpy(np.array(v)) for k, v in w.items()}
        self.n_heads = config["n_heads"]
        self.hd = config["dim"] // self.n_heads
        L, d = config["n_layers"], config["dim"]
        self.k_cache = torch.zeros(L, max_pos, d)  # post-RoPE keys, (layer, pos, d)
        self.v_cache = torch.zeros(L, max_pos, d)  # values, (layer, pos, d)
        self.pos = 0

    @staticmethod
    def rmsnorm(x, weight):  # x (d,) -> (d,)
        return x / torch.sqrt((x * x).mean() + 1e-5) * weight

    def rope(self, x, pos):  # x (d,): rotate pairs (2i, 2i+1) of each head by pos·10000^(-2i/hd)
        out = x.clone()
        for j in range(0, x.shape[0], 2):
            freq = 1.0 / 10000.0 ** ((j % self.hd) / self.hd)
            c, s = math.cos(pos * freq), math.sin(pos * freq)
            out[j] = x[j] * c - x[j + 1] * s
            out[j + 1] = x[j] * s + x[j + 1] * c
        return out

    def step(self, token):  # -> logits (vocab,)
        w, p, H, hd = self.w, self.pos, self.n_heads, self.hd
        x = w["tok_embeddings"][token].clone()
        for l in range(self.c["n_layers"]):
            xb = self.rmsnorm(x, w["attention_norm"][l])
            q = self.rope(w["wq"][l] @ xb, p)
            self.k_cache[l, p] = self.rope(w["wk"][l] @ xb, p)
            self.v_cache[l, p] = w["wv"][l] @ xb
            att_out = torch.empty_like(x)
            for h in range(H):
                sl = slice(h * hd, (h + 1) * hd)
                scores = self.k_cache[l, : p + 1, sl] @ q[sl] / math.sqrt(hd)  # (p+1,)
                att_out[sl] = torch.softmax(scores, dim=0) @ self.v_cache[l, : p + 1, sl]
            x = x + w["wo"][l] @ att_out
            xb = self.rmsnorm(x, w["ffn_norm"][l])
            h1, h3 = w["w1"][l] @ xb, w["w3"][l] @ xb
            x = x + w["w2"][l] @ (torch.nn.functional.silu(h1) * h3)
        self.pos += 1
        return w["output"] @ self.rmsnorm(x, w["norm"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="slimedge-tiny")
    ap.add_argument("--positions", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads; OpenBLAS adds its own pthreads (one per core)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_dir = os.path.join("models", args.name)
    config, _, weights = llama2c_bin.read(os.path.join(model_dir, "model.bin"))
    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    vocab = config["vocab_size"]

    sequences, blocks, offset = [], [], 0
    with torch.no_grad():
        for prompt in PROMPTS:
            tokens = [sp.bos_id()] + sp.encode(prompt)
            n_prompt = len(tokens)
            dec = StandardDecoder(config, weights, args.positions)
            rows = []
            for p in range(args.positions):
                logits = dec.step(tokens[p])
                rows.append(logits)
                if p + 1 == len(tokens) and len(tokens) < args.positions:
                    tokens.append(int(torch.argmax(logits)))  # greedy continuation
            block = torch.stack(rows).numpy().astype("<f4")  # (positions, vocab)
            sequences.append({
                "prompt": prompt, "prompt_tokens": n_prompt, "tokens": tokens,
                "positions": args.positions, "offset_bytes": offset,
                "greedy_next": [int(i) for i in block.argmax(axis=1)],
                "max_abs_logit": float(np.abs(block).max()),
                "text": sp.decode(tokens[1:]),
            })
            blocks.append(block)
            offset += block.nbytes
            print(f"{prompt!r}: {n_prompt} prompt tokens -> {sp.decode(tokens[1:])[:160]!r}", flush=True)

    # Cross-check against the training code's batched forward (different code path, same math).
    from eval import load_model
    model = load_model(os.path.join(model_dir, "model.bin"))
    with torch.no_grad():
        cross = max(float((model(torch.tensor([s["tokens"]]))[0].numpy() - b).__abs__().max())
                    for s, b in zip(sequences, blocks))
    print(f"max |standard decoder − batched forward| = {cross:.3e}")

    with open(os.path.join(model_dir, "torch-fixture.bin"), "wb") as f:
        for b in blocks:
            f.write(b.tobytes())
    layout = {
        "model": "model.bin", "tokenizer": "tokenizer.bin", "config": config,
        "attention": "standard softmax(q·Kᵀ/√head_dim)·V with K and V caches, PyTorch float32, one token at a time",
        "logits_file": "torch-fixture.bin", "dtype": "float32", "byte_order": "little",
        "layout": "per sequence, in order: (positions, vocab_size) row-major; row p = logits after "
                  "feeding tokens[0..p], i.e. the prediction for tokens[p+1]",
        "vocab_size": vocab, "bos": sp.bos_id(),
        "total_bytes": offset,
        "cross_check_max_abs_diff_vs_batched_forward": cross,
        "torch": torch.__version__,
        "sequences": sequences,
    }
    with open(os.path.join(model_dir, "torch-fixture.json"), "w") as f:
        json.dump(layout, f, indent=1)
    print(f"wrote {model_dir}/torch-fixture.bin ({offset:,} bytes) and torch-fixture.json")


if __name__ == "__main__":
    main()
