"""Regenerate the committed Pasture exports (``make data``) and the full-profile exports.

``python -m course_lib.data.export --out data`` renders the quick-profile scenes
and writes, byte for byte, what is committed under ``data/``:

==========================================  ===============================================
``data/voc/VOCdevkit/VOC2012/``             mini VOC 2012: 300 train + 100 val, 128 px
``data/coco/``                              mini COCO 2017: the same 300 + 100 scenes
``data/nyu/nyu_depth_v2_labeled_mini.mat``  mini NYUv2: the first 100 train scenes
==========================================  ===============================================

Seeds: training scenes are ``pasture.render_scene(seed)`` for seeds
``TRAIN_SEED = 0`` onwards, validation scenes start at ``VAL_SEED = 100000``, so
the two never overlap however many are drawn. Then run
``python -m course_lib.data.manifest --write`` to record the checksums.

:func:`export_full` writes the bigger full-profile exports (see
``config.settings("full")``) into ``config.cache_dir()`` on demand; they are
never committed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .. import config
from .._checks import check_int
from . import formats, pasture

__all__ = ["ExportSpec", "QUICK", "TRAIN_SEED", "VAL_SEED", "EXPORT_DIRS", "spec", "export",
           "export_full", "main"]

TRAIN_SEED = 0
VAL_SEED = 100000
#: Sub-folders of the output folder that an export owns (and rewrites from scratch).
EXPORT_DIRS = ("voc", "coco", "nyu")


@dataclass(frozen=True)
class ExportSpec:
    """How many scenes of which size go into an export."""

    size: int = 128
    train: int = 300
    val: int = 100
    nyu: int = 100


#: The committed (quick-profile) exports.
QUICK = ExportSpec()


def spec(profile: str | None = None) -> ExportSpec:
    """The :class:`ExportSpec` of a profile (default: the active one)."""
    s = config.settings(profile)
    if s.profile == "quick":
        return QUICK
    return ExportSpec(size=s.image_size, train=s.train_images, val=s.val_images,
                      nyu=min(s.train_images, 1449))


def _check_spec(sp: ExportSpec) -> None:
    for name in ("size", "train", "val", "nyu"):
        # size >= 32: the scenes' smallest side (and the networks pool five times)
        check_int(getattr(sp, name), f"spec.{name}", low=32 if name == "size" else 1)
    if sp.train >= VAL_SEED:
        raise ValueError(f"spec.train must be < {VAL_SEED} so train and val seeds stay apart")
    if sp.nyu > sp.train:
        raise ValueError(f"spec.nyu ({sp.nyu}) must be <= spec.train ({sp.train}): NYU uses the "
                         "first training scenes")


def export(out, sp: ExportSpec = QUICK, *, only=EXPORT_DIRS, verbose: bool = False) -> dict:
    """Render the scenes of ``sp`` and write the exports into ``out``.

    Each exported sub-folder of ``out`` (``voc``, ``coco``, ``nyu``) is deleted
    and rewritten, so no stale file survives; nothing else in ``out`` is touched.

    Parameters
    ----------
    out : str or Path
        Output folder (``data`` for the committed exports).
    sp : ExportSpec
        Sizes; :data:`QUICK` gives the committed files.
    only : sequence of str
        Which of ``"voc"``, ``"coco"``, ``"nyu"`` to write.
    verbose : bool
        Print progress and timings.

    Returns
    -------
    dict
        ``{"voc": root, "coco": root, "nyu": file}`` for the formats written;
        ``root`` is what the loaders in :mod:`course_lib.data.datasets` take.
    """
    if not isinstance(sp, ExportSpec):
        raise TypeError(f"sp must be an ExportSpec, got {type(sp).__name__}")
    _check_spec(sp)
    only = tuple(only)
    bad = [o for o in only if o not in EXPORT_DIRS]
    if bad:
        raise ValueError(f"only must name formats among {EXPORT_DIRS}, got {bad}")
    out = Path(out)
    log = print if verbose else (lambda *a, **k: None)
    t0 = time.perf_counter()
    train = pasture.scenes(sp.train, seed=TRAIN_SEED, size=sp.size)
    val = pasture.scenes(sp.val, seed=VAL_SEED, size=sp.size)
    log(f"rendered {len(train)} + {len(val)} scenes of {sp.size} px "
        f"in {time.perf_counter() - t0:.1f} s")
    paths = {}
    for name in only:
        t = time.perf_counter()
        target = out / name
        if target.exists():
            shutil.rmtree(target)
        if name == "voc":
            formats.export_voc(target, train, val)
            paths[name] = target
        elif name == "coco":
            paths[name] = formats.export_coco(target, train, val)
        else:
            paths[name] = formats.export_nyu(target / formats.NYU_FILE_NAME, train[:sp.nyu])
        log(f"wrote {target} in {time.perf_counter() - t:.1f} s")
    return paths


def export_full(*, force: bool = False, verbose: bool = True) -> dict:
    """Write the full-profile exports into ``config.cache_dir() / "pasture_full"`` once.

    Later calls return the existing paths (a stamp file records the spec);
    ``force=True`` rewrites them.
    """
    sp = spec("full")
    root = config.cache_dir() / "pasture_full"
    stamp = root / "EXPORT_SPEC"
    want = repr(sp)
    paths = {"voc": root / "voc", "coco": root / "coco",
             "nyu": root / "nyu" / formats.NYU_FILE_NAME}
    if not force and stamp.is_file() and stamp.read_text() == want:
        return paths
    root.mkdir(parents=True, exist_ok=True)
    if stamp.exists():
        stamp.unlink()
    export(root, sp, verbose=verbose)
    stamp.write_text(want)
    return paths


def main(argv=None) -> int:
    """Command line: ``python -m course_lib.data.export --out data [--profile full]``."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.data.export",
                                     description="Regenerate the Pasture exports (VOC, COCO, "
                                                 "NYUv2) byte for byte.")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: the data folder, config.data_dir())")
    parser.add_argument("--profile", choices=config.PROFILES, default="quick",
                        help="sizes to export (quick = the committed files)")
    parser.add_argument("--only", nargs="+", choices=EXPORT_DIRS, default=list(EXPORT_DIRS),
                        help="formats to write (default all)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else config.data_dir()
    t = time.perf_counter()
    export(out, spec(args.profile), only=args.only, verbose=True)
    print(f"done in {time.perf_counter() - t:.1f} s; run `python -m course_lib.data.manifest "
          f"--write` if these are the committed files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
