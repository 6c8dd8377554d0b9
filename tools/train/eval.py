#!/usr/bin/python3
"""Evaluate the shipped model from models/<name>/model.bin (never from a torch checkpoint).

Writes models/<name>/eval.json with:
- validation loss / perplexity over the whole held-out split, cut into non-overlapping windows of each
  evaluated length (the training lengths and 2048), plus the 2048-token loss by position bucket, so
  the cost of running past the training length is visible;
- per layer: cond(W_K) (2-norm, float64 SVD) and the slim-attention V reconstruction error
  ‖K·W_KV − V‖_F / ‖V‖_F on the model's own activations for a fixed validation prompt.
  With Linear weights (out, in): k = W_k x and v = W_v x, so v = (W_v W_k⁻¹) k; with row vectors
  V = K · W_KV where W_KV = W_k⁻ᵀ W_vᵀ (= W_K⁻¹ W_V for the (in, out) matrices W_K = W_kᵀ, W_V = W_vᵀ).
  K here is the pre-RoPE key (RoPE is position dependent, so the cache keeps keys before rotation
  when V is to be derived from them). Errors are given with W_KV and the product in float64 and in
  float32 (W_KV computed in float64, then rounded: the on-device precision);
- a greedy sample and a temperature-0.8 sample (fixed seed).

Usage: /usr/bin/python3 tools/train/eval.py [--name slimedge-tiny] [--data /tmp/slimedge-data] [--out file]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama2c_bin  # noqa: E402
from model import Config, Transformer, tokenize_file  # noqa: E402


def load_model(path: str) -> Transformer:
    """Build the training-code model from model.bin's header and tensors."""
    config, _, t = llama2c_bin.read(path)
    model = Transformer(Config(**config))
    sd = {"tok_embeddings.weight": t["tok_embeddings"], "norm.weight": t["norm"]}
    for i in range(config["n_layers"]):
        sd[f"layers.{i}.attention_norm.weight"] = t["attention_norm"][i]
        sd[f"layers.{i}.ffn_norm.weight"] = t["ffn_norm"][i]
        for w in ("wq", "wk", "wv", "wo"):
            sd[f"layers.{i}.attention.{w}.weight"] = t[w][i]
        for w in ("w1", "w2", "w3"):
            sd[f"layers.{i}.feed_forward.{w}.weight"] = t[w][i]
    sd["output.weight"] = t["tok_embeddings"]
    model.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in sd.items()})
    return model.eval()


@torch.no_grad()
def position_losses(model, ids: np.ndarray, T: int, batch: int) -> np.ndarray:
    """Per-token loss, shape (n_windows, T), over non-overlapping windows of T+1 tokens (1 shared)."""
    n = (len(ids) - 1) // T
    windows = torch.stack([torch.from_numpy(ids[i * T : i * T + T + 1].astype(np.int64)) for i in range(n)])
    out = []
    for w in windows.split(batch):
        logits = model(w[:, :-1])
        out.append(F.cross_entropy(logits.transpose(1, 2), w[:, 1:], reduction="none"))
    return torch.cat(out).numpy().astype(np.float64)


@torch.no_grad()
def attention_inputs(model, tokens: torch.Tensor):
    """The RMS-normalized input of each layer's attention for one sequence: list of (T, d)."""
    captured = []
    hooks = [layer.attention_norm.register_forward_hook(lambda m, i, o: captured.append(o[0].clone()))
             for layer in model.layers]
    model(tokens[None])
    for h in hooks:
        h.remove()
    return captured


