"""The one definition of a label boundary, shared by metrics, superpixels and Pasture.

A pixel is on a boundary when one of its neighbours (4- or 8-connected, inside the image:
the image edge is no boundary) carries another label. Both sides of a label change are
marked. Labels are compared exactly, in their own integer dtype (no float conversion).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import valid_mask

__all__ = ["NEIGHBOUR_OFFSETS", "label_boundaries"]

#: (dy, dx) of the neighbour pairs of each connectivity (each pair once).
NEIGHBOUR_OFFSETS = {4: ((0, 1), (1, 0)), 8: ((0, 1), (1, 0), (1, 1), (1, -1))}


def _pair_slices(H: int, W: int, dy: int, dx: int):
    """Slices of the pixels p and their neighbours q = p + (dy, dx) that are both inside."""
    p = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
    q = (slice(dy, H), slice(max(0, dx), W + min(0, dx)))
    return p, q


def label_boundaries(label: Tensor, *, connectivity: int = 8, ignore_index: int | None = None,
                     void: str = "drop") -> Tensor:
    """Bool ``(..., H, W)``: pixels with a neighbour of another label.

    Parameters
    ----------
    label : Tensor[..., H, W] (integer)
        Label maps (leading dimensions are separate images).
    connectivity : {4, 8}
        Neighbours compared.
    ignore_index : int or None
        Void label.
    void : {"drop", "skip"}
        ``"drop"``: void pixels are compared like any label, then never reported (a void
        band leaves the boundary on its labelled sides). ``"skip"``: pairs that involve a
        void pixel are not compared (a labelled pixel next to void is not on a boundary).
    """
    H, W = label.shape[-2:]
    valid = valid_mask(label, ignore_index)
    out = torch.zeros(label.shape, dtype=torch.bool, device=label.device)
    for dy, dx in NEIGHBOUR_OFFSETS[connectivity]:
        (py, px), (qy, qx) = _pair_slices(H, W, dy, dx)
        diff = label[..., py, px] != label[..., qy, qx]
        if void == "skip" and valid is not None:
            diff &= valid[..., py, px] & valid[..., qy, qx]
        out[..., py, px] |= diff
        out[..., qy, qx] |= diff
    if void == "drop" and valid is not None:
        out &= valid
    return out
