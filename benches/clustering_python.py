"""Dataset generation and Python HDBSCAN runs for benches/clustering_compare.sh.

  generate N OUT_DIR        writes data.f32 (n x 384 LE float32, unit rows) and truth.i32
  run METHOD DATA LABELS MCS MS   METHOD = hdbscan | fast_hdbscan; prints one JSON line
  ari A.i32 B.i32           adjusted Rand index of two raw int32 label files
"""

import json
import os
import sys
import time

import numpy as np

DIM = 384


def generate(n, out_dir):
    # 6 super-topics x 5 sub-topics, sizes varying 7x, plus 20 % uniform noise on the sphere.
    rng = np.random.default_rng(20261128)

    def unit(x):
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    supers = unit(rng.standard_normal((6, DIM)))
    subs = unit(np.repeat(supers, 5, axis=0) + 0.8 * unit(rng.standard_normal((30, DIM))))
    weights = rng.uniform(1.0, 7.0, 30)
    n_noise = n // 5
    counts = np.floor(weights / weights.sum() * (n - n_noise)).astype(int)
    counts[0] += n - n_noise - counts.sum()
    rows, truth = [], []
    for label, (centre, count) in enumerate(zip(subs, counts)):
        rows.append(unit(centre + 0.5 * unit(rng.standard_normal((count, DIM)))))
        truth.append(np.full(count, label, dtype=np.int32))
    rows.append(unit(rng.standard_normal((n_noise, DIM))))
    truth.append(np.full(n_noise, -1, dtype=np.int32))
    data = np.concatenate(rows).astype("<f4")
    labels = np.concatenate(truth)
    order = rng.permutation(n)
    data[order].tofile(f"{out_dir}/data.f32")
    labels[order].astype("<i4").tofile(f"{out_dir}/truth.i32")


def run(method, data_path, labels_path, mcs, ms):
    data = np.fromfile(data_path, dtype="<f4").reshape(-1, DIM)
    warmup = 0.0
    if method == "hdbscan":
        import hdbscan

        # hdbscan's min_samples excludes the point itself; ours (and scikit-learn's) counts it.
        start = time.perf_counter()
        labels = hdbscan.HDBSCAN(
            min_cluster_size=mcs, min_samples=max(ms - 1, 1), core_dist_n_jobs=2
        ).fit_predict(data)
    elif method == "fast_hdbscan":
        import fast_hdbscan

        start = time.perf_counter()
        fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms).fit_predict(data[:2000])
        warmup = time.perf_counter() - start
        # Warm: REPEAT runs (default 3) after the JIT warm-up, the median reported, as on the
        # Rust side.
        times = []
        for _ in range(max(1, int(os.environ.get("REPEAT", "3")))):
            start = time.perf_counter()
            labels = fast_hdbscan.HDBSCAN(min_cluster_size=mcs, min_samples=ms).fit_predict(data)
            times.append(time.perf_counter() - start)
    else:
        raise SystemExit(f"unknown method {method}")
    seconds = sorted(times)[len(times) // 2] if method == "fast_hdbscan" else time.perf_counter() - start
    np.asarray(labels, dtype="<i4").tofile(labels_path)
    clusters = len(set(labels.tolist()) - {-1})
    print(json.dumps({"method": method, "n": len(data), "seconds": round(seconds, 3),
                      "warmup": round(warmup, 2), "clusters": clusters,
                      "noise": int((labels == -1).sum())}))


def ari(a_path, b_path):
    from sklearn.metrics import adjusted_rand_score

    a = np.fromfile(a_path, dtype="<i4")
    b = np.fromfile(b_path, dtype="<i4")
    print(f"{adjusted_rand_score(a, b):.4f}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "generate":
        generate(int(sys.argv[2]), sys.argv[3])
    elif command == "run":
        run(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    elif command == "ari":
        ari(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)
