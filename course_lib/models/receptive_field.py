"""Receptive fields of a chain of convolutions and poolings, computed layer by layer.

Every unit of a convolutional feature map looks at a square of input pixels, its
*receptive field*. Three numbers per layer describe all the units of that layer at once
(Araujo, Norris & Sim 2019, Distill):

* the **jump** ``j``: the distance in input pixels between two neighbouring units (the
  product of the strides so far);
* the **receptive-field size** ``r``: the side of the square that one unit sees;
* the **start** ``c``: the input coordinate of the centre of the first unit (unit 0).

A layer with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` (effective kernel
``k' = d (k - 1) + 1``) updates them as

.. math::

    j_{out} = j_{in} s, \\qquad r_{out} = r_{in} + (k' - 1) j_{in}, \\qquad
    c_{out} = c_{in} + \\Big(\\frac{k' - 1}{2} - p\\Big) j_{in},

starting from the image itself: ``j = 1``, ``r = 1``, ``c = 0``. Coordinates are pixel
*indices*: pixel ``x`` has its centre at ``x``, so ``c = 15.5`` is the middle of pixels
0 ... 31. Unit ``(i, j)`` is centred at ``(c + i j_{out}, c + j j_{out})`` and sees the
pixels ``c + i j_{out} - (r - 1) / 2 ... c + i j_{out} + (r - 1) / 2``
(:func:`receptive_field_box`); near the border part of that square is padding.

Only the geometry of ``Conv2d``, ``MaxPool2d`` and ``AvgPool2d`` matters; pointwise layers
(activations, batch norm in evaluation, dropout) leave it unchanged. The layers must form a
chain (each one applied to the previous one's output), which is what a network without
skip connections is; FCN-16s/8s's skip branches are not a chain and are rejected.

Examples
--------
The first two stages of VGG-16, by hand and with :func:`receptive_fields`:

>>> from torch import nn
>>> layers = [nn.Conv2d(3, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1),
...           nn.MaxPool2d(2), nn.Conv2d(64, 128, 3, padding=1)]
>>> [(row.rf, row.jump, row.start) for row in receptive_fields(layers)]
[(1, 1, 0.0), (3, 1, 0.0), (5, 1, 0.0), (6, 2, 0.5), (10, 2, 0.5)]
>>> receptive_field_box(receptive_fields(layers)[3], 0, 1)    # pool unit (0, 1)
(0, -2, 6, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from .._checks import check_bool, check_int

__all__ = ["ReceptiveField", "receptive_fields", "receptive_field_box", "receptive_field_table"]

#: Layers that act on each position separately (or, for batch norm, per channel with fixed
#: statistics in evaluation): they do not change the receptive field.
_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
              nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
              nn.Softplus, nn.Identity, nn.BatchNorm2d, nn.Dropout, nn.Dropout2d,
              nn.AlphaDropout)
_SPATIAL = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)


@dataclass(frozen=True)
class ReceptiveField:
    """The receptive-field geometry of one layer's output (one row of the table).

    Attributes
    ----------
    name : str
        The layer's name (``"input"`` for the image itself).
    kind : str
        ``"input"``, ``"conv"``, ``"maxpool"`` or ``"avgpool"``.
    kernel_size, stride, padding, dilation : int
        The layer's settings (1, 1, 0, 1 for the input row). ``padding`` is the padding
        before the first row/column.
    size : (int, int) or None
        ``(H, W)`` of the layer's output, when the input size was given.
    jump : int
        Distance in input pixels between neighbouring units.
    rf : int
        Side of the square of input pixels one unit sees.
    start : float
        Input coordinate (pixel index) of the centre of unit 0.
    input_size : (int, int) or None
        ``(H, W)`` of the input image, when given.
    """

    name: str
    kind: str
    kernel_size: int
    stride: int
    padding: int
    dilation: int
    size: tuple | None
    jump: int
    rf: int
    start: float
    input_size: tuple | None = None


def _got(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:60] + '...' if len(text) > 60 else text})"


def _square(value, what: str, name: str) -> int:
    """An int setting of a layer; a pair must hold equal values (square layers only)."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(f"layer {name!r} has {what} {tuple(value)}; receptive_fields "
                             "handles square layers only (equal values for height and width)")
        value = value[0]
    return int(value)


def _leaves(module: nn.Module, prefix: str):
    """``(name, leaf module)`` in registration order (the forward order of a chain)."""
    children = list(module.named_children())
    if not children:
        if not isinstance(module, (nn.ModuleDict, nn.ModuleList, nn.Sequential)):  # empty ones
            yield prefix or type(module).__name__, module
        return
    for child_name, child in children:
        yield from _leaves(child, f"{prefix}.{child_name}" if prefix else child_name)


