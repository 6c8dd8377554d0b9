#!/usr/bin/python3
"""Write the trained weights as models/<name>/model.bin (llama2.c version 1, float32).

Reads the final training checkpoint (train.py's <work>/final.pt), checks the classifier is still tied
to the embedding, writes the file, reads it back and compares every tensor bit for bit.

Usage: /usr/bin/python3 tools/train/export.py [--ckpt /tmp/slimedge-train/final.pt] [--name slimedge-tiny] [--out file]
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import llama2c_bin  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ckpt", default="/tmp/slimedge-train/final.pt")
    ap.add_argument("--name", default="slimedge-tiny")
    ap.add_argument("--out", default=None, help="output file (default models/<name>/model.bin)")
    args = ap.parse_args()

    ck = torch.load(args.ckpt, map_location="cpu")
    sd = {k: v.float().numpy() for k, v in ck["model"].items()}
    cfg = ck.get("config")
    if cfg is None:  # a mid-run ckpt.pt: rebuild the config from the tensors
        from model import Config
        cfg = Config(vocab_size=sd["tok_embeddings.weight"].shape[0]).to_dict()
    L = cfg["n_layers"]
    assert np.array_equal(sd["tok_embeddings.weight"], sd["output.weight"]), "classifier is not tied"

    def stack(fmt):
        return np.stack([sd[fmt.format(i)] for i in range(L)])

    tensors = {
        "attention_norm": stack("layers.{}.attention_norm.weight"),
        "ffn_norm": stack("layers.{}.ffn_norm.weight"),
        "norm": sd["norm.weight"],
        "tok_embeddings": sd["tok_embeddings.weight"],
        **{w: stack("layers.{}.attention.%s.weight" % w) for w in ("wq", "wk", "wv", "wo")},
        **{w: stack("layers.{}.feed_forward.%s.weight" % w) for w in ("w1", "w2", "w3")},
    }
    out = args.out or os.path.join("models", args.name, "model.bin")
    llama2c_bin.write(out, cfg, tensors)

    config_back, shared, back = llama2c_bin.read(out)
    assert shared and all(config_back[k] == cfg[k] for k in llama2c_bin.CONFIG_FIELDS)
    for name, t in tensors.items():
        assert np.array_equal(back[name], t), name
    n_params = sum(t.size for t in tensors.values())
    print(f"wrote {out}: {os.path.getsize(out):,} bytes, {n_params:,} parameters, config {config_back}")


if __name__ == "__main__":
    main()
