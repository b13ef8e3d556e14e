"""course_lib: the library behind the semantic segmentation course.

Submodules are imported lazily so that ``import course_lib as cl`` is fast:
``cl.metrics``, ``cl.viz``, ``cl.data.pasture`` ... are loaded on first use.
"""

import importlib

__all__ = [
    "config",
    "crf",
    "data",
    "grading",
    "metrics",
    "superpixels",
    "viz",
    "widgets",
    "profile",
    "device",
    "seed_everything",
]
__version__ = "0.1.0"

_SUBMODULES = {"config", "crf", "data", "grading", "metrics", "superpixels", "viz", "widgets",
               "upsampling", "roi", "models", "train"}
_CONFIG_NAMES = {"profile", "device", "seed_everything", "settings"}


def __getattr__(name):
    if name in _SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _CONFIG_NAMES:
        return getattr(importlib.import_module(f"{__name__}.config"), name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | _SUBMODULES | _CONFIG_NAMES)