def _layer_list(module_or_layers) -> list:
    if isinstance(module_or_layers, nn.Module):
        return list(_leaves(module_or_layers, ""))
    try:
        if isinstance(module_or_layers, (str, bytes)):
            raise TypeError
        items = list(module_or_layers)
    except TypeError:
        raise TypeError("module_or_layers must be an nn.Module or a sequence of nn.Modules or "
                        f"(name, nn.Module) pairs, got {_got(module_or_layers)}") from None
    layers = []
    for index, item in enumerate(items):
        if isinstance(item, nn.Module):
            name, layer = str(index), item
        elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
              and isinstance(item[1], nn.Module)):
            name, layer = item
        else:
            raise TypeError(f"module_or_layers[{index}] must be an nn.Module or a (name, "
                            f"nn.Module) pair, got {_got(item)}")
        layers += list(_leaves(layer, name))
    return layers


def _input_size(input_size):
    if input_size is None:
        return None
    if isinstance(input_size, (tuple, list)):
        if len(input_size) != 2:
            raise ValueError(f"input_size must be an int or a pair (H, W), got "
                             f"{len(input_size)} values {tuple(input_size)}")
        return tuple(check_int(v, "input_size", low=1) for v in input_size)
    side = check_int(input_size, "input_size", low=1)
    return side, side


def _out_size(n: int, k: int, s: int, p_left: int, p_total: int, d: int, ceil_mode: bool) -> int:
    span = n + p_total - d * (k - 1) - 1
    if span < 0:
        return 0
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + p_left:   # torch: the last window must start inside
        out -= 1
    return out


def _geometry(layer: nn.Module, name: str):
    """``(kind, k, s, p_left, p_total, d, ceil_mode)`` of a spatial layer."""
    if isinstance(layer, nn.Conv2d):
        k = _square(layer.kernel_size, "kernel_size", name)
        s = _square(layer.stride, "stride", name)
        d = _square(layer.dilation, "dilation", name)
        if isinstance(layer.padding, str):            # "valid" or "same" (stride 1)
            total = 0 if layer.padding == "valid" else d * (k - 1)
            return "conv", k, s, total // 2, total, d, False
        p = _square(layer.padding, "padding", name)
        return "conv", k, s, p, 2 * p, d, False
    k = _square(layer.kernel_size, "kernel_size", name)
    s = _square(layer.stride if layer.stride is not None else layer.kernel_size, "stride", name)
    p = _square(layer.padding, "padding", name)
    if isinstance(layer, nn.MaxPool2d):
        d = _square(layer.dilation, "dilation", name)
        return "maxpool", k, s, p, 2 * p, d, bool(layer.ceil_mode)
    return "avgpool", k, s, p, 2 * p, 1, bool(layer.ceil_mode)


def receptive_fields(module_or_layers, input_size=None) -> list:
    """The receptive field of every convolution and pooling of a chain, layer by layer.

    Parameters
    ----------
    module_or_layers : nn.Module, or sequence of nn.Module or of (name, nn.Module)
        A network whose leaf modules, in registration order, form a chain (e.g.
        :class:`~course_lib.models.SmallVGG`, FCN-32s, ``torchvision``'s
        ``vgg16().features``, the output of
        :func:`~course_lib.models.to_fully_convolutional`), or the layers themselves.
        Containers in the sequence are walked too.
    input_size : int or (int, int), optional
        Side (or ``(H, W)``) of the input image: then each row also holds the output size.

    Returns
    -------
    list of ReceptiveField
        One row for the input (``rf = 1``, ``jump = 1``, ``start = 0``), then one per
        ``Conv2d`` / ``MaxPool2d`` / ``AvgPool2d``, named as in ``named_modules()``.

    Raises
    ------
    TypeError
        If ``module_or_layers`` is not a module or a sequence of modules, or holds a layer
        whose receptive field this function cannot follow (``Linear``, ``Flatten``,
        ``ConvTranspose2d``, adaptive pooling, ...): the message names the layer.
    ValueError
        For a non-square kernel, stride, padding or dilation, or an ``input_size`` too small
        for a layer (an output size below 1).

    Notes
    -----
    The receptive field is the *theoretical* one: every pixel that can influence the
    unit. How much each pixel actually does falls off from the centre (the *effective*
    receptive field of Luo et al. 2016, notebook 06).

    References
    ----------
    A. Araujo, W. Norris, J. Sim. "Computing Receptive Fields of Convolutional Neural
    Networks". Distill, 2019. doi:10.23915/distill.00021

    Examples
    --------
    >>> from course_lib.models import SmallVGG
    >>> rows = receptive_fields(SmallVGG(), input_size=128)
    >>> [(r.size, r.jump, r.rf) for r in rows if r.kind == "maxpool"][-1]   # pool5
    ((4, 4), 32, 150)
    """
    layers = _layer_list(module_or_layers)
    size = _input_size(input_size)
    rows = [ReceptiveField("input", "input", 1, 1, 0, 1, size, 1, 1, 0.0, size)]
    jump, rf, start = 1, 1, 0.0
    for name, layer in layers:
        if isinstance(layer, _POINTWISE):
            continue
        if not isinstance(layer, _SPATIAL):
            hint = ""
            if isinstance(layer, (nn.Linear, nn.Flatten)):
                hint = ("; a fully connected head has no receptive field of its own: convert "
                        "it with course_lib.models.to_fully_convolutional first")
            elif isinstance(layer, (nn.ConvTranspose2d, nn.Upsample)):
                hint = "; upsampling layers (FCN-16s/8s's skip branches) do not form a chain"
            raise TypeError(f"module_or_layers holds layer {name!r} of type "
                            f"{type(layer).__name__}; expected a chain of Conv2d, MaxPool2d and "
                            f"AvgPool2d with pointwise layers (activations, BatchNorm2d, "
                            f"dropout) between them{hint}")
        kind, k, s, p_left, p_total, d, ceil_mode = _geometry(layer, name)
        k_eff = d * (k - 1) + 1
        start = start + ((k_eff - 1) / 2 - p_left) * jump
        rf = rf + (k_eff - 1) * jump
        jump = jump * s
        if size is not None:
            new = tuple(_out_size(n, k, s, p_left, p_total, d, ceil_mode) for n in size)
            if min(new) < 1:
                raise ValueError(f"input_size {rows[0].size} is too small: layer {name!r} "
                                 f"(kernel {k}, stride {s}, padding {p_left}) would get a "
                                 f"{size[0]}x{size[1]} input and output nothing")
            size = new
        rows.append(ReceptiveField(name, kind, k, s, p_left, d, size, jump, rf, start,
                                   rows[0].size))
    return rows


