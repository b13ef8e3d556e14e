"""Shared input checks: one rule and one message for each kind of argument.

Every public function of course_lib validates its arguments with these helpers, so that
the same bad input gets the same answer everywhere:

* a wrong *type* (a list where a tensor is expected, a float where an integer is, float
  values where class labels are) raises ``TypeError``;
* a wrong *value* (a shape, a range, NaN or infinity, a device mismatch) raises
  ``ValueError``;
* every message names the argument, says what was received and what was expected.

Conventions checked here:

* tensors: a ``torch.Tensor`` or a NumPy array (converted without a copy when possible;
  unsigned integers wider than 8 bits, which torch barely supports, become int64);
* RGB images: ``(H, W, 3)``, uint8 in 0..255 or floating point in [0, 1], finite;
* label maps: any integer dtype (bool counts as 0/1); ``ignore_index`` is compared as a
  Python integer, so a value the dtype cannot hold matches no pixel (it never wraps around);
* integers: ``int`` or a NumPy integer, never ``bool`` or a float, even an integral one.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_tensor",
    "check_int",
    "check_real",
    "check_positive",
    "check_bool",
    "check_choice",
    "check_ignore_index",
    "check_num_classes",
    "check_indices",
    "check_path",
    "check_same_device",
    "check_device",
    "check_float_dtype",
    "check_finite",
    "float_tensor",
    "label_tensor",
    "valid_mask",
    "rgb_image",
    "MAX_CLASSES",
]

#: Largest ``num_classes``: a (K, K) confusion matrix of int64 then needs at most 16 GiB.
MAX_CLASSES = 46_340

_WIDE_UNSIGNED = tuple(getattr(torch, n) for n in ("uint16", "uint32", "uint64")
                       if hasattr(torch, n))


def _got(value) -> str:
    text = repr(value)
    return f"{type(value).__name__} ({text[:60] + '...' if len(text) > 60 else text})"


# --------------------------------------------------------------------------- scalars
def check_int(value, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` as an ``int`` in ``[low, high]``.

    ``int`` and NumPy integers pass; ``bool``, floats (even ``2.0``) and anything else raise
    ``TypeError``; a value out of range raises ``ValueError``.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral,)):
        raise TypeError(f"{name} must be an integer, got {_got(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            expected = f">= {low}"
        elif low is None:
            expected = f"<= {high}"
        else:
            expected = f"in [{low}, {high}]"
        raise ValueError(f"{name} must be an integer {expected}, got {value}")
    return value


def check_real(value, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, high_open: bool = False) -> float:
    """Return ``value`` as a finite ``float`` in the interval given by ``low`` and ``high``.

    Real numbers (``int``, ``float``, NumPy scalars, 0-d tensors are *not* accepted) pass;
    ``bool`` and non-numbers raise ``TypeError``; NaN, infinity or a value outside the
    interval raise ``ValueError``. ``low_open``/``high_open`` exclude the bound itself.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {_got(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    bad_low = low is not None and (value <= low if low_open else value < low)
    bad_high = high is not None and (value >= high if high_open else value > high)
    if bad_low or bad_high:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        raise ValueError(f"{name} must be {' and '.join(parts)}, got {value:g}")
    return value


def check_positive(value, name: str) -> float:
    """Return ``value`` as a finite ``float > 0``."""
    return check_real(value, name, low=0.0, low_open=True)


def check_bool(value, name: str) -> bool:
    """Return ``value`` if it is a ``bool`` (or NumPy bool); else ``TypeError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {_got(value)}")
    return bool(value)


def check_choice(value, name: str, choices: Iterable):
    """Return ``value`` if it is one of ``choices`` (same type and value); else ``ValueError``."""
    choices = tuple(choices)
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{name} must be one of {choices}, got {_got(value)}")
    return value


#: Largest channel (or class) count of a layer: a 3 x 3 convolution between two such layers
#: already holds 2**32 weights (16 GiB); larger values are typos, not models.
MAX_CHANNELS = 1 << 16


def check_channels(value, name: str) -> int:
    """Return ``value`` as an int in ``[1, MAX_CHANNELS]``: a layer's channel or class count."""
    k = check_int(value, name, low=1)
    if k > MAX_CHANNELS:
        raise ValueError(f"{name}={k} is too large: at most {MAX_CHANNELS} channels per layer "
                         f"(a 3x3 convolution of {k} channels would need "
                         f"{9 * k * k * 4 / 2**30:.3g} GiB of weights)")
    return k


def check_size_pair(size, name: str = "size") -> tuple[int, int]:
    """Return ``size`` as ``(H, W)``, two ints >= 1 (a sequence or a 1-D tensor of two)."""
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or \
            getattr(size, "ndim", 1) != 1:
        raise TypeError(f"{name} must be a pair of ints (H, W), got {_got(size)}")
    if len(size) != 2:
        raise ValueError(f"{name} must be a pair of ints (H, W), got {len(size)} values "
                         f"{_got(tuple(size))}")
    h, w = (check_int(v.item() if isinstance(v, Tensor) else v, f"{name}[{i}]")
            for i, v in enumerate(size))
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive, got {(h, w)}")
    return h, w


#: Most iterations of an iterative method (mean field, ICM, SLIC): they converge in tens;
#: a typo such as 10**12 would run for days.
MAX_ITERATIONS = 10_000


def check_iterations(value, name: str, *, low: int = 0) -> int:
    """Return ``value`` as an int in ``[low, MAX_ITERATIONS]``."""
    return check_int(value, name, low=low, high=MAX_ITERATIONS)


def check_names(value, name: str, what: str = "names") -> tuple[str, ...]:
    """Return ``value``, a sequence of strings (not one string), as a tuple; else TypeError."""
    items = None
    if not isinstance(value, (str, bytes)):
        try:
            items = tuple(value)
        except TypeError:                                 # not iterable (a 0-d tensor too)
            pass
    if items is None or not all(isinstance(v, str) for v in items):
        raise TypeError(f"{name} must be a sequence of {what} (str), got {_got(value)}")
    return items


def check_ignore_index(value, name: str = "ignore_index") -> int | None:
    """Return ``None`` or ``value`` as an ``int`` (any integer, even negative or huge)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int or None, got {_got(value)}")
    return int(value)


def check_num_classes(value, name: str = "num_classes") -> int:
    """Return ``value`` as an int in ``[1, MAX_CLASSES]`` (a (K, K) table must fit in memory)."""
    k = check_int(value, name)
    if k < 1:
        raise ValueError(f"{name} must be >= 1, got {k}")
    if k > MAX_CLASSES:
        raise ValueError(f"{name}={k} is too large: a ({k}, {k}) confusion matrix would need "
                         f"{k * k * 8 / 2**30:.3g} GiB; at most {MAX_CLASSES} classes are supported")
    return k


def check_indices(indices, name: str, n: int) -> list[int]:
    """A sequence of integer indices into ``n`` items, as a list of ints in ``[0, n)``.

    A string is not a sequence of indices here (``"12"`` is not ``[1, 2]``); NumPy integer
    arrays and tensors are.
    """
    if isinstance(indices, (str, bytes)) or not isinstance(indices, Iterable):
        raise TypeError(f"{name} must be a sequence of integers, got {_got(indices)}")
    if isinstance(indices, (np.ndarray, Tensor)):
        indices = indices.tolist() if indices.ndim == 1 else [indices.tolist()]
    out = [check_int(i, f"{name}[{k}]") for k, i in enumerate(indices)]
    bad = [i for i in out if not 0 <= i < n]
    if bad:
        raise ValueError(f"{name} must be in [0, {n}), got {bad[:5]}")
    return out


def check_path(path, name: str = "path") -> Path:
    """A ``str`` or ``os.PathLike`` as a ``Path``; ``TypeError`` otherwise."""
    if not isinstance(path, (str, os.PathLike)) or (isinstance(path, str) and not path):
        raise TypeError(f"{name} must be a str or Path, got {_got(path)}")
    return Path(path)


# --------------------------------------------------------------------------- tensors
def as_tensor(x, name: str) -> Tensor:
    """Return ``x`` as a tensor: a ``torch.Tensor`` unchanged, a NumPy array converted.

    NumPy arrays share memory with the tensor when they can (read-only and negatively
    strided arrays are copied). Unsigned integers wider than 8 bits (uint16 is NYUv2's label
    type) become int64, since torch supports few operations on them.

    Raises
    ------
    TypeError
        If ``x`` is neither, or holds no numbers (strings, objects).
    ValueError
        If a uint64 value does not fit in int64.
    """
    if isinstance(x, Tensor):
        t = x
    elif isinstance(x, np.ndarray):
        if x.dtype.kind not in "biufc":
            raise TypeError(f"{name} must hold numbers, got a numpy array of dtype {x.dtype}")
        if x.dtype.kind == "u" and x.dtype.itemsize > 1:
            if x.dtype.itemsize == 8 and x.size and int(x.max()) >= 2**63:
                raise ValueError(f"{name} holds uint64 values >= 2**63, which int64 cannot hold")
            x = x.astype(np.int64)
        if not x.dtype.isnative or not x.flags.writeable or any(s < 0 for s in x.strides):
            x = x.astype(x.dtype.newbyteorder("="), copy=True)
        try:
            t = torch.from_numpy(x)
        except TypeError as err:
            raise TypeError(f"{name} has numpy dtype {x.dtype}, which torch cannot hold "
                            f"({err})") from None
    else:
        raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got "
                        f"{type(x).__name__}")
    if t.dtype in _WIDE_UNSIGNED:
        wide = t.to(torch.int64)
        if t.dtype == _WIDE_UNSIGNED[-1] and t.numel() and bool((wide < 0).any()):
            raise ValueError(f"{name} holds uint64 values >= 2**63, which int64 cannot hold")
        t = wide
    return t


def _shape_text(ndim) -> str:
    if isinstance(ndim, tuple):
        return " or ".join(f"{d}-D" for d in ndim)
    return f"{ndim}-D"


def _check_ndim(t: Tensor, name: str, ndim, layout: str | None) -> None:
    if ndim is None:
        return
    allowed = ndim if isinstance(ndim, tuple) else (ndim,)
    if t.ndim not in allowed:
        what = layout or _shape_text(ndim)
        raise ValueError(f"{name} must have shape {what}, got shape {tuple(t.shape)}")


def check_finite(t: Tensor, name: str) -> Tensor:
    """Raise ``ValueError`` if the float tensor ``t`` holds NaN or infinity; return it."""
    # A sum of finite numbers is finite or overflows to inf, never NaN: one cheap reduction
    # clears the common case; the element-wise test only runs when the sum is not finite.
    if t.is_floating_point() and t.numel() and not bool(torch.isfinite(t.sum())) \
            and not bool(torch.isfinite(t).all()):
        n_nan = int(torch.isnan(t).sum())
        n_inf = int(torch.isinf(t).sum())
        raise ValueError(f"{name} must be finite, got {n_nan} NaN and {n_inf} infinite values")
    return t


def float_tensor(x, name: str, *, ndim=None, layout: str | None = None,
                 finite: bool = True, non_empty: bool = False) -> Tensor:
    """A floating-point tensor (``TypeError`` for integer or bool), finite by default.

    ``ndim`` (int or tuple) fixes the number of dimensions, ``layout`` (e.g. ``"(C, H, W)"``)
    is how the message describes the expected shape.
    """
    t = as_tensor(x, name)
    _check_ndim(t, name, ndim, layout)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {t.dtype}")
    if non_empty and t.numel() == 0:
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")
    return check_finite(t, name) if finite else t


def label_tensor(x, name: str, *, ndim=None, layout: str | None = None) -> Tensor:
    """An integer label tensor of any integer dtype; bool becomes uint8, floats raise TypeError."""
    t = as_tensor(x, name)
    if t.dtype == torch.bool:
        t = t.to(torch.uint8)
    elif t.is_floating_point() or t.is_complex():
        raise TypeError(f"{name} must hold integer class labels (an integer dtype), got dtype "
                        f"{t.dtype}")
    _check_ndim(t, name, ndim, layout)
    return t


def valid_mask(label: Tensor, ignore_index: int | None) -> Tensor | None:
    """Bool mask of the pixels of ``label`` that are *not* ``ignore_index``, or ``None``.

    ``None`` means that every pixel is valid: ``ignore_index`` is ``None`` or a value that
    the dtype of ``label`` cannot hold (a uint8 map with ``ignore_index=256``, an int8 map
    with 255). Comparing in the label's own dtype would wrap such values around.
    """
    if ignore_index is None:
        return None
    info = torch.iinfo(label.dtype)
    if not info.min <= ignore_index <= info.max:
        return None
    return label != ignore_index


def check_same_device(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """``ValueError`` unless ``a`` and ``b`` are on the same device."""
    if a.device != b.device:
        raise ValueError(f"{name_a} and {name_b} must be on the same device, got {name_a} on "
                         f"{a.device} and {name_b} on {b.device}")


def check_device(device, name: str = "device") -> torch.device | None:
    """``None`` or a usable ``torch.device`` (a string such as ``"cpu"`` or ``"cuda:0"``)."""
    if device is None:
        return None
    if not isinstance(device, (str, torch.device)):
        raise TypeError(f"{name} must be a str or torch.device, got {_got(device)}")
    try:
        device = torch.device(device)
    except RuntimeError as err:
        raise ValueError(f"{name}={device!r} is not a device ({err})") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{name}={str(device)!r} was requested but CUDA is not available")
    if device.type not in ("cpu", "cuda", "meta"):
        raise ValueError(f"{name} must be a CPU or CUDA device, got {str(device)!r}")
    return device


def check_float_dtype(dtype, name: str = "dtype") -> torch.dtype:
    """A floating-point ``torch.dtype``; ``TypeError`` otherwise."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating torch.dtype, got {_got(dtype)}")
    return dtype


def rgb_image(image, name: str = "image", *, channels_first: bool | None = False,
              non_empty: bool = True) -> Tensor:
    """An RGB image as a float tensor ``(H, W, 3)`` with values in [0, 1], on its device.

    Parameters
    ----------
    image : Tensor or ndarray, (H, W, 3) (or (3, H, W), see ``channels_first``)
        uint8 in 0..255 (divided by 255) or floating point in [0, 1], finite.
    name : str
        The argument's name, for messages.
    channels_first : bool or None
        ``True``: the image is ``(3, H, W)``; ``None``: accept both and take ``(3, H, W)``
        when the first dimension is 3 and the last is not.
    non_empty : bool
        Reject ``H == 0`` or ``W == 0``.

    Returns
    -------
    Tensor[H, W, 3]
        float32 (float64 stays float64).

    Raises
    ------
    TypeError
        Not a tensor/array; an integer dtype other than uint8, bool or complex.
    ValueError
        Wrong shape, empty, NaN/inf, float values outside [0, 1] (a float image in 0..255
        must be divided by 255 first).
    """
    t = as_tensor(image, name)
    if channels_first is None:
        channels_first = t.ndim == 3 and t.shape[0] == 3 and t.shape[-1] != 3
    if channels_first and t.ndim == 3:
        t = t.permute(1, 2, 0)
    if t.ndim != 3 or t.shape[-1] != 3:
        layout = "(3, H, W)" if channels_first else "(H, W, 3)"
        raise ValueError(f"{name} must be an RGB image of shape {layout}, got shape "
                         f"{tuple(image.shape)}")
    if non_empty and (t.shape[0] == 0 or t.shape[1] == 0):
        raise ValueError(f"{name} must be non-empty, got shape {tuple(t.shape)}")
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    if not t.is_floating_point():
        raise TypeError(f"{name} must be uint8 (0..255) or floating point (0..1), got dtype "
                        f"{t.dtype}")
    if t.dtype != torch.float64:
        t = t.float()
    check_finite(t, name)
    if t.numel():
        lo, hi = torch.aminmax(t)
        lo, hi = float(lo), float(hi)
        if lo < 0 or hi > 1:
            hint = "; divide a float image in 0..255 by 255" if hi > 1 else ""
            raise ValueError(f"{name} is floating point with values in [{lo:.4g}, {hi:.4g}], "
                             f"expected [0, 1] (or pass uint8 in 0..255){hint}")
    return t
