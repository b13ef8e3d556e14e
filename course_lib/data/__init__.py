"""Data: the procedural Pasture scenes, their exports in real formats, loaders, real samples.

Submodules load lazily: ``cl.data.pasture``, ``cl.data.formats``, ``cl.data.datasets``,
``cl.data.samples``, ``cl.data.classes``.
"""

import importlib

__all__ = ["classes", "pasture", "formats", "datasets", "samples", "export", "manifest", "augment",
           "rendered"]


def __getattr__(name):
    if name in __all__:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'course_lib.data' has no attribute {name!r}")
