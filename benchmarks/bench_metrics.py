"""Confusion matrix: course_lib.metrics vs torchmetrics, same inputs, same run.

8 x 512 x 512 label maps, 21 classes (VOC), 5% void pixels; int64 and uint8 labels;
CPU always, CUDA when present. Checks that both give the same matrix, then prints the
best-of-N time of each and the ratio torchmetrics / ours (> 1 means ours is faster).

torchmetrics is timed twice: with its default ``validate_args=True`` (which, like ours,
checks the labels) and with ``validate_args=False`` (no checks at all).

    .venv/bin/python benchmarks/bench_metrics.py [--repeats 10]
"""

from __future__ import annotations

import argparse

import torch
from _timing import best_time
from torchmetrics.functional.classification import multiclass_confusion_matrix

from course_lib import metrics

N, H, W, K, VOID = 8, 512, 512, 21, 255


def _inputs(device, dtype):
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, K, (N, H, W), generator=g)
    pred = torch.where(torch.rand(N, H, W, generator=g) < 0.7, target,
                       torch.randint(0, K, (N, H, W), generator=g))
    target[torch.rand(N, H, W, generator=g) < 0.05] = VOID
    return pred.to(device, dtype), target.to(device, dtype)


def _time(fn, device, repeats):
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    return best_time(fn, repeats, sync)          # after a warm-up (allocations, CUDA kernels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    # torchmetrics' bincount falls back to a (pixels x K^2) one-hot in deterministic mode
    torch.use_deterministic_algorithms(False)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads; "
          f"labels {N}x{H}x{W}, {K} classes, void {VOID}, best of {args.repeats}")
    header = (f"{'device':<7}{'dtype':<7}{'ours ms':>9}{'tm ms':>9}{'tm/ours':>9}"
              f"{'tm(no check) ms':>17}{'ratio':>7}")
    print(header)
    print("-" * len(header))
    for device in devices:
        for dtype in (torch.int64, torch.uint8):
            pred, target = _inputs(device, dtype)
            ours = metrics.confusion_matrix(pred, target, K, ignore_index=VOID)
            ref = multiclass_confusion_matrix(pred, target, K, ignore_index=VOID)
            if not torch.equal(ours, ref.to(ours.dtype)):
                raise SystemExit(f"MISMATCH on {device} {dtype}")
            t_ours = _time(lambda p=pred, t=target: metrics.confusion_matrix(
                p, t, K, ignore_index=VOID), device, args.repeats)
            t_tm = _time(lambda p=pred, t=target: multiclass_confusion_matrix(
                p, t, K, ignore_index=VOID), device, args.repeats)
            t_raw = _time(lambda p=pred, t=target: multiclass_confusion_matrix(
                p, t, K, ignore_index=VOID, validate_args=False), device, args.repeats)
            print(f"{device.type:<7}{str(dtype).split('.')[-1]:<7}{t_ours * 1e3:>9.1f}"
                  f"{t_tm * 1e3:>9.1f}{t_tm / t_ours:>9.2f}{t_raw * 1e3:>17.1f}"
                  f"{t_raw / t_ours:>7.2f}")
    print("same confusion matrix as torchmetrics on every row (checked)")


if __name__ == "__main__":
    main()
