#!/usr/bin/python3
"""Train the default model's sentencepiece BPE vocabulary and export it as llama2.c's tokenizer.bin.

The vocabulary behaves like llama2.c's (and Llama 2's) tokenizer: ids 0=<unk>, 1=<s>, 2=</s>, then 256
byte-fallback pieces <0x00>..<0xFF> so any byte string encodes, then merged pieces, with '▁' marking a
leading space. Normalization is 'identity' so decode(encode(s)) == s for the cleaned ASCII text.

tokenizer.bin layout (little-endian), as llama2.c's tokenizer.py writes it and run.c reads it:
    int32 max_token_length
    per id: float32 score, int32 byte length, the piece's UTF-8 bytes (no terminator)
with '▁' replaced by ' ', and <s> / </s> written as "\\n<s>\\n" / "\\n</s>\\n".

Usage: /usr/bin/python3 tools/train/tokenizer.py [--vocab 1024] [--data /tmp/slimedge-data]
                                                 [--out models/slimedge-tiny]
"""
import argparse
import os
import struct

import sentencepiece as spm


def train(train_txt: str, prefix: str, vocab_size: int) -> None:
    spm.SentencePieceTrainer.train(
        input=train_txt,
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=vocab_size,
        self_test_sample_size=0,
        input_format="text",
        character_coverage=1.0,  # the text is already ASCII-only; keep every character
        num_threads=2,
        split_digits=True,  # numbers as digit sequences: 1k pieces are too few to memorise numbers
        allow_whitespace_only_pieces=True,
        byte_fallback=True,
        unk_surface=r" \342\201\207 ",
        normalization_rule_name="identity",
        max_sentence_length=4096,
    )


def export_bin(model_file: str, bin_file: str) -> None:
    sp = spm.SentencePieceProcessor(model_file=model_file)
    pieces = []
    for i in range(sp.vocab_size()):
        text = sp.id_to_piece(i)
        if i == sp.bos_id():
            text = "\n<s>\n"
        elif i == sp.eos_id():
            text = "\n</s>\n"
        pieces.append((text.replace("\u2581", " ").encode("utf-8"), sp.get_score(i)))
    max_len = max(len(b) for b, _ in pieces)
    with open(bin_file, "wb") as f:
        f.write(struct.pack("<i", max_len))
        for b, score in pieces:
            f.write(struct.pack("<fi", score, len(b)))
            f.write(b)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=1024)
    ap.add_argument("--data", default="/tmp/slimedge-data")
    ap.add_argument("--out", default="models/slimedge-tiny")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    prefix = os.path.join(args.out, "tokenizer")
    train(os.path.join(args.data, "train.txt"), prefix, args.vocab)
    os.remove(prefix + ".vocab")  # human-readable duplicate of the .model; not shipped
    export_bin(prefix + ".model", prefix + ".bin")
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    assert (sp.unk_id(), sp.bos_id(), sp.eos_id()) == (0, 1, 2)
    assert sp.id_to_piece(3) == "<0x00>" and sp.id_to_piece(258) == "<0xFF>"
    print(f"wrote {prefix}.model and {prefix}.bin (vocab {sp.vocab_size()})")


if __name__ == "__main__":
    main()
