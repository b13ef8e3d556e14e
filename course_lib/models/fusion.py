"""Fusing a coarse map with a finer one: the size bookkeeping shared by FCN-16s/8s and
the hypercolumn network.

With the backbone's "same" padding (3x3 convolutions with padding 1) and floor 2x2
pooling, feature cell ``i`` at stride ``s`` covers input pixels ``[i s, (i + 1) s)``.
Upsampling a map by exactly 2 (bilinear, ``align_corners=False``, or the bilinear
transposed convolution) puts the new cells exactly on the cells of the stride ``s / 2``
map, starting at the top-left corner: the *offset* is 0. The only bookkeeping left is the
remainder: when the finer map has an odd size ``2 n + 1``, the upsampled coarse map
(``2 n``) lacks its last row or column, and :func:`match_size` repeats the edge.

Long et al.'s Caffe FCN needed real offsets (``crop`` layers with offsets 19, 27, ...)
because its first convolution padded the image by 100 pixels and later layers used no
padding; notebook 08 works one such case out.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int, check_size_pair

__all__ = ["match_size", "upsample_to"]


def _check_map(x, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be a 4-D (N, C, H, W) tensor, got shape {tuple(x.shape)}")


def match_size(x: Tensor, size, *, max_change: int | None = None) -> Tensor:
    """Crop or pad (by repeating the last row/column) ``x`` at the bottom/right to ``size``.

    Parameters
    ----------
    x : Tensor[N, C, h, w]
    size : (H, W)
    max_change : int, optional
        Largest allowed ``|H - h|`` and ``|W - w|``; a bigger mismatch means the two maps
        do not belong together and raises ``ValueError``.

    Returns
    -------
    Tensor[N, C, H, W]
    """
    _check_map(x, "x")
    H, W = check_size_pair(size)
    if max_change is not None:
        max_change = check_int(max_change, "max_change", low=0)
    h, w = x.shape[-2:]
    if max_change is not None and (abs(H - h) > max_change or abs(W - w) > max_change):
        raise ValueError(f"cannot fuse a {h}x{w} map with a {H}x{W} map: the sizes differ by "
                         f"more than {max_change} (expected the coarse map upsampled by the "
                         "stride ratio to be within one cell of the fine map)")
    x = x[..., :H, :W]
    pad_h, pad_w = H - x.shape[-2], W - x.shape[-1]
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return x


def upsample_to(x: Tensor, size, factor: int) -> Tensor:
    """Bilinear upsampling by an integer ``factor`` (``align_corners=False``), then
    :func:`match_size` to ``size``: the fixed final upsampling of FCN-32s/16s/8s.

    Scaling by the exact factor (rather than resizing to ``size``) keeps cell ``i`` on
    pixels ``[i f, (i + 1) f)`` when ``size`` is not a multiple of ``factor``.
    """
    _check_map(x, "x")
    size = check_size_pair(size)
    factor = check_int(factor, "factor", low=1)
    if factor > 1:
        x = F.interpolate(x, scale_factor=factor, mode="bilinear", align_corners=False)
    return match_size(x, size, max_change=factor)
