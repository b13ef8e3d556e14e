"""Checksums of the committed exports: ``data/MANIFEST``.

``data/MANIFEST`` lists the SHA-256 of every file under ``data/voc``,
``data/coco`` and ``data/nyu``, one ``<sha256>  <path>`` line each (the format
of ``sha256sum``, paths relative to ``data/``), after comment lines (``#``)
that record the library versions used to write them.

Command line::

    python -m course_lib.data.manifest --check   # exit 1, naming the file, if any differs
    python -m course_lib.data.manifest --write   # record the current files

``make test`` and ``make lab`` run ``--check`` first.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

from .. import config

__all__ = ["MANIFEST_NAME", "EXPORT_DIRS", "sha256", "export_files", "compute", "read",
           "write", "check", "versions", "main"]

MANIFEST_NAME = "MANIFEST"
EXPORT_DIRS = ("voc", "coco", "nyu")
_HINT = "Run `make data` (python -m course_lib.data.export --out data) to regenerate the exports"


def sha256(path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def export_files(root) -> list:
    """Sorted POSIX paths (relative to ``root``) of every file under the export folders."""
    root = Path(root)
    files = []
    for d in EXPORT_DIRS:
        base = root / d
        if base.is_dir():
            files += [p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()]
    return sorted(files)


def compute(root) -> dict:
    """``{path: sha256}`` of every export file under ``root``."""
    root = Path(root)
    return {rel: sha256(root / rel) for rel in export_files(root)}


def versions() -> dict:
    """Versions of the libraries whose output bytes the exports depend on."""
    import h5py
    import numpy
    import PIL
    import skimage

    return {"numpy": numpy.__version__, "pillow": PIL.__version__, "h5py": h5py.__version__,
            "hdf5": h5py.version.hdf5_version, "scikit-image": skimage.__version__,
            "python": ".".join(map(str, sys.version_info[:2]))}


def read(path) -> tuple:
    """Parse a manifest file: ``({path: sha256}, {library: version})``.

    Raises
    ------
    FileNotFoundError
        If the manifest does not exist.
    ValueError
        If a line is malformed (the message gives the line number).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist. {_HINT}, then "
                                "`python -m course_lib.data.manifest --write`.")
    entries, libs = {}, {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            if line.startswith("# version "):
                name, _, ver = line[len("# version "):].partition(" ")
                libs[name] = ver.strip()
            continue
        digest, sep, rel = line.partition("  ")
        if not sep or len(digest) != 64 or not rel:
            raise ValueError(f"{path}, line {n}: expected '<sha256>  <path>', got {line!r}")
        entries[rel] = digest
    return entries, libs


def write(root=None) -> Path:
    """Write ``<root>/MANIFEST`` for the current export files; return its path."""
    root = Path(root) if root is not None else config.data_dir()
    entries = compute(root)
    if not entries:
        raise FileNotFoundError(f"no export files under {root}/{{{','.join(EXPORT_DIRS)}}}. "
                                f"{_HINT}.")
    lines = ["# SHA-256 of the committed Pasture exports (sha256sum format, paths relative to "
             "this folder).",
             "# Check: python -m course_lib.data.manifest --check   "
             "Regenerate: make data, then --write.",
             "# The bytes were produced with these library versions:"]
    lines += [f"# version {k} {v}" for k, v in versions().items()]
    lines += [f"{digest}  {rel}" for rel, digest in entries.items()]
    path = root / MANIFEST_NAME
    path.write_text("\n".join(lines) + "\n")
    return path


def check(root=None) -> list:
    """Compare the export files under ``root`` with ``root/MANIFEST``.

    Returns
    -------
    list of str
        One message per problem (changed or missing file, file not in the manifest);
        empty when everything matches.
    """
    root = Path(root) if root is not None else config.data_dir()
    entries, _ = read(root / MANIFEST_NAME)
    problems = []
    for rel, digest in entries.items():
        p = root / rel
        if not p.is_file():
            problems.append(f"missing: {p}")
        elif sha256(p) != digest:
            problems.append(f"changed: {p} (sha256 differs from {MANIFEST_NAME})")
    for rel in export_files(root):
        if rel not in entries:
            problems.append(f"unexpected: {root / rel} (not listed in {MANIFEST_NAME})")
    return problems


def main(argv=None) -> int:
    """Command line: ``--check`` (default) or ``--write``; ``--root`` defaults to the data folder."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.data.manifest",
                                     description="Check or write data/MANIFEST (SHA-256 of the "
                                                 "committed exports).")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="verify the files (default)")
    group.add_argument("--write", action="store_true", help="record the current files")
    parser.add_argument("--root", type=Path, default=None,
                        help="data folder (default: config.data_dir())")
    args = parser.parse_args(argv)
    root = args.root if args.root is not None else config.data_dir()
    if args.write:
        path = write(root)
        print(f"wrote {path} ({len(read(path)[0])} files)")
        return 0
    try:
        problems = check(root)
    except (FileNotFoundError, ValueError) as err:
        print(f"data check FAILED: {err}", file=sys.stderr)
        return 1
    if problems:
        shown = problems[:20]
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        print(f"data check FAILED: {len(problems)} file(s) under {root} do not match "
              f"{root / MANIFEST_NAME}:\n  " + "\n  ".join(shown) + more
              + f"\n{_HINT}.", file=sys.stderr)
        return 1
    n = len(read(root / MANIFEST_NAME)[0])
    print(f"data check OK: {n} files under {root} match {MANIFEST_NAME}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
