#!/usr/bin/env python3
"""giotto-ph side of benches/persistence_compare.sh: the old tool's call,
ripser_parallel(maxdim=2), on the same clouds as the Rust side.

  persistence_python.py generate KIND N DIM OUT.f32   write a cloud (raw little-endian f32)
  persistence_python.py run DATA.f32 DIM THREADS      time giotto-ph, print one JSON line

KIND: uniform (in a cube: the worst case) or walk (random walk on the unit sphere, like a run's
caption embeddings).
"""

import json
import sys
import time

import numpy as np


def generate(kind, n, dim, out):
    rng = np.random.default_rng(1)
    if kind == "uniform":
        points = rng.random((n, dim)) - 0.5
    else:
        points = np.empty((n, dim))
        x = rng.standard_normal(dim)
        x /= np.linalg.norm(x)
        for i in range(n):
            points[i] = x
            x = x + 0.5 * rng.standard_normal(dim) / np.sqrt(dim)
            x /= np.linalg.norm(x)
    points.astype("<f4").tofile(out)


def run(path, dim, threads):
    from gph import ripser_parallel

    points = np.fromfile(path, dtype="<f4").reshape(-1, dim)
    start = time.perf_counter()
    result = ripser_parallel(points, maxdim=2, n_threads=threads)
    seconds = time.perf_counter() - start
    counts = [int(len(d)) for d in result["dgms"]]
    print(json.dumps({"n": len(points), "threads": threads, "seconds": round(seconds, 3), "pairs": counts}))


if __name__ == "__main__":
    if sys.argv[1] == "generate":
        generate(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
