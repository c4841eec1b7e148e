#!/usr/bin/env python3
"""Real-text benchmark data: Debian package short descriptions embedded with the app's MiniLM.

  real_text.py sentences OUT_FILE        write every unique description, in benchmark order
  real_text.py make N OUT_DIR [MODEL_DIR] write OUT_DIR/data.f32 (N x 384 LE float32, unit rows)
                                         and OUT_DIR/sentences.txt (row i = sentence i)

Sentences come from `apt-cache dumpavail` (the text after `Description:` / `Description-en:`),
de-duplicated case-insensitively after whitespace normalisation, those under MIN_WORDS words
dropped, then sorted and shuffled with a fixed seed, so the first N rows are a fixed subset and
every smaller set is a prefix of a larger one. Apt lists differ between releases and mirrors, so
set REAL_TEXT_SENTENCES=FILE (a file written by `sentences`) to reuse one exact list elsewhere.

Embedding is embed_python.py's pipeline (the Rust TextEncoder's): batches of BATCH in row order.
MODEL_DIR defaults to $PANIC_TDA_MODELS_DIR (or ~/.cache/panic-tda/models)/all-MiniLM-L6-v2.
`make` does nothing when OUT_DIR already holds data for the same N sentences.
"""

import json
import os
import random
import subprocess
import sys
import time

import numpy as np

DIM = 384
BATCH = 256
MIN_WORDS = 3
SEED = 20261203
# A Debian/Ubuntu machine with `apt-get update` done has tens of thousands; fewer means no lists.
MIN_PACKAGES = 1000


def default_model_dir():
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    models = os.environ.get("PANIC_TDA_MODELS_DIR") or os.path.join(cache, "panic-tda", "models")
    return os.path.join(models, "all-MiniLM-L6-v2")


def apt_descriptions():
    try:
        dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True,
                              errors="replace", check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"real_text.py: `apt-cache dumpavail` failed ({e}); needs a Debian-based "
                         "machine with apt lists, or REAL_TEXT_SENTENCES=FILE")
    packages, descriptions = 0, []
    for line in dump.splitlines():
        if line.startswith("Package:"):
            packages += 1
        elif line.startswith(("Description:", "Description-en:")):
            descriptions.append(line.split(":", 1)[1])
    if packages < MIN_PACKAGES:
        raise SystemExit(f"real_text.py: apt-cache dumpavail lists only {packages} packages "
                         f"({len(descriptions)} descriptions); run `apt-get update` first "
                         f"(needs >= {MIN_PACKAGES}), or set REAL_TEXT_SENTENCES=FILE")
    return descriptions


def unique_sentences(raw):
    # Keep one spelling per normalised key: the first in sorted order, so the choice is stable.
    by_key = {}
    for text in sorted(" ".join(t.split()) for t in raw):
        if len(text.split()) >= MIN_WORDS:
            by_key.setdefault(text.lower(), text)
    sentences = sorted(by_key.values())
    random.Random(SEED).shuffle(sentences)
    return sentences


def load_sentences():
    path = os.environ.get("REAL_TEXT_SENTENCES")
    if path:
        with open(path, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]
    return unique_sentences(apt_descriptions())


def write_lines(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)


def make(n, out_dir, model_dir):
    sentences = load_sentences()
    if n > len(sentences):
        raise SystemExit(f"real_text.py: asked for {n} rows but only {len(sentences)} unique "
                         "descriptions are available")
    sentences = sentences[:n]
    os.makedirs(out_dir, exist_ok=True)
    data_path, text_path = f"{out_dir}/data.f32", f"{out_dir}/sentences.txt"
    if os.path.exists(data_path) and os.path.getsize(data_path) == n * DIM * 4:
        with open(text_path, encoding="utf-8") as f:
            if [line.rstrip("\n") for line in f] == sentences:
                print(json.dumps({"real_text": out_dir, "n": n, "cached": True}))
                return
    if not os.path.exists(f"{model_dir}/model_int8.onnx"):
        raise SystemExit(f"real_text.py: no model_int8.onnx in {model_dir} (run `make setup`, or "
                         "pass MODEL_DIR / set PANIC_TDA_MODELS_DIR)")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from embed_python import load_encoder

    embed = load_encoder(model_dir)
    start = time.perf_counter()
    data = np.empty((n, DIM), dtype="<f4")
    for i in range(0, n, BATCH):
        data[i:i + BATCH] = embed(sentences[i:i + BATCH])
    seconds = time.perf_counter() - start
    # Data goes last, after the text, so a killed run is never taken as cached.
    if os.path.exists(data_path):
        os.remove(data_path)
    write_lines(text_path, sentences)
    data.tofile(data_path + ".tmp")
    os.replace(data_path + ".tmp", data_path)
    print(json.dumps({"real_text": out_dir, "n": n, "embed_seconds": round(seconds, 1),
                      "per_second": round(n / seconds, 1)}))


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "sentences":
        sentences = load_sentences()
        write_lines(args[1], sentences)
        print(json.dumps({"sentences": args[1], "unique": len(sentences)}))
    elif len(args) in (3, 4) and args[0] == "make":
        make(int(args[1]), args[2], args[3] if len(args) == 4 else default_model_dir())
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