def cache_rows(a, cache):
    """Rows of a (T, d) float32 array as a cache stores them: f16, or q8 = int8 per value with one f32
    scale max|row| / 127 per row, rounding half to even (host/core/quant.ts quantizeQ8 with group d)."""
    a = a.astype(np.float32)
    if cache == "f16":
        return a.astype(np.float16).astype(np.float64)
    scale = (np.abs(a).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    inv = np.where(scale != 0, np.float32(1) / np.where(scale != 0, scale, 1), 0).astype(np.float32)
    q = np.round(a * inv)
    return (q.astype(np.float32) * scale).astype(np.float64)


def slim_report(model, tokens):
    rows = []
    for i, (layer, x) in enumerate(zip(model.layers, attention_inputs(model, tokens))):
        wk = layer.attention.wk.weight.detach().double().numpy()
        wv = layer.attention.wv.weight.detach().double().numpy()
        x64 = x.double().numpy()
        k64, v64 = x64 @ wk.T, x64 @ wv.T  # pre-RoPE keys and values, (T, d)
        w_kv = np.linalg.solve(wk.T, wv.T)  # W_k⁻ᵀ W_vᵀ without forming the inverse
        err64 = np.linalg.norm(k64 @ w_kv - v64) / np.linalg.norm(v64)
        # float32 path: keys as the device computes them, W_KV rounded to f32, product in f32.
        x32 = x.numpy()
        k32 = x32 @ wk.T.astype(np.float32)
        v_hat32 = k32 @ w_kv.astype(np.float32)
        err32 = np.linalg.norm(v_hat32.astype(np.float64) - v64) / np.linalg.norm(v64)
        s = np.linalg.svd(wk, compute_uv=False)
        row = {"layer": i, "cond_wk": float(s[0] / s[-1]), "sigma_max": float(s[0]),
               "sigma_min": float(s[-1]), "v_rel_err_f64": float(err64), "v_rel_err_f32": float(err32)}
        # Cache rows at f16 / q8: slim rounds K and reconstructs V through W_KV (f32); a vanilla V-cache
        # rounds V itself. slimify keeps a layer slim when slim's error exceeds vanilla's by ≤ 1e-3.
        w_kv32 = w_kv.astype(np.float32).astype(np.float64)
        for cache in ("f16", "q8"):
            slim_err = np.linalg.norm(cache_rows(k32, cache) @ w_kv32 - v64) / np.linalg.norm(v64)
            van_err = np.linalg.norm(cache_rows(x32 @ wv.T.astype(np.float32), cache) - v64) / np.linalg.norm(v64)
            row[f"v_rel_err_{cache}_slim"] = float(slim_err)
            row[f"v_rel_err_{cache}_vanilla"] = float(van_err)
        rows.append(row)
    return rows


@torch.no_grad()
def generate(model, prompt, n_new, temperature, seed):
    rng = np.random.default_rng(seed)
    ids = list(prompt)
    for _ in range(n_new):
        logits = model(torch.tensor([ids[-model.cfg.max_seq_len:]]))[0, -1].double().numpy()
        if temperature == 0:
            ids.append(int(np.argmax(logits)))
        else:
            p = np.exp((logits - logits.max()) / temperature)
            ids.append(int(rng.choice(len(p), p=p / p.sum())))
    return ids


def decode(sp, ids):
    """Text with one line per BOS-separated sentence (the training data's layout)."""
    parts, cur = [], []
    for t in ids:
        if t == sp.bos_id():
            if cur:
                parts.append(sp.decode(cur))
            cur = []
        else:
            cur.append(t)
    parts.append(sp.decode(cur))
    return "\n".join(parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="slimedge-tiny")
    ap.add_argument("--data", default="/tmp/slimedge-data")
    ap.add_argument("--lengths", default="256,512,2048")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads; OpenBLAS adds its own pthreads (one per core)")
    ap.add_argument("--sample-tokens", type=int, default=160)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", default=None, help="where to write the JSON (default models/<name>/eval.json)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t_start = time.time()
    model_dir = os.path.join("models", args.name)
    model = load_model(os.path.join(model_dir, "model.bin"))
    cfg = model.cfg
    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, "tokenizer.model"))
    val_ids = tokenize_file(sp, os.path.join(args.data, "val.txt"))

    validation = {}
    for T in (int(s) for s in args.lengths.split(",")):
        losses = position_losses(model, val_ids, T, batch=max(1, 4096 // T))
        mean = float(losses.mean())
        entry = {"windows": losses.shape[0], "tokens": int(losses.size), "loss": mean, "ppl": math.exp(mean)}
        edges = [0, 128, 256, 512, 1024, 2048]
        buckets = [(a, b) for a, b in zip(edges, edges[1:]) if a < T]
        if len(buckets) > 1:
            entry["loss_by_position"] = {f"{a}-{min(b, T) - 1}": float(losses[:, a:min(b, T)].mean())
                                         for a, b in buckets}
        validation[str(T)] = entry
        print(f"val T={T}: loss {mean:.4f} ppl {math.exp(mean):.2f} "
              f"{entry.get('loss_by_position', '')}", flush=True)

    slim_prompt = torch.from_numpy(val_ids[:512].astype(np.int64))
    slim = slim_report(model, slim_prompt)
    for r in slim:
        print(f"layer {r['layer']}: cond(W_K) {r['cond_wk']:.1f}  ‖KW_KV−V‖/‖V‖ f64 {r['v_rel_err_f64']:.2e} "
              f"f32 {r['v_rel_err_f32']:.2e} f16 {r['v_rel_err_f16_slim']:.2e} (vanilla {r['v_rel_err_f16_vanilla']:.2e}) "
              f"q8 {r['v_rel_err_q8_slim']:.2e} (vanilla {r['v_rel_err_q8_vanilla']:.2e})", flush=True)

    bos = sp.bos_id()
    greedy_prompt = [bos] + sp.encode("The")
    greedy = generate(model, greedy_prompt, args.sample_tokens, 0.0, args.seed)
    sampled = generate(model, [bos], args.sample_tokens, 0.8, args.seed)
    samples = {
        "greedy": {"prompt": "The", "tokens": greedy, "text": decode(sp, greedy)},
        "temperature_0.8": {"prompt": "", "seed": args.seed, "sampler": "numpy default_rng(seed).choice",
                            "tokens": sampled, "text": decode(sp, sampled)},
    }
    print("greedy:\n" + samples["greedy"]["text"] + "\n\nT=0.8:\n" + samples["temperature_0.8"]["text"])

    L, d = cfg.n_layers, cfg.dim
    memory = [{"context": n, "k_cache_bytes": L * n * d * 4, "kv_cache_bytes": 2 * L * n * d * 4}
              for n in (256, 1024, 2048)]
    weights_bytes = os.path.getsize(os.path.join(model_dir, "model.bin")) - llama2c_bin.HEADER_BYTES
    result = {
        "model": args.name, "config": cfg.to_dict(),
        "params": sum(p.numel() for p in model.parameters()),
        "weights_bytes_f32": weights_bytes,
        "validation_split": {"tokens": int(len(val_ids)), "source": os.path.join(args.data, "val.txt")},
        "validation": validation,
        "slim_attention": {"prompt": "first 512 tokens of the validation split", "layers": slim},
        "samples": samples,
        "context_memory_f32": memory,
        "torch": torch.__version__, "seconds": round(time.time() - t_start, 1),
    }
    out = args.out or os.path.join(model_dir, "eval.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
