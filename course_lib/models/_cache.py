"""The model cache of notebook 10's trained models (trunk, mask heads, detectors).

Like :func:`course_lib.train.train_or_load`: a model is stored in
``model_cache_dir() / f"{kind}-{key}.pt"``, ``key`` a hash of its full configuration, the
library version and :data:`CACHE_VERSION`; a rerun with the same configuration loads it
(``torch.load(weights_only=True)``: no pickled code runs), ``COURSE_RETRAIN=1`` or
``force=True`` trains again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn

__all__ = ["CACHE_VERSION", "config_key", "cache_path", "save_model", "load_state", "retrain",
           "set_checked"]

#: Bumped when a change to notebook 10's models makes cached files stale.
CACHE_VERSION = 1


def _jsonable(value):
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__type__": type(value).__name__,
                **{f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def config_key(cfg) -> str:
    """A short hash of a (nested) dataclass configuration, the cache and library versions."""
    from .. import __version__

    blob = json.dumps({"config": _jsonable(cfg), "cache": CACHE_VERSION, "version": __version__},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def set_checked(cfg, name: str, check, **kwargs):
    """Check field ``name`` of the frozen dataclass ``cfg`` with ``check`` (a helper of
    :mod:`course_lib._checks`, e.g. ``check_int``) and return the checked value.

    An ``int``, ``float`` or ``bool`` is stored as it is, so that the cache key of an
    ordinary configuration never changes; anything else the check accepts (a NumPy integer
    or float) is replaced by the Python number it returns, which :func:`config_key` can
    hash (JSON cannot encode NumPy scalars).
    """
    value = getattr(cfg, name)
    checked = check(value, name, **kwargs)
    if type(value) not in (int, float, bool):
        object.__setattr__(cfg, name, checked)
    return checked


def cache_path(kind: str, cfg) -> Path:
    from ..train import model_cache_dir

    return model_cache_dir() / f"{kind}-{config_key(cfg)}.pt"


def retrain(force: bool | None) -> bool:
    if force is None:
        return os.environ.get("COURSE_RETRAIN", "0").strip().lower() in ("1", "true", "yes")
    if not isinstance(force, bool):
        raise TypeError(f"force must be a bool or None, got {type(force).__name__}")
    return force


def save_model(path: Path, net: nn.Module, cfg, history: list, **extra) -> Path:
    """Write weights, configuration (JSON) and history atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": json.dumps(_jsonable(cfg), sort_keys=True), "key": config_key(cfg),
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
               "history": json.dumps(history), "extra": json.dumps(extra)}
    tmp = path.with_suffix(path.suffix + f".{os.getpid()}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_state(path: Path, cfg):
    """``(state_dict, history, extra)`` of a cached model trained with ``cfg``, or None when
    the file is missing, damaged or from another configuration."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if payload["key"] != config_key(cfg):
            return None
        return payload["state_dict"], json.loads(payload["history"]), json.loads(payload["extra"])
    except Exception:          # a damaged or foreign file: the caller trains again
        return None
