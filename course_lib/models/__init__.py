"""The course's networks, all built on one small VGG-style backbone.

=====================  ==========================================================
``SmallVGG``           five conv stages with 2x2 pooling (strides 2 ... 32)
``FCN``                FCN-32s / 16s / 8s (``fcn32s``, ``fcn16s``, ``fcn8s``)
``match_size``, ...    the fusion bookkeeping shared by skip layers and hypercolumns
``HypercolumnNet``     hypercolumns with a KxK grid of classifiers (``"hypercolumn"``)
=====================  ==========================================================

:func:`build` makes a model from its registry name, which is how
:mod:`course_lib.train` and its model cache refer to models.
"""

from __future__ import annotations

from .backbone import STAGE_NAMES, SmallVGG, conv_block
from .classifier import PatchClassifier, linear_to_conv, to_fully_convolutional
from .fcn import FCN, bilinear_upsampler, fcn8s, fcn16s, fcn32s
from .fusion import match_size, upsample_to
from .hypercolumn import (
    GridClassifier,
    HypercolumnNet,
    combine_grid,
    grid_weights,
    hypercolumn_features,
    hypercolumn_net,
)
from .pretrained import VGG16Backbone, cached_vgg16_weights
from .receptive_field import (
    ReceptiveField,
    receptive_field_box,
    receptive_field_table,
    receptive_fields,
)

__all__ = ["SmallVGG", "conv_block", "STAGE_NAMES", "FCN", "fcn32s", "fcn16s", "fcn8s",
           "bilinear_upsampler", "match_size", "upsample_to", "REGISTRY", "build",
           "VGG16Backbone", "cached_vgg16_weights"]
# notebook 06: a classifier made fully convolutional, receptive fields (PatchClassifier is
# not in REGISTRY: it maps patches to score vectors, not images to score maps)
__all__ += ["PatchClassifier", "linear_to_conv", "to_fully_convolutional", "ReceptiveField",
            "receptive_fields", "receptive_field_box", "receptive_field_table"]
# notebook 09: hypercolumns and the grid of classifiers
__all__ += ["HypercolumnNet", "GridClassifier", "hypercolumn_net", "hypercolumn_features",
            "grid_weights", "combine_grid"]

#: name -> constructor ``(num_classes, **kwargs) -> nn.Module``
REGISTRY = {"fcn32s": fcn32s, "fcn16s": fcn16s, "fcn8s": fcn8s}
REGISTRY["hypercolumn"] = hypercolumn_net


def build(name: str, num_classes: int = 21, **kwargs):
    """Build registry model ``name`` (``"fcn32s"``, ``"fcn16s"``, ``"fcn8s"``, ...)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in REGISTRY:
        raise ValueError(f"name must be one of {sorted(REGISTRY)}, got {name!r}")
    return REGISTRY[name](num_classes, **kwargs)
