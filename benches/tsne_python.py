#!/usr/bin/env python3
"""Python side of benches/tsne_compare.sh: writes the shared synthetic data set and times openTSNE.

Data: 384-d sentence-embedding-like vectors, 30 Gaussian clusters on the unit sphere (6 topics x 5
sub-topics, cluster sizes varying 7x) plus 20 % uniform noise, L2-normalised, rows shuffled, stored
as raw little-endian float32 (n x dim), so any prefix of n rows is a sample of the same mixture.
"""
import argparse
import json
import sys
import time

import numpy as np


def generate(args):
    rng = np.random.default_rng(2026)
    n, dim = args.n, args.dim
    topics = rng.normal(size=(6, dim))
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    centres = []
    for topic in topics:
        for _ in range(5):
            c = topic + 0.6 * rng.normal(size=dim) / np.sqrt(dim)
            centres.append(c / np.linalg.norm(c))
    centres = np.array(centres)
    weights = np.linspace(1.0, 7.0, len(centres))
    weights /= weights.sum()
    n_noise = n // 5
    labels = rng.choice(len(centres), size=n - n_noise, p=weights)
    clustered = centres[labels] + 0.9 * rng.normal(size=(n - n_noise, dim)) / np.sqrt(dim)
    noise = rng.normal(size=(n_noise, dim))
    data = np.vstack([clustered, noise])
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    data = data[rng.permutation(n)].astype("<f4")
    data.tofile(args.out)
    print(json.dumps({"generated": args.out, "n": n, "dim": dim}))


def opentsne(args):
    import openTSNE

    data = np.fromfile(args.data, dtype="<f4").reshape(-1, args.dim)[: args.n].astype(np.float64)
    start = time.perf_counter()
    layout = openTSNE.TSNE(
        n_components=2,
        perplexity=30,
        early_exaggeration_iter=250,
        early_exaggeration=12,
        n_iter=500,
        negative_gradient_method="fft",
        n_jobs=args.jobs,
        random_state=42,
    ).fit(data)
    seconds = time.perf_counter() - start
    np.asarray(layout, dtype="<f4").tofile(args.layout)
    print(json.dumps({"side": "openTSNE " + openTSNE.__version__, "n": args.n, "seconds": round(seconds, 2)}))


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--out", required=True)
    g.add_argument("--n", type=int, default=100_000)
    g.add_argument("--dim", type=int, default=384)
    o = sub.add_parser("opentsne")
    o.add_argument("--data", required=True)
    o.add_argument("--n", type=int, required=True)
    o.add_argument("--dim", type=int, default=384)
    o.add_argument("--jobs", type=int, default=2)
    o.add_argument("--layout", required=True)
    args = parser.parse_args()
    {"generate": generate, "opentsne": opentsne}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
