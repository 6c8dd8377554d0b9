#!/usr/bin/python3
"""Train the shipped default model on CPU, resumable, with a loss log and a loss curve.

Threads: Debian's torch does its matrix products in OpenBLAS, which starts its own pthread per core.
Setting torch's intra-op threads to 2 as well oversubscribes a 2-core machine; measured on 16×256
windows: 1.33–1.5 s/step with torch.set_num_threads(2), 0.98–1.2 s/step with 1 (the default here).

Batches are random windows of --seq-len+1 tokens from the tokenized training stream (sentences
separated by BOS). The learning rate warms up linearly, then follows a cosine down to --min-lr.
Every --ckpt-every steps the model, optimizer and all RNG states go to <work>/ckpt.pt, so re-running
the same command continues where an interrupted run stopped (with the same thread settings, on the
same weights; only float summation order can differ across thread counts). --stop-at N ends a run
after step N's checkpoint, so a run whose schedule was changed midway can be replayed exactly.

Usage:
  /usr/bin/python3 tools/train/train.py --steps 1600 --seq-len 256 --batch 16 \
      --long-from 1350 --long-seq-len 512 --long-batch 8
Outputs:
  <work>/ckpt.pt (resume point), <work>/final.pt (trained weights + config; input of export.py)
  models/<name>/train-log.csv, models/<name>/train-summary.json, models/<name>/loss.png
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import Config, Transformer, key_conditioning_penalty, key_conditions, tokenize_file  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", default="slimedge-tiny")
    ap.add_argument("--data", default="/tmp/slimedge-data")
    ap.add_argument("--work", default="/tmp/slimedge-train")
    ap.add_argument("--tokenizer", default=None, help="default: models/<name>/tokenizer.model")
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--batch", type=int, default=8)
    # Optional second phase at a longer length (same tokens per step), so the model sees longer
    # relative distances before it is evaluated at 2048 positions, at a fraction of the full cost.
    ap.add_argument("--long-from", type=int, default=None, help="first step of the long phase")
    ap.add_argument("--long-seq-len", type=int, default=1024)
    ap.add_argument("--long-batch", type=int, default=4)
    # Positional skip: in the short phase, each row's positions jump once by a random amount, so that
    # relative distances up to --pos-span are trained at the cost of --seq-len windows.
    ap.add_argument("--pos-skip", type=float, default=0.0, help="share of short-phase rows with a position skip")
    ap.add_argument("--pos-span", type=int, default=2048, help="largest position a skipped row reaches + 1")
    # Keep W_K well-conditioned, so slim attention survives f16/q8 cache rows (model.key_conditioning_penalty).
    ap.add_argument("--cond-penalty", type=float, default=0.0, help="weight of the W_K conditioning penalty")
    ap.add_argument("--cond-kind", choices=["logsv", "gram"], default="logsv")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-windows", type=int, default=16)
    ap.add_argument("--ckpt-every", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch intra-op threads; OpenBLAS adds its own pthreads (one per core)")
    ap.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    ap.add_argument("--config", default=None, help="JSON of Config fields overriding the defaults (small test runs)")
    ap.add_argument("--out", default=None, help="folder for the log, summary and plot (default models/<name>)")
    ap.add_argument("--stop-at", type=int, default=None, help="exit after this step's checkpoint")
    return ap.parse_args()


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * min(1.0, progress)))


def random_batch(stream, seq_len, batch, gen):
    starts = torch.randint(0, len(stream) - seq_len - 1, (batch,), generator=gen)
    chunks = [torch.from_numpy(stream[s : s + seq_len + 1].astype(np.int64)) for s in starts.tolist()]
    xy = torch.stack(chunks)
    return xy[:, :-1], xy[:, 1:]


def skip_positions(batch, seq_len, share, span, gen):
    """Position ids (B, T): 0..T-1, except that in about `share` of the rows the positions from a random
    split point on are shifted by a random skip, so the row's last position reaches up to span - 1.
    RoPE sees only position differences, so this trains distances up to span at the cost of T."""
    pos = torch.arange(seq_len).repeat(batch, 1)
    pick = torch.rand(batch, generator=gen) < share
    split = torch.randint(1, seq_len, (batch,), generator=gen)
    skip = (torch.rand(batch, generator=gen) * (span - seq_len + 1)).long()
    for b in range(batch):
        if pick[b]:
            pos[b, split[b]:] += skip[b]
    return pos


@torch.no_grad()
def val_loss(model, windows):
    """Mean next-token loss over fixed validation windows (B, T+1)."""
    model.eval()
    losses = []
    for w in windows.split(4):
        logits = model(w[:, :-1])
        losses.append(F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item())
    model.train()
    return sum(losses) / (windows.shape[0] * (windows.shape[1] - 1))


def plot(log_rows, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    steps = [r["step"] for r in log_rows]
    ax.plot(steps, [r["train_loss"] for r in log_rows], label="train (mean since last point)")
    val = [(r["step"], r["val_loss"]) for r in log_rows if r["val_loss"] != ""]
    if val:
        ax.plot(*zip(*val), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    out_dir = args.out or os.path.join("models", args.name)
    os.makedirs(args.work, exist_ok=True)
    os.makedirs(out_dir, exist_ok=True)

    sp = spm.SentencePieceProcessor(model_file=args.tokenizer or os.path.join(out_dir, "tokenizer.model"))
    t0 = time.time()
    train_ids = tokenize_file(sp, os.path.join(args.data, "train.txt"))
    val_ids = tokenize_file(sp, os.path.join(args.data, "val.txt"))
    print(f"tokens: train {len(train_ids):,} val {len(val_ids):,} ({time.time() - t0:.1f}s)", flush=True)

    cfg = Config(vocab_size=sp.vocab_size(), **(json.loads(args.config) if args.config else {}))
    model = Transformer(cfg)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"config {cfg.to_dict()} params {n_params:,}", flush=True)

    # Weight decay on matrices only (not norms): the usual AdamW split.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
    )

    # Fixed validation windows: evenly spaced, non-overlapping, at the training length.
    T = args.seq_len
    n_win = min(args.eval_windows, (len(val_ids) - 1) // T)
    stride = (len(val_ids) - 1 - T) // max(1, n_win - 1)
    val_windows = torch.stack(
        [torch.from_numpy(val_ids[i * stride : i * stride + T + 1].astype(np.int64)) for i in range(n_win)]
    )

    gen = torch.Generator().manual_seed(args.seed)
    ckpt_path = os.path.join(args.work, "ckpt.pt")
    step, log_rows, train_seconds = 0, [], 0.0
    if os.path.exists(ckpt_path) and not args.fresh:
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        gen.set_state(ck["gen"])
        torch.set_rng_state(ck["torch_rng"])
        step, log_rows, train_seconds = ck["step"], ck["log"], ck["train_seconds"]
        print(f"resumed from {ckpt_path} at step {step}", flush=True)

    def save_ckpt():
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                    "torch_rng": torch.get_rng_state(), "step": step, "log": log_rows,
                    "train_seconds": train_seconds, "args": vars(args)}, ckpt_path + ".tmp")
        os.replace(ckpt_path + ".tmp", ckpt_path)  # never leave a half-written checkpoint

    model.train()
    window_loss, window_steps, window_t0 = 0.0, 0, time.time()
    while step < args.steps:
        lr = lr_at(step, args)
        for g in opt.param_groups:
            g["lr"] = lr
        long_phase = args.long_from is not None and step >= args.long_from
        T, B = (args.long_seq_len, args.long_batch) if long_phase else (args.seq_len, args.batch)
        x, y = random_batch(train_ids, T, B, gen)
        pos = skip_positions(B, T, args.pos_skip, args.pos_span, gen) if args.pos_skip > 0 and not long_phase else None
        t_step = time.time()
        logits = model(x, pos)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        total = loss
        if args.cond_penalty > 0:
            pen = key_conditioning_penalty(model, args.cond_kind)
            total = loss + args.cond_penalty * pen
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_seconds += time.time() - t_step
        step += 1
        window_loss += loss.item()
        window_steps += 1

        if step % 10 == 0 or step == args.steps:
            dt = time.time() - window_t0
            tok_s = window_steps * B * T / dt
            eta = (args.steps - step) * dt / window_steps
            print(f"step {step}/{args.steps} loss {loss.item():.4f} lr {lr:.2e} "
                  f"T={T} {tok_s:,.0f} tok/s {dt / window_steps:.2f} s/step ETA {eta / 60:.1f} min", flush=True)
        if step % args.eval_every == 0 or step == args.steps:
            v = val_loss(model, val_windows)
            conds = key_conditions(model)
            log_rows.append({"step": step, "lr": lr, "train_loss": window_loss / window_steps,
                             "val_loss": v, "train_seconds": round(train_seconds, 1),
                             "max_cond_wk": round(max(conds), 3)})
            print(f"  eval step {step}: train {window_loss / window_steps:.4f} val {v:.4f} "
                  f"(ppl {math.exp(v):.2f}) cond(W_K) {' '.join(f'{c:.1f}' for c in conds)}", flush=True)
            window_loss, window_steps, window_t0 = 0.0, 0, time.time()
            with open(os.path.join(out_dir, "train-log.csv"), "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(log_rows[0].keys()))
                w.writeheader()
                w.writerows(log_rows)
        if step % args.ckpt_every == 0 or step == args.steps or step == args.stop_at:
            save_ckpt()
        if step == args.stop_at and step < args.steps:
            print(f"stopped after step {step} as asked; resume without --fresh", flush=True)
            return

    torch.save({"model": model.state_dict(), "config": cfg.to_dict(), "args": vars(args)},
               os.path.join(args.work, "final.pt"))
    summary = {
        "config": cfg.to_dict(), "params": n_params, "args": vars(args),
        "tokens": {"train": int(len(train_ids)), "val": int(len(val_ids))},
        "tokens_seen": sum(
            (args.long_batch * args.long_seq_len) if args.long_from is not None and s >= args.long_from
            else (args.batch * args.seq_len) for s in range(args.steps)),
        "train_seconds": round(train_seconds, 1), "torch": torch.__version__,
        "final": log_rows[-1] if log_rows else None,
        "cond_wk": key_conditions(model),
    }
    with open(os.path.join(out_dir, "train-summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    plot(log_rows, os.path.join(out_dir, "loss.png"),
         f"{args.name}: {n_params / 1e6:.2f}M params, {args.steps} steps"
         + (f" ({args.batch}×{args.seq_len}, then {args.long_batch}×{args.long_seq_len} from {args.long_from})"
            if args.long_from is not None else f" × {args.batch}×{args.seq_len} tokens"))
    print(f"done: {train_seconds / 60:.1f} min of training; wrote {out_dir}/loss.png", flush=True)


if __name__ == "__main__":
    main()
