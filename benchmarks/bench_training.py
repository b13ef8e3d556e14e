"""Time to quality: train each model of the quick profile and print steps, seconds and the
scores it reaches on the Pasture validation split.

For each model (FCN-32s, FCN-16s, FCN-8s, ... as given) it trains
``cl.train.quick_config(model)`` from scratch (ignoring the model cache), then prints one
row: steps, training seconds, steps per second, pixel accuracy, mIoU and boundary F on the
committed VOC ``val`` split. ``--speedups`` first measures the CPU speed-ups tried for the
training step (channels-last memory format, ``torch.compile``, thread count) as ratios
against the plain step, measured in the same run.

Run: .venv/bin/python benchmarks/bench_training.py [--models fcn32s fcn8s] [--speedups]
"""

import argparse
import time

import torch
import torch.nn.functional as F

import course_lib as cl
from course_lib import train


def step_time(net, *, batch_size, size, channels_last, compiled=False, repeats=6):
    mf = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=mf).train()
    model = torch.compile(net) if compiled else net
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(batch_size, 3, size, size, generator=g).contiguous(memory_format=mf)
    y = torch.randint(0, 21, (batch_size, size, size), generator=g)
    times = []
    for i in range(repeats + 2):
        t = time.perf_counter()
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= 2:                       # the first steps warm up (and compile)
            times.append(time.perf_counter() - t)
    return min(times)


def speedups(model_name, batch_size, size):
    print(f"\nTraining-step speed-ups for {model_name}, batch {batch_size}, {size} px "
          "(best of 6 steps; ratio = plain time / this time)")
    threads = torch.get_num_threads()
    rows = []
    torch.manual_seed(0)
    base = step_time(cl.models.build(model_name), batch_size=batch_size, size=size,
                     channels_last=False)
    rows.append(("plain (NCHW)", base))
    rows.append(("channels-last", step_time(cl.models.build(model_name), batch_size=batch_size,
                                            size=size, channels_last=True)))
    try:
        rows.append(("channels-last + torch.compile",
                     step_time(cl.models.build(model_name), batch_size=batch_size, size=size,
                               channels_last=True, compiled=True)))
    except Exception as err:  # no compiler toolchain: report and go on
        print(f"  torch.compile unavailable: {type(err).__name__}: {str(err)[:120]}")
    for n in sorted({1, threads}):
        torch.set_num_threads(n)
        rows.append((f"channels-last, {n} thread(s)",
                     step_time(cl.models.build(model_name), batch_size=batch_size, size=size,
                               channels_last=True)))
    torch.set_num_threads(threads)
    for name, t in rows:
        print(f"  {name:<34s} {1e3 * t:8.1f} ms/step   x{base / t:5.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["fcn32s", "fcn16s", "fcn8s"])
    parser.add_argument("--speedups", action="store_true")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"profile {cl.profile()}, device {cl.device()}, torch threads "
          f"{torch.get_num_threads()}")
    if args.speedups:
        cfg = train.quick_config(args.models[0])
        speedups(args.models[0], cfg.batch_size, cfg.crop_size)
    val = train.validation_data()
    print(f"\n{'model':<8s}{'steps':>7s}{'batch':>7s}{'seconds':>9s}{'steps/s':>9s}"
          f"{'pix acc':>9s}{'mIoU':>7s}{'bnd F':>7s}")
    for name in args.models:
        cfg = train.quick_config(name)
        data = train.training_data(cfg, progress=False)
        torch.manual_seed(cfg.seed)
        net = cfg.build_model()
        history = train.fit(net, data, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                            weight_decay=cfg.weight_decay, warmup=cfg.warmup, seed=cfg.seed,
                            progress=False)
        seconds = history.rows[-1]["seconds"]
        r = train.evaluate(net, val)
        print(f"{name:<8s}{cfg.steps:>7d}{cfg.batch_size:>7d}{seconds:>9.1f}"
              f"{cfg.steps / seconds:>9.2f}{r.pixel_accuracy:>9.3f}{r.miou:>7.3f}"
              f"{r.boundary_f:>7.3f}", flush=True)


if __name__ == "__main__":
    main()
