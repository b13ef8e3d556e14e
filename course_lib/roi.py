"""RoI pooling and RoIAlign in pure torch, with the semantics of ``torchvision.ops``.

A detector proposes boxes; a mask or box head needs a fixed-size feature tensor
for each box. :func:`roi_pool` (Fast R-CNN) snaps the box to the feature grid
and max-pools integer bins; :func:`roi_align` (Mask R-CNN) keeps the box where
it is and averages bilinear samples on a regular grid inside each bin. Both
take the same arguments as ``torchvision.ops.roi_pool`` / ``roi_align`` and
return the same numbers (checked in ``tests/test_roi.py``), on any device, with
autograd.

Coordinate conventions (as torchvision). A box is ``(x1, y1, x2, y2)`` in the
coordinates of the *image*; ``spatial_scale`` maps them onto the feature map
(``1 / stride``). Feature pixel ``(i, j)`` has its value at the point
``(y, x) = (i, j)``, so pixel ``i`` covers ``[i - 0.5, i + 0.5]``. With
``aligned=False`` (the legacy default) RoIAlign uses ``x1 * spatial_scale`` as
the box edge, which is half a pixel off; ``aligned=True`` (Detectron2)
subtracts 0.5 so that a box ``(0, 0, W, H)`` covers the feature map exactly.

Worked example: a 64 x 64 image, a stride-16 feature map of 4 x 4, the box
``(16, 16, 48, 48)`` and ``output_size=2``. With ``spatial_scale=1/16`` the
box is ``(1, 1, 3, 3)`` on the feature map. RoIAlign (``aligned=False``,
adaptive sampling) cuts it into 2 x 2 bins of 1 x 1, takes
``ceil(2 / 2) = 1`` sample per bin at the bin centres ``y, x in {1.5, 2.5}`` and
interpolates there; with ``aligned=True`` the centres move to ``{1.0, 2.0}``,
exactly on pixels. RoIPool rounds the box to pixels ``1 .. 3`` (3 x 3 pixels)
and max-pools the bins ``rows/cols [1, 3)`` and ``[2, 4)``: they overlap in
row/column 2. :func:`roi_align_sampling_points` and :func:`roi_pool_bins`
return these positions for drawing.

Implementation. RoIAlign is linear in the feature map: every output value is a
weighted sum of at most ``4 * gh * gw`` feature pixels. That map is built once
as a sparse matrix ``S`` in CSR form (a row per output bin, a column per
feature pixel), and the forward pass is ``S @ features``, computed by
``torch.nn.functional.embedding_bag(mode="sum", per_sample_weights=...)``: one
fused "gather the channel vectors, weight them and sum" over the channels-last
feature map, optimised on CPU and CUDA. The backward pass applies ``S^T`` (its
CSR comes from a stable sort of the columns) the same way, so it is
deterministic, and twice differentiable. Building ``S`` is vectorised over all
boxes: bilinear weights are separable, so the taps are computed per axis
(``K x ph`` rows of sample indices and weights, torchvision's border rules
included, duplicates merged, zero weights moved to the end) and multiplied out
into ``ph x pw x K`` tiles of ``Ly x Lx`` taps, of which the non-zero ones are
kept. The adaptive grid (``sampling_ratio <= 0``) differs per box: the taps
are computed for the largest grid ``G`` over all boxes and the unused samples
of smaller boxes get weight 0. That padding costs ``K * max(ph, pw) * 2G``
taps per axis and ``ph * pw * K * Ly * Lx`` tile entries (``Ly <= G + 1``
adjacent pixels with the adaptive grid), a few times the number of non-zeros;
only the samples that can land inside ``[-1, H]`` are enumerated, so ``G``
stays below about ``2H`` even for absurd boxes (torchvision loops over all
``G^2`` samples of those). The rows of ``S`` are ordered (bin row, bin column,
box), so that the (ph*pw, K*C) result turns into torchvision's contiguous
(K, C, ph, pw) layout with one 2-D transpose. Indices are int32 when they fit.

RoIPool is a max, not a linear map. Its bins are integer rectangles, grouped
by size (rounded up to 1, 2, 3, 4, 6, 8, 12, ...). For each group the feature
vectors of its bins are gathered into a (n, C, gh, gw) block and reduced with
``max_pool2d`` (or ``argmax``), which return the first maximum in row-major
order, as torchvision's kernel does; the backward pass adds the gradient at
those positions. The only Python loops in this module run over those size
groups (and blocks of at most a few million elements within them), never over
boxes.

Deliberate differences from torchvision: boxes with ``x2 < x1`` or
``y2 < y1``, non-finite coordinates, fractional or out-of-range batch indices
and a non-positive ``spatial_scale`` raise ``ValueError`` (torchvision accepts
them and returns numbers that mean nothing); no gradient flows to the boxes
(torchvision gives none either). float16 and bfloat16 RoIAlign is computed in
float32 (torchvision computes float16 in float16 and has no bfloat16 on the
CPU). Results agree with torchvision to rounding (about 1e-6 in float32) for
finite feature maps; with NaN or infinite features, RoIAlign differs where
such a value sits under a zero weight (torchvision's 0 * inf gives NaN; the
zero weight is not stored here).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "roi_align",
    "roi_pool",
    "RoIAlign",
    "RoIPool",
    "bilinear_sample",
    "roi_align_sampling_points",
    "roi_pool_bins",
]

_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_FLT_MAX = 3.4028234663852886e38  # torchvision's initial value of a RoIPool max
# elements of one gathered block in roi_pool (bounds its peak memory)
_POOL_BLOCK = 1 << 22
# sizes beyond which a request is refused instead of exhausting memory
_MAX_ELEMENTS = 1 << 32  # elements of a result
_MAX_SLOTS = 1 << 16  # samples per bin and axis that can land on the map


# --------------------------------------------------------------------------- checks


def _check_input(input, name: str = "input") -> None:
    if not isinstance(input, Tensor):
        raise TypeError(f"{name} must be a Tensor[N, C, H, W], got {type(input).__name__}")
    if input.ndim != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got shape {tuple(input.shape)}")
    if input.dtype not in _FLOATS:
        raise TypeError(f"{name} must be a floating point tensor, got dtype {input.dtype}")
    if input.shape[2] < 1 or input.shape[3] < 1:
        raise ValueError(f"{name} must have H >= 1 and W >= 1, got shape {tuple(input.shape)}")


def _pair(output_size, name: str = "output_size") -> tuple[int, int]:
    size = output_size.tolist() if isinstance(output_size, Tensor) else output_size
    if not isinstance(size, Sequence):                    # one number (a 0-d tensor too)
        size = (size, size)
    if len(size) != 2:
        raise ValueError(f"{name} must be an int or a pair (h, w), got {output_size!r}")
    for s in size:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral):
            raise TypeError(f"{name} must contain integers, got {output_size!r}")
    if min(size) < 1:
        raise ValueError(f"{name} must be >= 1 in both dimensions, got {output_size!r}")
    return int(size[0]), int(size[1])


def _check_scale(spatial_scale) -> float:
    if isinstance(spatial_scale, bool) or not isinstance(spatial_scale, numbers.Real):
        raise TypeError(f"spatial_scale must be a real number, got {type(spatial_scale).__name__}")
    scale = float(spatial_scale)
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"spatial_scale must be finite and > 0, got {spatial_scale!r}")
    return scale


def _check_sampling_ratio(sampling_ratio) -> int:
    if isinstance(sampling_ratio, bool) or not isinstance(sampling_ratio, numbers.Integral):
        raise TypeError(f"sampling_ratio must be an int (<= 0 for adaptive), got {sampling_ratio!r}")
    return int(sampling_ratio)


def _check_aligned(aligned) -> bool:
    if not isinstance(aligned, bool):
        raise TypeError(f"aligned must be a bool, got {type(aligned).__name__}")
    return aligned


def _check_box_tensor(t, name: str, cols: int, input: Tensor) -> None:
    want = "Tensor[K, 5]" if cols == 5 else "Tensor[L, 4]"
    if not isinstance(t, Tensor):
        raise TypeError(f"{name} must be a {want}, got {type(t).__name__}")
    if t.ndim != 2 or t.shape[1] != cols:
        raise ValueError(f"{name} must have shape {want[6:]}, got shape {tuple(t.shape)}")
    if t.dtype != input.dtype:
        raise TypeError(f"{name} must have the dtype of input ({input.dtype}), got {t.dtype}")
    if t.device != input.device:
        raise ValueError(f"{name} must be on the device of input ({input.device}), got {t.device}")


def _as_rois(boxes, input: Tensor) -> Tensor:
    """Check ``boxes`` (Tensor[K, 5] or list of Tensor[L, 4]) and return Tensor[K, 5]."""
    if isinstance(boxes, Tensor):
        _check_box_tensor(boxes, "boxes", 5, input)
        rois = boxes.detach()
    elif isinstance(boxes, (list, tuple)):
        for i, b in enumerate(boxes):
            _check_box_tensor(b, f"boxes[{i}]", 4, input)
        if len(boxes) == 0:
            rois = input.new_zeros(0, 5)
        else:
            ids = [torch.full_like(b[:, :1], i) for i, b in enumerate(boxes)]
            rois = torch.cat([torch.cat(ids), torch.cat([b.detach() for b in boxes])], dim=1)
    else:
        raise TypeError(f"boxes must be a Tensor[K, 5] or a list of Tensor[L, 4], "
                        f"got {type(boxes).__name__}")
    if rois.shape[0] == 0:
        return rois
    if not torch.isfinite(rois).all():
        raise ValueError("boxes must have finite coordinates and batch indices, got NaN or inf")
    idx = rois[:, 0]
    N = input.shape[0]
    if (idx != idx.round()).any() or (idx < 0).any() or (idx > N - 1).any():
        bad = idx[(idx != idx.round()) | (idx < 0) | (idx > N - 1)][0].item()
        raise ValueError(f"boxes: batch index {bad:g} does not exist, expected an integer in "
                         f"[0, {N - 1}] (input has N = {N})")
    x1, y1, x2, y2 = rois[:, 1:].unbind(1)
    if ((x2 < x1) | (y2 < y1)).any():
        k = int(((x2 < x1) | (y2 < y1)).nonzero()[0, 0])
        raise ValueError(f"boxes must satisfy x1 <= x2 and y1 <= y2, got box {k} = "
                         f"{rois[k, 1:].tolist()} (x1, y1, x2, y2)")
    return rois


def _check_result_size(K: int, C: int, P: int, Q: int) -> None:
    n = K * max(C, 1) * P * Q
    if n > _MAX_ELEMENTS:
        raise ValueError(f"output_size ({P}, {Q}) for {K} boxes and {C} channels gives a result of "
                         f"{n} elements, expected at most {_MAX_ELEMENTS}")


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    # half types are computed in float32: more accurate than torchvision's float16 kernel,
    # and its CPU kernel has no bfloat16
    return dtype if dtype in (torch.float32, torch.float64) else torch.float32


# ------------------------------------------------------------------- RoIAlign maths


def _bilinear_taps(y: Tensor, size: int):
    """torchvision's bilinear rule along one axis, for points already known to be in [-1, size].

    Returns ``low, high`` (int64) and their weights ``w_low, w_high``.
    """
    y = y.clamp(min=0)  # -1 <= y <= 0 reads pixel 0
    low = y.floor().long()
    edge = low >= size - 1  # size - 1 <= y <= size reads the last pixel
    low = low.clamp(max=size - 1)
    high = torch.where(edge, low, low + 1)
    y = torch.where(edge, low.to(y.dtype), y)
    w_high = y - low.to(y.dtype)
    return low, high, 1.0 - w_high, w_high


def _box_frame(rois: Tensor, spatial_scale: float, aligned: bool, dtype: torch.dtype):
    """Start (x, y) and size (w, h) of each box on the feature map, as torchvision computes them."""
    offset = 0.5 if aligned else 0.0
    # torchvision's kernel takes the scale as T and computes every step in T
    scale = torch.tensor(spatial_scale, dtype=dtype, device=rois.device)
    corners = rois[:, 1:].to(dtype) * scale - offset
    x1, y1, x2, y2 = corners.unbind(1)
    w, h = x2 - x1, y2 - y1
    if not aligned:  # legacy: force malformed boxes to be at least 1 x 1
        w, h = w.clamp(min=1.0), h.clamp(min=1.0)
    return x1, y1, w, h


def _grid(length: Tensor, pooled: int, sampling_ratio: int) -> Tensor:
    """Samples per bin along one axis, (K,) int64: ``sampling_ratio`` or ``ceil(length / pooled)``."""
    if sampling_ratio > 0:
        return torch.full(length.shape, sampling_ratio, dtype=torch.long, device=length.device)
    return torch.ceil(length / pooled).long()


def _sample_positions(start: Tensor, length: Tensor, pooled: int, grid: Tensor,
                      first: Tensor | int = 0, slots: int | None = None) -> tuple[Tensor, Tensor]:
    """Sample coordinates along one axis, (K, pooled, slots), and the sample indices used.

    Sample ``i`` of bin ``p`` sits at ``start + p * bin + (i + 0.5) * bin / grid``
    (torchvision's expression, evaluated in the same order and dtype).
    """
    dt = start.dtype
    bin_size = length / pooled  # (K,)
    p = torch.arange(pooled, device=start.device, dtype=dt)
    base = start[:, None] + p * bin_size[:, None]  # (K, P)
    if slots is None:
        slots = int(grid.max()) if grid.numel() else 0
    i = first + torch.arange(slots, device=start.device)  # (K, P, S) or (S,)
    i = i.expand(*base.shape, slots)
    pos = base[..., None] + ((i.to(dt) + 0.5) * bin_size[:, None, None]) / grid.to(dt)[:, None, None]
    return pos, i


def _sample_window(start: Tensor, length: Tensor, pooled: int, grid: Tensor, size: int):
    """Which samples to enumerate: ``first`` index, number of ``slots`` and ``collapsed`` rows.

    A bin of ``g`` samples spaced ``d = bin / g`` apart has at most
    ``(size + 1) / d + 1`` samples in ``[-1, size]``; enumerating only those
    keeps huge boxes cheap. The window is estimated in float64 with a margin of
    2 samples; the exact in-range test is done afterwards on the exact
    coordinates. A bin of size 0 (``aligned``, zero-size box, fixed
    ``sampling_ratio``) has all its samples at one point: it is ``collapsed``
    to its first sample, counted ``g`` times. With no box needing a window,
    ``first = 0`` and ``slots`` is the largest grid.
    """
    G = int(grid.max()) if grid.numel() else 0
    bin_size = (length / pooled).double()  # (K,)
    d = bin_size / grid.double().clamp(min=1)
    spread = torch.ceil((size + 1) / d.clamp(min=1e-300)) + 6
    need = torch.where(d > 0, torch.minimum(grid.double(), spread), grid.double().clamp(max=1))
    slots = int(need.max()) if need.numel() else 0
    collapsed = (d == 0) & (grid > 0)  # window or not: a box's taps don't depend on the others
    if slots >= G:
        return 0, G, collapsed
    p = torch.arange(pooled, device=start.device, dtype=torch.float64)
    base = start.double()[:, None] + p * bin_size[:, None]  # (K, P)
    est = torch.floor((-1.0 - base) / d[:, None].clamp(min=1e-300) - 0.5) - 2
    est = torch.where(d[:, None] > 0, est, torch.zeros_like(est))
    first = est.clamp(min=0, max=float(G)).long()
    return first[..., None], slots, collapsed


def _merge_taps(idx: Tensor, w: Tensor) -> tuple[Tensor, Tensor]:
    """Merge taps with equal indices (weights summed) and drop zero weights.

    ``idx, w``: (..., J). Returns (..., L), L = the most non-zero taps in a row,
    indices ascending, padded with weight 0.
    """
    idx, order = idx.sort(dim=-1, stable=True)  # sums in sample order, whatever the window
    w = w.gather(-1, order)
    J = idx.shape[-1]
    pos = torch.arange(J, device=idx.device).expand_as(idx)
    new = torch.ones_like(idx, dtype=torch.bool)
    new[..., 1:] = idx[..., 1:] != idx[..., :-1]
    head = torch.where(new, pos, torch.zeros_like(pos)).cummax(dim=-1).values  # first tap of each run
    w = torch.zeros_like(w).scatter_add_(-1, head, w)
    keep = w != 0  # weights are >= 0, so a zero sum means no sample used this pixel
    L = int(keep.sum(-1).max()) if keep.numel() else 0
    front = (~keep).to(torch.uint8).argsort(dim=-1, stable=True)[..., :L]  # non-zero taps first
    return idx.gather(-1, front), w.gather(-1, front)


def _axis_taps(start: Tensor, length: Tensor, pooled: int, size: int, sampling_ratio: int):
    """Per-bin interpolation taps along one axis: indices (K, P, L) and weights (K, P, L).

    The weights include the 1 / grid of the average, so that the weight of
    feature pixel ``(r, c)`` in bin ``(p, q)`` is ``wy[p, r] * wx[q, c]``.
    """
    grid = _grid(length, pooled, sampling_ratio)  # (K,)
    first, slots, collapsed = _sample_window(start, length, pooled, grid, size)
    if slots > _MAX_SLOTS:  # only a huge sampling_ratio can do that (adaptive grids stay below 2H)
        raise ValueError(f"sampling_ratio={sampling_ratio} puts up to {slots} samples per bin on a "
                         f"map of size {size}, expected at most {_MAX_SLOTS}")
    pos, i = _sample_positions(start, length, pooled, grid, first, slots)  # (K, P, S)
    ok = (i < grid[:, None, None]) & (pos >= -1) & (pos <= size)  # the samples torchvision uses
    pos = torch.where(ok, pos, torch.zeros_like(pos))
    low, high, w_low, w_high = _bilinear_taps(pos, size)
    scale = ok.to(pos.dtype) / grid.clamp(min=1).to(pos.dtype)[:, None, None]  # mean over the grid
    if collapsed is not None:  # one sample standing for `grid` identical ones
        one = collapsed[:, None, None] & (i == i[..., :1])
        scale = torch.where(collapsed[:, None, None], ok.to(pos.dtype) * one, scale)
    idx = torch.cat([low, high], dim=-1)  # (K, P, 2S)
    w = torch.cat([w_low * scale, w_high * scale], dim=-1)
    return _merge_taps(idx, w)


def _roi_align_matrix(rois: Tensor, shape: tuple[int, int, int], pooled: tuple[int, int],
                      spatial_scale: float, sampling_ratio: int, aligned: bool):
    """The CSR matrix ``S`` (ph*pw*K, N*H*W) of RoIAlign: ``crow, col, val``.

    Row ``(p * pw + q) * K + k`` holds the weights of bin ``(p, q)`` of box ``k``.
    """
    N, H, W = shape
    P, Q = pooled
    x1, y1, w, h = _box_frame(rois, spatial_scale, aligned, rois.dtype)
    iy, wy = _axis_taps(y1, h, P, H, sampling_ratio)  # (K, P, Ly)
    ix, wx = _axis_taps(x1, w, Q, W, sampling_ratio)  # (K, Q, Lx)
    b = rois[:, 0].long()
    K, Ly, Lx = b.numel(), iy.shape[2], ix.shape[2]
    # int32 indices halve the memory traffic; embedding_bag takes either
    small = N * H * W < 2**31 and K * P * Q * Ly * Lx < 2**31
    itype = torch.int32 if small else torch.long
    # the (Ly, Lx) tile of taps of each bin, bins in (p, q, k) order (see _RoIAlignFunction),
    # zero weights being padding; contiguous, so that the broadcast tiles are laid out so too
    iy, wy = iy.transpose(0, 1).contiguous(), wy.transpose(0, 1).contiguous()  # (P, K, Ly)
    ix, wx = ix.transpose(0, 1).contiguous(), wx.transpose(0, 1).contiguous()  # (Q, K, Lx)
    row_start = ((b[:, None] * H + iy) * W).to(itype)  # (P, K, Ly): flat index of (b, iy, 0)
    col = row_start[:, None, :, :, None] + ix.to(itype)[None, :, :, None, :]  # (P, Q, K, Ly, Lx)
    val = wy[:, None, :, :, None] * wx[None, :, :, None, :]
    # taps are compacted to the front, so bin (p, q, k) keeps ny[p, k] * nx[q, k] of them
    # (the mask comes from the factors: a product may underflow to 0, the count must not change)
    nz_y, nz_x = wy != 0, wx != 0
    keep = nz_y[:, None, :, :, None] & nz_x[None, :, :, None, :]
    ny, nx = nz_y.sum(-1), nz_x.sum(-1)  # (P, K), (Q, K)
    counts = (ny[:, None, :] * nx[None, :, :]).reshape(-1).to(itype)  # (P*Q*K,)
    crow = torch.cat([counts.new_zeros(1), counts.cumsum(0, dtype=itype)])
    taps = keep.view(-1).nonzero().squeeze(1)
    return crow, col.view(-1).index_select(0, taps), val.view(-1).index_select(0, taps)


def _row_ids(crow: Tensor) -> Tensor:
    """The row of every entry of a CSR matrix, ``repeat_interleave(arange(rows), crow.diff())``.

    (``repeat_interleave`` took tens of milliseconds even for tiny inputs on
    the 2-core test machine.) Each row start adds 1 at its first entry; a
    cumulative sum turns that into row ids, and empty rows simply add twice at
    the same place.
    """
    nnz = int(crow[-1])
    starts = crow[1:-1].long()
    marks = torch.zeros(nnz + 1, dtype=torch.long, device=crow.device)
    marks.scatter_add_(0, starts, torch.ones_like(starts))
    return marks[:nnz].cumsum(0)


def _weighted_bags(crow: Tensor, col: Tensor, val: Tensor, dense: Tensor) -> Tensor:
    """``S @ dense`` for the CSR matrix ``S = (crow, col, val)``: row ``r`` of the result is
    ``sum(val[j] * dense[col[j]] for j in crow[r] : crow[r + 1])``.

    That is exactly ``embedding_bag`` in ``sum`` mode with per-sample weights,
    an optimised fused gather-weight-sum on CPU and CUDA.
    """
    if dense.shape[1] == 0:  # embedding_bag fails on vectors of length 0 (torch 2.14, CPU)
        return dense.new_zeros(crow.numel() - 1, 0)
    return torch.nn.functional.embedding_bag(col, dense, crow, mode="sum", per_sample_weights=val,
                                             include_last_offset=True)


def _csr_transpose(crow: Tensor, col: Tensor, val: Tensor, n_cols: int):
    """CSR of ``S^T`` from the CSR of ``S`` (a stable counting sort by column)."""
    row = _row_ids(crow).to(crow.dtype)
    order = col.argsort(stable=True)
    counts = torch.bincount(col, minlength=n_cols)
    crow_t = torch.cat([counts.new_zeros(1), counts.cumsum(0)]).to(crow.dtype)
    return crow_t, row[order], val[order]


class _SparseMatmul(torch.autograd.Function):
    """``S @ dense`` for a constant CSR matrix ``S``; its backward is ``S^T @ grad`` (twice differentiable)."""

    @staticmethod
    def forward(ctx, dense, crow, col, val, n_cols):
        ctx.save_for_backward(crow, col, val)
        ctx.n_cols = n_cols
        return _weighted_bags(crow, col, val, dense)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return None, None, None, None, None
        crow, col, val = ctx.saved_tensors
        crow_t, col_t, val_t = _csr_transpose(crow, col, val, ctx.n_cols)
        grad_dense = _SparseMatmul.apply(grad.contiguous(), crow_t, col_t, val_t, crow.numel() - 1)
        return grad_dense, None, None, None, None


class _RoIAlignFunction(torch.autograd.Function):
    """``S @ features`` as (K, C, P, Q); the backward is ``S^T @ grad`` (twice differentiable).

    The rows of ``S`` are ordered (p, q, k), so that the (P*Q, K*C) result of
    the bags becomes torchvision's (K, C, P, Q) layout by one 2-D transpose
    (a cache-blocked copy, about as fast as a plain copy; a 4-D permutation
    is twice as slow).
    """

    @staticmethod
    def forward(ctx, feats, crow, col, val, K, P, Q):
        ctx.save_for_backward(crow, col, val)
        ctx.shape = (feats.shape[0], K, P, Q)
        C = feats.shape[1]
        rows = _weighted_bags(crow, col, val, feats)  # (P*Q*K, C)
        return rows.view(P * Q, K * C).t().contiguous().view(K, C, P, Q)

    @staticmethod
    def backward(ctx, grad):
        if not ctx.needs_input_grad[0]:
            return (None,) * 7
        crow, col, val = ctx.saved_tensors
        n_cols, K, P, Q = ctx.shape
        C = grad.shape[1]
        crow_t, col_t, val_t = _csr_transpose(crow, col, val, n_cols)
        grad_rows = grad.reshape(K * C, P * Q).t().contiguous().view(P * Q * K, C)
        grad_feats = _SparseMatmul.apply(grad_rows, crow_t, col_t, val_t, P * Q * K)
        return (grad_feats,) + (None,) * 6


# ------------------------------------------------------------------------- RoIAlign


def roi_align(
    input: Tensor,
    boxes: Tensor | list[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = -1,
    aligned: bool = False,
) -> Tensor:
    """RoIAlign (Mask R-CNN): average of bilinear samples on a grid in each bin.

    Same signature and numbers as ``torchvision.ops.roi_align``.

    Parameters
    ----------
    input : Tensor[N, C, H, W]
        Feature maps, floating point (float16/bfloat16 are computed in float32).
    boxes : Tensor[K, 5] or list of Tensor[L, 4]
        ``(batch_index, x1, y1, x2, y2)`` rows, or one ``(x1, y1, x2, y2)``
        tensor per image of the batch. Image coordinates (see
        ``spatial_scale``), ``x1 <= x2``, ``y1 <= y2``; boxes may extend beyond
        the map. Same dtype and device as ``input``.
    output_size : int or (int, int)
        ``(ph, pw)``, the bins per box; an int means a square.
    spatial_scale : float
        Multiplies box coordinates to get feature-map coordinates (1 / stride),
        > 0. Default 1.
    sampling_ratio : int
        Samples per bin along each axis. ``<= 0`` (default -1): adaptive,
        ``ceil(roi_h / ph)`` by ``ceil(roi_w / pw)`` for each box.
    aligned : bool
        False (default): torchvision's legacy convention, boxes smaller than 1
        are enlarged to 1. True: shift the box by -0.5 pixel so that sample
        positions line up with pixel centres (Detectron2); no enlargement.

    Returns
    -------
    Tensor[K, C, ph, pw]
        Pooled features, dtype and device of ``input``. Zero for samples
        outside ``[-1, H] x [-1, W]``.

    Raises
    ------
    TypeError
        Wrong type of an argument, non-float ``input``, or ``boxes`` of another dtype.
    ValueError
        ``input`` not 4-D; ``boxes`` of the wrong shape or on another device,
        with NaN/inf, ``x2 < x1`` or ``y2 < y1`` (torchvision accepts those
        silently), a batch index that is not an integer in ``[0, N - 1]``;
        ``output_size < 1``; ``spatial_scale <= 0``.

    Notes
    -----
    A box ``(x1, y1, x2, y2)`` becomes ``(x1 s - o, y1 s - o, x2 s - o, y2 s - o)``
    on the map, ``s = spatial_scale``, ``o = 0.5`` if ``aligned`` else 0. Bin
    ``(p, q)`` holds ``gh x gw`` samples at
    ``y = y1' + p * bin_h + (i + 0.5) * bin_h / gh`` (and likewise ``x``);
    each is interpolated with :func:`bilinear_sample` and the bin is their
    mean. All of that is one sparse matrix product (see the module notes).

    References
    ----------
    .. [1] K. He, G. Gkioxari, P. Dollar, R. Girshick, Mask R-CNN, ICCV 2017.
       :arXiv:`1703.06870`

    Examples
    --------
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)  # value = 4 * row + col
    >>> boxes = torch.tensor([[0.0, 16, 16, 48, 48]])  # image coordinates, stride 16
    >>> roi_align(x, boxes, 2, spatial_scale=1 / 16, aligned=True)
    tensor([[[[ 5.,  6.],
              [ 9., 10.]]]])
    """
    _check_input(input)
    P, Q = _pair(output_size)
    scale = _check_scale(spatial_scale)
    sampling_ratio = _check_sampling_ratio(sampling_ratio)
    aligned = _check_aligned(aligned)
    rois = _as_rois(boxes, input)
    N, C, H, W = input.shape
    K = rois.shape[0]
    _check_result_size(K, C, P, Q)
    dt = _compute_dtype(input.dtype)
    x = input.to(dt)
    crow, col, val = _roi_align_matrix(rois.to(dt), (N, H, W), (P, Q), scale, sampling_ratio, aligned)
    feats = x.permute(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C): channels contiguous
    out = _RoIAlignFunction.apply(feats, crow, col, val, K, P, Q)  # (K, C, P, Q)
    return out.to(input.dtype)


class RoIAlign(nn.Module):
    """:func:`roi_align` as a module; see there for the arguments.

    Examples
    --------
    >>> RoIAlign(7, spatial_scale=1 / 16, sampling_ratio=2)
    RoIAlign(output_size=7, spatial_scale=0.0625, sampling_ratio=2, aligned=False)
    """

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float = 1.0,
                 sampling_ratio: int = -1, aligned: bool = False):
        super().__init__()
        _pair(output_size)
        _check_scale(spatial_scale)
        _check_sampling_ratio(sampling_ratio)
        _check_aligned(aligned)
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        return roi_align(input, rois, self.output_size, self.spatial_scale, self.sampling_ratio,
                         self.aligned)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale}, sampling_ratio={self.sampling_ratio}, "
                f"aligned={self.aligned})")


# -------------------------------------------------------------------------- RoIPool


def _round_half_away(v: Tensor) -> Tensor:
    """C's ``round``: halves away from zero (``torch.round`` rounds them to even)."""
    r = v.trunc()
    return r + torch.where((v - r).abs() >= 0.5, v.sign(), torch.zeros_like(v))


