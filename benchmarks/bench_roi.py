"""Benchmark: course_lib.roi (pure torch) vs torchvision.ops roi_align / roi_pool.

512 RoIs over a 2 x 256 x 50 x 50 feature map (a 800 x 800 image at stride
16, ``spatial_scale=1/16``), 14 x 14 output. Box sides are log-uniform in
[16, 512] image pixels (1 to 32 feature pixels), centres uniform, clipped to
the image. Times the forward pass and the backward pass (``backward`` of the
output with a fixed random gradient; the forward is not included), best of N
runs after a warm-up, on the CPU with 1 thread (torchvision's CPU kernels are
single-threaded) and with torch's default threads, and on CUDA when available. Also checks that the outputs agree.

Run: .venv/bin/python benchmarks/bench_roi.py [--repeats 5]
"""

import argparse
import math

import torch
import torchvision.ops as tvo
from _timing import timed

from course_lib import roi


def make_boxes(n_rois, n_images, image_size, generator):
    log_side = torch.empty(n_rois, 2).uniform_(math.log(16.0), math.log(512.0), generator=generator)
    side = log_side.exp()
    centre = torch.rand(n_rois, 2, generator=generator) * image_size
    lo = (centre - side / 2).clamp(0, image_size)
    hi = (centre + side / 2).clamp(0, image_size)
    idx = torch.randint(0, n_images, (n_rois, 1), generator=generator).float()
    return torch.cat([idx, lo, hi], dim=1)


def time_pair(fns, x, boxes, grad, repeats, sync):
    """Best forward and best backward time of each ``fn(x, boxes)`` in ``fns``.

    The implementations take turns in every round, so that a busy moment of
    the machine (shared with others) hits them alike. The backward time is
    that of ``out.backward(grad)`` alone.
    """
    xd = x.detach()

    def backward_only(fn):
        out = fn(x.detach().requires_grad_(), boxes)
        return timed(lambda: out.backward(grad), sync)

    fwd = [[] for _ in fns]
    bwd = [[] for _ in fns]
    for r in range(repeats + 1):  # round 0 is the warm-up
        for i, fn in enumerate(fns):
            tf, tb = timed(lambda f=fn: f(xd, boxes), sync), backward_only(fn)
            if r:
                fwd[i].append(tf)
                bwd[i].append(tb)
    return [(min(f), min(b)) for f, b in zip(fwd, bwd)]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rois", type=int, default=512)
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads (default: 1 and torch's default)")
    parser.add_argument("--ops", default="all", help="comma-separated op numbers, e.g. 0,3")
    args = parser.parse_args()
    N, C, H, W, P, scale = 2, 256, 50, 50, 14, 1 / 16
    g = torch.Generator().manual_seed(0)
    x_cpu = torch.randn(N, C, H, W, generator=g)
    boxes_cpu = make_boxes(args.rois, N, 800.0, g)

    default_threads = torch.get_num_threads()
    threads = [1] if default_threads == 1 else [1, default_threads]
    if args.threads:
        threads = [args.threads]
    devices = [(f"CPU/{t}", torch.device("cpu"), None, t) for t in threads]
    if torch.cuda.is_available():
        devices.append(("CUDA", torch.device("cuda"), torch.cuda.synchronize, default_threads))
    ops = [
        ("roi_align, sampling_ratio=-1", lambda m: lambda x, b: m.roi_align(x, b, P, scale, -1)),
        ("roi_align, sampling_ratio=2", lambda m: lambda x, b: m.roi_align(x, b, P, scale, 2)),
        ("roi_align, aligned=True", lambda m: lambda x, b: m.roi_align(x, b, P, scale, -1, True)),
        ("roi_pool", lambda m: lambda x, b: m.roi_pool(x, b, P, scale)),
    ]
    if args.ops != "all":
        ops = [ops[int(i)] for i in args.ops.split(",")]
    print(f"{args.rois} RoIs, input {N} x {C} x {H} x {W}, output {P} x {P}, "
          f"spatial_scale=1/16, best of {args.repeats}; CPU/t = t threads")
    print(f"{'op':<32}{'device':<8}{'implementation':<16}{'forward ms':>12}{'backward ms':>13}"
          f"{'fwd ratio':>11}{'bwd ratio':>11}{'max |diff|':>12}")
    for dev_name, dev, sync, n_threads in devices:
        torch.set_num_threads(n_threads)
        x, boxes = x_cpu.to(dev), boxes_cpu.to(dev)
        for op_name, make in ops:
            ref_fn, our_fn = make(tvo), make(roi)
            out_ref = ref_fn(x, boxes)
            grad = torch.randn(out_ref.shape, generator=g).to(dev)
            diff = (our_fn(x, boxes) - out_ref).abs().max().item()
            t_ref, t_our = time_pair([ref_fn, our_fn], x, boxes, grad, args.repeats, sync)
            for impl, (tf, tb) in (("torchvision", t_ref), ("course_lib", t_our)):
                print(f"{op_name:<32}{dev_name:<8}{impl:<16}{1e3 * tf:>12.1f}{1e3 * tb:>13.1f}"
                      f"{tf / t_ref[0]:>11.2f}{tb / t_ref[1]:>11.2f}"
                      f"{(diff if impl == 'course_lib' else 0.0):>12.1e}")


if __name__ == "__main__":
    main()
