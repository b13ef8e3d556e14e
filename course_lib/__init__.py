"""course_lib: the library behind the semantic segmentation course.

Submodules are imported lazily so that ``import course_lib as cl`` is fast:
``cl.metrics``, ``cl.viz``, ``cl.data.pasture`` ... are loaded on first use.
Only submodules that exist are listed (in ``__all__`` and ``dir``), so that
``from course_lib import *`` and ``hasattr(course_lib, name)`` never fail.
"""

import importlib
import importlib.util

__version__ = "0.1.0"

# Every public submodule the course may have; those not (yet) in the package are left out.
_KNOWN_SUBMODULES = ("config", "crf", "data", "grading", "metrics", "superpixels", "viz",
                     "widgets", "upsampling", "roi", "models", "train")
_CONFIG_NAMES = ("profile", "device", "seed_everything", "settings")


def _exists(name: str) -> bool:
    return importlib.util.find_spec(f"{__name__}.{name}") is not None


_SUBMODULES = tuple(name for name in _KNOWN_SUBMODULES if _exists(name))
__all__ = [*_SUBMODULES, *_CONFIG_NAMES]


def __getattr__(name):
    if name in _KNOWN_SUBMODULES and (name in _SUBMODULES or _exists(name)):
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    if name in _CONFIG_NAMES:
        return getattr(importlib.import_module(f"{__name__}.config"), name)
    raise AttributeError(f"module 'course_lib' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_SUBMODULES) | set(_CONFIG_NAMES))
