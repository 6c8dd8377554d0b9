"""Read and write llama2.c version-1 checkpoints (model.bin): the shipped model's on-disk form.

Layout (little-endian):
  header, 256 bytes: uint32 magic 0x616b3432 ("ak42"), int32 version = 1,
    int32 dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, max_seq_len,
    uint8 shared_classifier, zero padding to 256 bytes
  float32 tensors, row-major, Linear weights as (out, in):
    attention_norm (n_layers, dim) · ffn_norm (n_layers, dim) · norm (dim,) · tok_embeddings (vocab, dim)
    wq, wk, wv (n_layers, n_heads*head_dim, dim) · wo (n_layers, dim, n_heads*head_dim)
    w1 (n_layers, hidden, dim) · w2 (n_layers, dim, hidden) · w3 (n_layers, hidden, dim)
    output (vocab, dim) only when shared_classifier == 0
"""
import struct

import numpy as np

MAGIC = 0x616B3432
HEADER_BYTES = 256
CONFIG_FIELDS = ("dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "max_seq_len")


def tensor_shapes(c: dict, shared: bool):
    """(name, shape) in file order."""
    L, d, h, V = c["n_layers"], c["dim"], c["hidden_dim"], c["vocab_size"]
    kv = c["n_kv_heads"] * (d // c["n_heads"])
    shapes = [
        ("attention_norm", (L, d)), ("ffn_norm", (L, d)), ("norm", (d,)), ("tok_embeddings", (V, d)),
        ("wq", (L, d, d)), ("wk", (L, kv, d)), ("wv", (L, kv, d)), ("wo", (L, d, d)),
        ("w1", (L, h, d)), ("w2", (L, d, h)), ("w3", (L, h, d)),
    ]
    if not shared:
        shapes.append(("output", (V, d)))
    return shapes


def write(path: str, config: dict, tensors: dict) -> None:
    """tensors: name -> float32 array of the shape tensor_shapes() lists."""
    shared = "output" not in tensors
    header = struct.pack("<Ii", MAGIC, 1) + struct.pack("<7i", *(config[k] for k in CONFIG_FIELDS))
    header += struct.pack("<B", int(shared))
    with open(path, "wb") as f:
        f.write(header + b"\0" * (HEADER_BYTES - len(header)))
        for name, shape in tensor_shapes(config, shared):
            t = np.ascontiguousarray(tensors[name], dtype="<f4")
            assert t.shape == shape, (name, t.shape, shape)
            f.write(t.tobytes())


def read(path: str):
    """-> (config dict, shared_classifier bool, name -> float32 array)."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version = struct.unpack_from("<Ii", data, 0)
    if magic != MAGIC or version != 1:
        raise ValueError(f"{path}: not a llama2.c version-1 file (magic {magic:#x}, version {version})")
    config = dict(zip(CONFIG_FIELDS, struct.unpack_from("<7i", data, 8)))
    shared = bool(data[36])
    tensors, offset = {}, HEADER_BYTES
    for name, shape in tensor_shapes(config, shared):
        n = int(np.prod(shape))
        tensors[name] = np.frombuffer(data, dtype="<f4", count=n, offset=offset).reshape(shape)
        offset += 4 * n
    if offset != len(data):
        raise ValueError(f"{path}: {len(data) - offset} bytes after the last tensor")
    if shared:
        tensors["output"] = tensors["tok_embeddings"]
    return config, shared, tensors
