#!/usr/bin/env python3
"""MiniLM sentences/s in Python (onnxruntime + tokenizers), the same pipeline as the Rust
TextEncoder: pad to the batch's longest, truncate at 256, int64 inputs, mean pooling over the
attention mask, L2 normalisation.

  embed_python.py --write-sentences FILE         write the 2,048 benchmark sentences
  embed_python.py MODEL_DIR SENTENCES [BATCH...]  print one JSON line per batch size
"""

import json
import os
import random
import sys
import time

WORDS = ("a man woman child dog cat bird horse car boat tree house city river mountain sky sea "
         "red blue green yellow small large old young bright dark quiet loud walks runs eats "
         "sleeps carries watches paints holds under over beside near through with the of in on "
         "morning evening night photograph painting image light shadow reflection glass").split()


def write_sentences(path, count=2048):
    rng = random.Random(1234)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(count):
            length = rng.randint(4, 48)
            words = [rng.choice(WORDS) for _ in range(length)]
            f.write(" ".join(words).capitalize() + ".\n")


def load_encoder(model_dir):
    """Returns embed(texts) -> (len(texts), 384) float32, unit rows (also used by real_text.py)."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=256)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = int(os.environ.get("EMBED_BENCH_THREADS", "0"))
    session = ort.InferenceSession(f"{model_dir}/model_int8.onnx", options,
                                   providers=["CPUExecutionProvider"])

    def embed(texts):
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        types = np.array([e.type_ids for e in encodings], dtype=np.int64)
        states = session.run(["last_hidden_state"],
                             {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
        m = mask[:, :, None].astype(np.float32)
        pooled = (states * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    return embed


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--write-sentences":
        write_sentences(sys.argv[2])
        return
    model_dir, sentences_path = sys.argv[1], sys.argv[2]
    batches = [int(b) for b in sys.argv[3:]] or [1, 32, 256]
    with open(sentences_path, encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f]
    embed = load_encoder(model_dir)

    embed(sentences[:64])  # warm-up
    for batch in batches:
        best = None
        for _ in range(2):
            start = time.perf_counter()
            for i in range(0, len(sentences), batch):
                embed(sentences[i:i + batch])
            elapsed = time.perf_counter() - start
            best = elapsed if best is None else min(best, elapsed)
        print(json.dumps({"impl": "python", "batch": batch, "sentences": len(sentences),
                          "seconds": round(best, 4), "per_second": round(len(sentences) / best, 1)}))


if __name__ == "__main__":
    main()
