"""How many students fit on one machine: N students run notebooks 00 and 03 at once.

Each simulated student executes the instructor versions of notebook 00 (welcome, device check,
data tour) and notebook 03 (metrics, with its exercises solved) from top to bottom, one after
the other, each notebook in its own fresh kernel (as a learner's "Restart and Run All", or
the autograder, does); N students do so at the same time. Printed per N: the wall time per
student (median and worst), the machine's throughput, and the peak resident memory of one
kernel (the largest over all kernels, measured by the OS for the kernel process). The
README's "Teaching a class" turns the table into sizing advice.

    .venv/bin/python benchmarks/capacity_classroom.py              # N = 1, 2, 4, 8
    .venv/bin/python benchmarks/capacity_classroom.py --students 1 2
    .venv/bin/python benchmarks/capacity_classroom.py --notebooks notebooks/07_upsampling.ipynb

Not a test (nothing is asserted) and not part of ``make bench`` (8 students take minutes on 2
cores). Kernels run as the current user, without JupyterHub: on the hub each user's server
adds about 160 MB (its resident memory under ``make hub``) and the hub itself about 130 MB,
and neither computes while kernels run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [ROOT / "notebooks" / "00_welcome.ipynb", ROOT / "notebooks" / "03_metrics.ipynb"]


def _worker(path, timeout):
    """Execute one notebook in a fresh kernel; print its wall time and the kernel's peak RSS.

    Cells are sent one by one with jupyter_client, as JupyterLab's "Run All" does. (nbclient,
    which nbconvert and nbgrader use, can wait for the cell timeout after an ipywidgets
    explorer: jupyter/nbclient#312.)
    """
    import nbformat
    from jupyter_client.manager import start_new_kernel

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(Path(path).parent))
    try:
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            msg_id = kc.execute(cell.source)
            while True:
                reply = kc.get_shell_msg(timeout=timeout)
                if reply["parent_header"].get("msg_id") == msg_id:
                    break
            if reply["content"]["status"] != "ok":
                raise RuntimeError(f"{path} cell {index}: {reply['content'].get('ename')}: "
                                   f"{reply['content'].get('evalue')}")
            while True:  # drop the outputs
                try:
                    kc.get_iopub_msg(timeout=0.01)
                except Exception:
                    break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    wall = time.perf_counter() - start
    # the kernel was this process's only child: its peak resident set, in KiB on Linux
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    print(json.dumps({"wall": wall, "peak_bytes": peak}))


def _student(timeout, notebooks=tuple(NOTEBOOKS)):
    """One student: the notebooks one after the other, each in its own worker (and kernel)."""
    runs = []
    for path in notebooks:
        done = subprocess.run([sys.executable, __file__, "--worker", str(path),
                               "--timeout", str(timeout)], capture_output=True, text=True,
                              env=dict(os.environ,
                                       COURSE_PROFILE=os.environ.get("COURSE_PROFILE", "quick")),
                              timeout=timeout * 4)
        if done.returncode:
            raise RuntimeError(f"{path.name} failed:\n{done.stderr[-3000:]}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {"wall": sum(r["wall"] for r in runs), "peak_bytes": max(r["peak_bytes"] for r in runs),
            "per_notebook": [round(r["wall"], 1) for r in runs]}


def measure(n, timeout=900, notebooks=tuple(NOTEBOOKS)):
    """``n`` students at once: per-student results and the wall time of the whole round."""
    start = time.perf_counter()
    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(_student, [timeout] * n, [notebooks] * n))
    return results, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--timeout", type=float, default=900, help="seconds per cell")
    parser.add_argument("--notebooks", nargs="+", type=Path, default=NOTEBOOKS,
                        help="notebooks each student runs (default: 00 and 03)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.timeout)
        return 0
    try:
        import psutil

        memory = f"{psutil.virtual_memory().total / 2**30:.0f} GiB"
    except ImportError:
        memory = "? GiB"
    print(f"{os.cpu_count()} cores, {memory}, {platform.processor() or platform.machine()}; "
          f"each student runs {', '.join(p.name for p in args.notebooks)} "
          f"({os.environ.get('COURSE_PROFILE', 'quick')} profile)")
    print("| students | wall per student, median (s) | worst (s) | round (s) "
          "| notebooks per minute | peak memory per kernel (MiB) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.students:
        results, round_time = measure(n, args.timeout, tuple(p.resolve() for p in args.notebooks))
        walls = [r["wall"] for r in results]
        peak = max(r["peak_bytes"] for r in results) / 2**20
        print(f"| {n} | {statistics.median(walls):.0f} | {max(walls):.0f} | {round_time:.0f} "
              f"| {len(args.notebooks) * n / round_time * 60:.1f} | {peak:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