def _pool_edges(lo: Tensor, hi: Tensor, pooled: int, size: int | None, spatial_scale: float,
                dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """RoIPool bin edges along one axis, (K, pooled) int64 ``start, end`` (end exclusive).

    Clipped to ``[0, size]`` unless ``size`` is None.
    """
    big = min(2.0**40, torch.finfo(dtype).max)  # keeps absurd coordinates representable as integers
    scale = torch.tensor(spatial_scale, dtype=dtype, device=lo.device)  # in T, as torchvision
    start = _round_half_away((lo.to(dtype) * scale).clamp(-big, big)).long()
    end = _round_half_away((hi.to(dtype) * scale).clamp(-big, big)).long()
    length = (end - start + 1).clamp(min=1)  # pixels, both ends included
    bin_size = length.to(dtype) / pooled  # in T, as torchvision
    p = torch.arange(pooled + 1, device=lo.device, dtype=dtype)
    edges = p * bin_size[:, None]  # (K, P + 1)
    s = torch.floor(edges[:, :-1]).long() + start[:, None]
    e = torch.ceil(edges[:, 1:]).long() + start[:, None]
    if size is not None:
        s, e = s.clamp(0, size), e.clamp(0, size)
    return s, e


def _size_class(n: Tensor) -> Tensor:
    """Round bin lengths up to 1, 2, 3, 4, 6, 8, 12, 16, ... (at most 1.5x padding)."""
    n = n.clamp(min=1)
    p = torch.floor(torch.log2(n.double())).long()  # 2^p <= n < 2^(p+1)
    lo = 2 ** p
    mid = lo + lo // 2
    return torch.where(n <= lo, lo, torch.where(n <= mid, torch.maximum(mid, lo + 1), 2 * lo))


def _pool_max(rows: Tensor, b: Tensor, hs: Tensor, he: Tensor, ws: Tensor, we: Tensor, H: int, W: int):
    """Max of every bin and channel, and the row of ``rows`` it came from.

    ``rows`` (N*H*W, C) is the feature map with channels last; bins are
    numbered in (p, q, k) order (see :class:`_RoIAlignFunction` for why).
    Returns ``value`` (P*Q*K, C), ``arg`` (P*Q*K, C) and ``order``: row ``r``
    of ``value`` and ``arg`` belongs to bin ``order[r]`` (bins are sorted by
    size). ``arg`` is the index into ``rows`` of torchvision's maximum: the first one in row-major order that
    is larger than -FLT_MAX (NaN never is). Empty bins give 0, bins without
    such a value -FLT_MAX; both get ``arg = N*H*W`` (no gradient). Bins of the
    same (padded) size are gathered together into a (n, C, gh, gw)
    channels-last block and reduced with one ``max_pool2d`` (or ``argmax``);
    padding repeats the last row or column of a bin, which changes neither the
    max nor its first position. (On CUDA the backward ``scatter_add`` adds
    the gradients of bins sharing a maximum in no fixed order.)
    """
    NHW, C = rows.shape
    K, P = hs.shape
    Q = ws.shape[1]
    dev = rows.device
    n_bins = P * Q * K
    lh = (he - hs).t()[:, None, :].expand(P, Q, K).reshape(-1)  # (P*Q*K,)
    lw = (we - ws).t()[None, :, :].expand(P, Q, K).reshape(-1)
    # flat index of each bin's first pixel (b, hs, ws)
    top = (b[None, :] * H + hs.t()) * W  # (P, K)
    start = (top[:, None, :] + ws.t()[None, :, :]).reshape(-1)  # (P*Q*K,)
    index_dtype = torch.int32 if NHW < 2**31 - 1 else torch.long  # halves the memory kept
    if n_bins == 0 or C == 0:
        return (rows.new_zeros(n_bins, C), torch.full((n_bins, C), NHW, dtype=index_dtype, device=dev),
                torch.arange(n_bins, device=dev))
    if bool(torch.isnan(rows).any()):  # torchvision never picks NaN; max_pool2d would
        rows = torch.where(torch.isnan(rows), rows.new_tensor(-math.inf), rows)
    # sort the bins by padded size, empty bins last: each size is then a slice
    ch, cw = _size_class(lh), _size_class(lw)
    nonempty = (lh > 0) & (lw > 0)
    key = torch.where(nonempty, ch * (int(cw.max()) + 1) + cw, torch.iinfo(torch.long).max)
    key, order = key.sort()
    sizes, counts = torch.unique_consecutive(key, return_counts=True)
    lh, lw, start, ch, cw = lh[order], lw[order], start[order], ch[order], cw[order]
    value = rows.new_empty(n_bins, C)  # in sorted order; every row is written below
    arg = torch.empty(n_bins, C, dtype=index_dtype, device=dev)
    lo = 0
    for size, n_group in zip(sizes.tolist(), counts.tolist()):
        if size == torch.iinfo(torch.long).max:  # the empty bins
            value[lo:] = 0
            arg[lo:] = NHW
            break
        gh, gw = int(ch[lo]), int(cw[lo])
        step = max(1, _POOL_BLOCK // (gh * gw * C))
        for a in range(lo, lo + n_group, step):
            z = min(a + step, lo + n_group)
            n = z - a
            # the pixels of each bin, padded by repeating its last row and column
            dr = torch.minimum(torch.arange(gh, device=dev), lh[a:z, None] - 1) * W  # (n, gh)
            dc = torch.minimum(torch.arange(gw, device=dev), lw[a:z, None] - 1)  # (n, gw)
            pos = (start[a:z, None, None] + dr[:, :, None] + dc[:, None, :]).to(index_dtype)
            block = rows.index_select(0, pos.view(-1)).view(n, gh * gw, C)
            if block.numel() >= 1 << 16:  # vectorised over channels: the fast kernel for big blocks
                block = block.view(n, gh, gw, C).permute(0, 3, 1, 2)  # (n, C, gh, gw) channels last
                m, i = torch.nn.functional.max_pool2d(block, (gh, gw), return_indices=True)
                m, i = m.view(n, C), i.view(n, C)
            else:  # max(dim) and max_pool2d always start threads: costly for small blocks
                i = block.argmax(dim=1)
                m = block.gather(1, i[:, None]).squeeze(1)
            # i: the first maximum, h * gw + w inside the block
            value[a:z] = m
            arg[a:z] = pos.view(n, gh * gw).gather(1, i)
        lo += n_group
    # torchvision starts from -FLT_MAX: a bin with nothing larger gives -FLT_MAX, no gradient
    if lo and bool(value[:lo].min() <= -_FLT_MAX):  # (rare: one pass to check)
        lost = ~(value[:lo] > -_FLT_MAX)
        value[:lo] = torch.where(lost, value.new_tensor(-_FLT_MAX), value[:lo])
        arg[:lo] = torch.where(lost, arg.new_tensor(NHW), arg[:lo])
    return value, arg, order


class _RoIPoolFunction(torch.autograd.Function):
    """Max of each bin as (K, C, P, Q); the gradient goes to the arg-max (twice differentiable)."""

    @staticmethod
    def forward(ctx, rows, b, hs, he, ws, we, H, W):
        K, P, Q, C = hs.shape[0], hs.shape[1], ws.shape[1], rows.shape[1]
        value, arg, order = _pool_max(rows.detach(), b, hs, he, ws, we, H, W)  # sorted bins
        ctx.save_for_backward(arg, order)
        ctx.shape = (rows.shape[0], K, P, Q)
        inverse = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
        value = value.index_select(0, inverse)  # (P*Q*K, C), bins in (p, q, k) order
        return value.view(P * Q, K * C).t().contiguous().view(K, C, P, Q)

    @staticmethod
    def backward(ctx, grad):
        arg, order = ctx.saved_tensors
        if not ctx.needs_input_grad[0]:
            return (None,) * 8
        n_rows, K, P, Q = ctx.shape
        C = grad.shape[1]
        grad_bins = grad.reshape(K * C, P * Q).t().contiguous().view(P * Q * K, C)
        grad_bins = grad_bins.index_select(0, order)  # in the sorted order of `arg`
        grad_rows = grad.new_zeros(n_rows + 1, C).scatter_add(0, arg.long(), grad_bins)
        return (grad_rows[:-1],) + (None,) * 7


def roi_pool(
    input: Tensor,
    boxes: Tensor | list[Tensor],
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
) -> Tensor:
    """RoI pooling (Fast R-CNN): max over integer bins of the box snapped to the grid.

    Same signature and numbers as ``torchvision.ops.roi_pool``.

    Parameters
    ----------
    input : Tensor[N, C, H, W]
        Feature maps, floating point.
    boxes : Tensor[K, 5] or list of Tensor[L, 4]
        As in :func:`roi_align`.
    output_size : int or (int, int)
        ``(ph, pw)``, the bins per box.
    spatial_scale : float
        Multiplies box coordinates to get feature-map coordinates, > 0.

    Returns
    -------
    Tensor[K, C, ph, pw]
        Max of each bin; 0 for a bin that lies outside the map.

    Raises
    ------
    TypeError, ValueError
        As :func:`roi_align`.

    Notes
    -----
    The box corners are rounded to pixels (``round(x1 * s)``, halves away from
    zero); the box covers ``round(x2 s) - round(x1 s) + 1`` pixels (at least 1),
    bin ``p`` covers rows ``[floor(p * bin_h), ceil((p + 1) * bin_h))`` of it,
    clipped to the map. That quantisation is what RoIAlign removes. The
    gradient flows to the first maximum of each bin in row-major order.

    References
    ----------
    .. [1] R. Girshick, Fast R-CNN, ICCV 2015. :arXiv:`1504.08083`

    Examples
    --------
    >>> x = torch.arange(16.0).reshape(1, 1, 4, 4)
    >>> roi_pool(x, [torch.tensor([[16.0, 16, 48, 48]])], 2, spatial_scale=1 / 16)
    tensor([[[[10., 11.],
              [14., 15.]]]])
    """
    _check_input(input)
    P, Q = _pair(output_size)
    scale = _check_scale(spatial_scale)
    rois = _as_rois(boxes, input)
    N, C, H, W = input.shape
    K = rois.shape[0]
    _check_result_size(K, C, P, Q)
    hs, he = _pool_edges(rois[:, 2], rois[:, 4], P, H, scale, input.dtype)  # (K, P)
    ws, we = _pool_edges(rois[:, 1], rois[:, 3], Q, W, scale, input.dtype)  # (K, Q)
    b = rois[:, 0].long()
    rows = input.permute(0, 2, 3, 1).reshape(N * H * W, C)  # (N*H*W, C): channels contiguous
    return _RoIPoolFunction.apply(rows, b, hs, he, ws, we, H, W)  # (K, C, P, Q)


class RoIPool(nn.Module):
    """:func:`roi_pool` as a module; see there for the arguments.

    Examples
    --------
    >>> RoIPool((7, 7), spatial_scale=1 / 16)
    RoIPool(output_size=(7, 7), spatial_scale=0.0625)
    """

    def __init__(self, output_size: int | tuple[int, int], spatial_scale: float = 1.0):
        super().__init__()
        _pair(output_size)
        _check_scale(spatial_scale)
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, input: Tensor, rois: Tensor | list[Tensor]) -> Tensor:
        return roi_pool(input, rois, self.output_size, self.spatial_scale)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(output_size={self.output_size}, "
                f"spatial_scale={self.spatial_scale})")


# ------------------------------------------------------------- teaching helpers


def bilinear_sample(input_2d: Tensor, y: Tensor, x: Tensor) -> Tensor:
    """Bilinear interpolation at points ``(y, x)``, with torchvision's RoIAlign rule.

    Parameters
    ----------
    input_2d : Tensor[H, W] or Tensor[..., H, W]
        The map to sample (leading dimensions, e.g. channels, are kept).
    y, x : Tensor
        Sample coordinates (broadcastable to each other), in pixels: pixel
        ``(i, j)`` sits at ``(y, x) = (i, j)``.

    Returns
    -------
    Tensor[..., *y.shape]
        ``(1 - ly)(1 - lx) f[y0, x0] + (1 - ly) lx f[y0, x1] + ly (1 - lx) f[y1, x0]
        + ly lx f[y1, x1]`` with ``y0 = floor(y)``, ``y1 = y0 + 1``,
        ``ly = y - y0`` (likewise ``x``), and torchvision's border rule: a point
        with ``y < -1``, ``y > H``, ``x < -1`` or ``x > W`` gives 0; otherwise
        ``y`` is clamped to ``[0, H - 1]`` (and ``x`` to ``[0, W - 1]``).
        Differentiable with respect to ``input_2d``, ``y`` and ``x``.

    Examples
    --------
    >>> f = torch.tensor([[0.0, 1.0], [2.0, 3.0]])
    >>> bilinear_sample(f, torch.tensor([0.5, -0.5, 1.7, -1.5]), torch.tensor([0.5, 0.0, 1.0, 0.0]))
    tensor([1.5000, 0.0000, 3.0000, 0.0000])
    """
    if not isinstance(input_2d, Tensor) or input_2d.ndim < 2:
        raise ValueError(f"input_2d must be a Tensor[H, W] (or [..., H, W]), got "
                         f"{getattr(input_2d, 'shape', type(input_2d).__name__)}")
    if not input_2d.is_floating_point():
        raise TypeError(f"input_2d must be floating point, got dtype {input_2d.dtype}")
    H, W = input_2d.shape[-2:]
    if H < 1 or W < 1:
        raise ValueError(f"input_2d must have H >= 1 and W >= 1, got shape {tuple(input_2d.shape)}")
    for name, t in (("y", y), ("x", x)):
        if not isinstance(t, Tensor) or not t.is_floating_point():
            raise TypeError(f"{name} must be a floating point Tensor, got "
                            f"{getattr(t, 'dtype', type(t).__name__)}")
        if t.device != input_2d.device:
            raise ValueError(f"{name} must be on the device of input_2d ({input_2d.device}), got {t.device}")
    try:
        torch.broadcast_shapes(y.shape, x.shape)
    except RuntimeError:
        raise ValueError(f"y and x must have broadcastable shapes, got {tuple(y.shape)} and "
                         f"{tuple(x.shape)}") from None
    if not torch.isfinite(input_2d).all():
        raise ValueError("input_2d must be finite, got NaN or infinite values")
    y, x = torch.broadcast_tensors(y, x)
    ok_y = (y >= -1) & (y <= H)
    ok_x = (x >= -1) & (x <= W)
    y0, y1, hy, ly = _bilinear_taps(torch.where(ok_y, y, torch.zeros_like(y)), H)
    x0, x1, hx, lx = _bilinear_taps(torch.where(ok_x, x, torch.zeros_like(x)), W)
    f = input_2d
    # torchvision's order of operations
    val = (hy * hx) * f[..., y0, x0] + (hy * lx) * f[..., y0, x1]
    val = val + (ly * hx) * f[..., y1, x0]
    val = val + (ly * lx) * f[..., y1, x1]
    return torch.where(ok_y & ok_x, val, torch.zeros_like(val))


def _one_box(box, name: str = "box") -> Tensor:
    if isinstance(box, Tensor):
        t = box.detach()
        if not t.is_floating_point():
            t = t.to(torch.get_default_dtype())
    elif isinstance(box, Sequence) and not isinstance(box, str):
        t = torch.tensor([float(v) for v in box], dtype=torch.get_default_dtype())
    else:
        raise TypeError(f"{name} must be a Tensor[4] or 4 numbers (x1, y1, x2, y2), got {type(box).__name__}")
    if t.shape != (4,):
        raise ValueError(f"{name} must have 4 coordinates (x1, y1, x2, y2), got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must have finite coordinates, got {t.tolist()}")
    if t[2] < t[0] or t[3] < t[1]:
        raise ValueError(f"{name} must satisfy x1 <= x2 and y1 <= y2, got {t.tolist()}")
    return t


def roi_align_sampling_points(box, output_size: int | tuple[int, int], spatial_scale: float = 1.0,
                              sampling_ratio: int = -1, aligned: bool = False) -> Tensor:
    """The ``(y, x)`` points where RoIAlign samples one box, for drawing and checking.

    Parameters
    ----------
    box : Tensor[4] or sequence of 4 floats
        ``(x1, y1, x2, y2)`` in image coordinates. A tensor's dtype is kept
        (use the dtype of the feature map to reproduce :func:`roi_align` exactly).
    output_size, spatial_scale, sampling_ratio, aligned
        As in :func:`roi_align`.

    Returns
    -------
    Tensor[ph, pw, gh, gw, 2]
        ``points[p, q, i, j] = (y, x)`` of sample ``(i, j)`` in bin ``(p, q)``,
        in feature-map pixels, before any clamping (points outside
        ``[-1, H] x [-1, W]`` contribute 0). ``roi_align`` of the box is
        ``bilinear_sample(f, y, x).mean((-2, -1))`` over these points (a bin
        with no samples, ``gh * gw = 0``, gives 0).

    Examples
    --------
    >>> pts = roi_align_sampling_points([16.0, 16, 48, 48], 2, spatial_scale=1 / 16)
    >>> pts.shape, pts[0, 0, 0, 0].tolist(), pts[1, 1, 0, 0].tolist()
    (torch.Size([2, 2, 1, 1, 2]), [1.5, 1.5], [2.5, 2.5])
    """
    P, Q = _pair(output_size)
    scale = _check_scale(spatial_scale)
    sampling_ratio = _check_sampling_ratio(sampling_ratio)
    aligned = _check_aligned(aligned)
    t = _one_box(box)
    rois = torch.cat([t.new_zeros(1), t])[None]  # (1, 5)
    x1, y1, w, h = _box_frame(rois, scale, aligned, t.dtype)
    grid_h, grid_w = _grid(h, P, sampling_ratio), _grid(w, Q, sampling_ratio)
    gh, gw = int(grid_h.clamp(min=0)), int(grid_w.clamp(min=0))
    if P * Q * gh * gw > _MAX_ELEMENTS // 64:
        raise ValueError(f"output_size ({P}, {Q}) and sampling_ratio={sampling_ratio} give "
                         f"{P * Q * gh * gw} sample points, expected at most {_MAX_ELEMENTS // 64}")
    ys, _ = _sample_positions(y1, h, P, grid_h)  # (1, P, gh)
    xs, _ = _sample_positions(x1, w, Q, grid_w)  # (1, Q, gw)
    yy = ys[0][:, None, :, None].expand(P, Q, gh, gw)
    xx = xs[0][None, :, None, :].expand(P, Q, gh, gw)
    return torch.stack([yy, xx], dim=-1)


def roi_pool_bins(box, output_size: int | tuple[int, int], spatial_scale: float = 1.0, *,
                  feature_size: tuple[int, int] | None = None) -> Tensor:
    """The integer bins RoIPool max-pools for one box, for drawing and checking.

    Parameters
    ----------
    box : Tensor[4] or sequence of 4 floats
        ``(x1, y1, x2, y2)`` in image coordinates.
    output_size, spatial_scale
        As in :func:`roi_pool`.
    feature_size : (H, W), optional
        Clip the bins to the map as :func:`roi_pool` does (a bin may become
        empty: ``end <= start``). Default: not clipped.

    Returns
    -------
    Tensor[ph, pw, 4] (int64)
        ``(x_start, y_start, x_end, y_end)`` of each bin in feature-map pixels,
        ends exclusive: bin ``(p, q)`` is ``f[y_start:y_end, x_start:x_end]``.
        Neighbouring bins may share a row or column.

    Examples
    --------
    >>> roi_pool_bins([16.0, 16, 48, 48], 2, spatial_scale=1 / 16)[:, :, [1, 3]].tolist()
    [[[1, 3], [1, 3]], [[2, 4], [2, 4]]]
    """
    P, Q = _pair(output_size)
    scale = _check_scale(spatial_scale)
    t = _one_box(box)
    H = W = None
    if feature_size is not None:
        H, W = _pair(feature_size, "feature_size")
    _check_result_size(1, 1, P, Q)
    ys, ye = _pool_edges(t[1:2], t[3:4], P, H, scale, t.dtype)  # (1, P)
    xs, xe = _pool_edges(t[0:1], t[2:3], Q, W, scale, t.dtype)  # (1, Q)
    return torch.stack([xs[0][None, :].expand(P, Q), ys[0][:, None].expand(P, Q),
                        xe[0][None, :].expand(P, Q), ye[0][:, None].expand(P, Q)], dim=-1)