def receptive_field_box(info: ReceptiveField, i: int, j: int, *, clip: bool = False) -> tuple:
    """The input pixels that unit ``(i, j)`` (row, column) of a layer sees.

    Parameters
    ----------
    info : ReceptiveField
        One row of :func:`receptive_fields`.
    i, j : int
        Row and column of the unit, ``>= 0`` (and inside the layer's output when its size
        is known).
    clip : bool, default False
        Clip the box to the image (needs ``info.input_size``). Unclipped, a box may reach
        outside the image: that part of the receptive field is padding.

    Returns
    -------
    (x0, y0, x1, y1) : tuple of int
        Pixel edges, like Pasture's boxes: the unit sees the pixels with
        ``x0 <= x < x1`` and ``y0 <= y < y1``; ``x1 - x0 == y1 - y0 == info.rf`` unclipped.

    Examples
    --------
    >>> from torch import nn
    >>> pool = receptive_fields([nn.Conv2d(3, 8, 3, padding=1), nn.MaxPool2d(2)], 8)[-1]
    >>> receptive_field_box(pool, 0, 0), receptive_field_box(pool, 0, 0, clip=True)
    ((-1, -1, 3, 3), (0, 0, 3, 3))
    """
    if not isinstance(info, ReceptiveField):
        raise TypeError(f"info must be a ReceptiveField (a row of receptive_fields), got "
                        f"{_got(info)}")
    i = check_int(i, "i", low=0)
    j = check_int(j, "j", low=0)
    clip = check_bool(clip, "clip")
    if info.size is not None:
        H, W = info.size
        if i >= H or j >= W:
            raise ValueError(f"unit (i, j) = ({i}, {j}) is outside layer {info.name!r}, whose "
                             f"output is {H}x{W}; expected 0 <= i < {H} and 0 <= j < {W}")
    half = (info.rf - 1) / 2
    y0 = info.start + i * info.jump - half
    x0 = info.start + j * info.jump - half
    assert y0 == int(y0) and x0 == int(x0), "a box always starts on a pixel"
    x0, y0 = int(x0), int(y0)
    x1, y1 = x0 + info.rf, y0 + info.rf
    if clip:
        if info.input_size is None:
            raise ValueError("clip=True needs the input size: call receptive_fields(..., "
                             "input_size=...) first")
        H, W = info.input_size
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
    return x0, y0, x1, y1


def receptive_field_table(rows) -> str:
    """A fixed-width text table of :func:`receptive_fields`'s rows (for printing)."""
    try:
        if isinstance(rows, (str, bytes)):
            raise TypeError
        rows = list(rows)
    except TypeError:
        raise TypeError(f"rows must be a sequence of ReceptiveField rows from receptive_fields, "
                        f"got {_got(rows)}") from None
    if not all(isinstance(r, ReceptiveField) for r in rows):
        bad = next(r for r in rows if not isinstance(r, ReceptiveField))
        raise TypeError(f"rows must be ReceptiveField rows from receptive_fields, got an item "
                        f"{_got(bad)}")
    w = max([len("layer")] + [len(r.name) for r in rows]) + 2
    lines = [f"{'layer':<{w}}{'kind':<9}{'k':>3}{'s':>3}{'p':>3}{'d':>3}{'output':>10}"
             f"{'jump':>6}{'RF':>6}{'start':>8}"]
    for r in rows:
        size = "-" if r.size is None else f"{r.size[0]}x{r.size[1]}"
        lines.append(f"{r.name:<{w}}{r.kind:<9}{r.kernel_size:>3}{r.stride:>3}{r.padding:>3}"
                     f"{r.dilation:>3}{size:>10}{r.jump:>6}{r.rf:>6}{r.start:>8.1f}")
    return "\n".join(lines)
