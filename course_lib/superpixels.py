"""Superpixels: SLIC in torch (CPU and CUDA), a Felzenszwalb wrapper, pooling and metrics.

A superpixel segmentation groups pixels into a few hundred compact regions that
follow image edges. Labelling 800 regions instead of 10^5-10^6 pixels makes a
CRF small and fast, at the price of the errors of the regions themselves (a
region that straddles an object boundary can only be labelled one way). The
metrics at the end of this module (:func:`boundary_recall`,
:func:`undersegmentation_error`) measure exactly that price.

Conventions: ``image`` is ``(H, W, 3)`` RGB, uint8 in [0, 255] or float in
[0, 1], numpy or torch; ``segments`` is an int64 ``(H, W)`` map of region ids
``start_label .. start_label + K - 1``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._boundary import label_boundaries
from ._checks import (
    as_tensor,
    check_bool,
    check_choice,
    check_finite,
    check_ignore_index,
    check_int,
    check_iterations,
    check_positive,
    check_real,
    float_tensor,
    label_tensor,
    rgb_image,
    valid_mask,
)

__all__ = [
    "rgb_to_lab",
    "slic",
    "felzenszwalb",
    "pool",
    "paint",
    "relabel_sequential",
    "find_boundaries",
    "boundary_recall",
    "undersegmentation_error",
]

#: Widest pre-smoothing of :func:`felzenszwalb` (scipy's kernel has 8 sigma + 1 taps).
_MAX_SIGMA = 1e5

# sRGB (D65) -> XYZ, the matrix of skimage.color.rgb2lab
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_D65 = (0.95047, 1.0, 1.08883)


def _check_segments(segments, name: str = "segments") -> Tensor:
    t = label_tensor(segments, name, ndim=2, layout="(H, W)")
    if t.numel() and int(t.min()) < 0:
        raise ValueError(f"{name} must be non-negative, got minimum {int(t.min())}")
    return t.long()


def _check_pair(segments, gt_label) -> tuple[Tensor, Tensor]:
    seg = _check_segments(segments)
    gt = _check_segments(gt_label, "gt_label").to(seg.device)
    if gt.shape != seg.shape:
        raise ValueError(f"segments {tuple(seg.shape)} and gt_label {tuple(gt.shape)} must match")
    return seg, gt


def rgb_to_lab(image: Tensor) -> torch.Tensor:
    """Convert sRGB to CIELAB (D65, 2 degree observer), as ``skimage.color.rgb2lab``.

    Parameters
    ----------
    image : Tensor[H, W, 3] or ndarray
        uint8 in [0, 255] or float in [0, 1].

    Returns
    -------
    lab : Tensor[H, W, 3]
        float, ``L`` in [0, 100], ``a`` and ``b`` roughly in [-128, 127], on the
        device of ``image``.
    """
    rgb = rgb_image(image)
    # undo the sRGB gamma: linear light
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    m = torch.tensor(_XYZ_FROM_RGB, dtype=rgb.dtype, device=rgb.device)
    xyz = lin @ m.T / torch.tensor(_D65, dtype=rgb.dtype, device=rgb.device)  # (H, W, 3)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(0) ** (1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f.unbind(-1)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-1)


def _grid_slices(height: int, width: int, n_segments: int):
    """Start and step of the seed grid along y and x, like ``skimage.util.regular_grid``."""
    size = float(height * width)
    if size <= n_segments:
        return (0, 1), (0, 1)
    dims = sorted([(height, 0), (width, 1)])
    steps = [math.sqrt(size / n_segments)] * 2
    if dims[0][0] < steps[0]:
        # the short side is shorter than a cell: one row of seeds along it
        steps = [float(dims[0][0]), float(dims[1][0]) / n_segments]
    out = [None, None]
    for (_, axis), s in zip(dims, steps):
        out[axis] = (int(s // 2), max(int(round(s)), 1))
    return out[0], out[1]


def slic(
    image: Tensor,
    n_segments: int = 100,
    compactness: float = 10.0,
    max_num_iter: int = 10,
    *,
    enforce_connectivity: bool = True,
    min_size_factor: float = 0.5,
    start_label: int = 0,
    convert2lab: bool = True,
) -> torch.Tensor:
    """Simple linear iterative clustering (SLIC) superpixels, vectorised in torch.

    k-means in the 5-D space (L, a, b, y, x) with the distance of Achanta et al.

    .. math:: D^2 = \\frac{d_{lab}^2}{m^2} + \\frac{d_{xy}^2}{S^2},

    where ``m = compactness`` and ``S`` the seed spacing. Seeds start on the
    regular grid of ``skimage.segmentation.slic`` (``skimage.util.regular_grid``)
    and, as there, the first assignment is purely spatial. Each pixel is only
    compared with the seeds of the 3 x 3 grid cells around its own cell (the
    local-window trick that makes SLIC linear in the number of pixels; skimage
    scans a 4S x 4S window around each centre instead, so results are close but
    not identical). A pixel's 9 candidate distances are one batched matrix
    product per iteration, and the new centres one ``index_add_``.

    Parameters
    ----------
    image : Tensor[H, W, 3] or ndarray
        RGB, uint8 or float. Computation happens on ``image.device`` (numpy: CPU).
        As in skimage the image is first rescaled to [0, 1] by its min and max.
    n_segments : int
        Approximate number of superpixels (seeds on the grid), >= 1.
    compactness : float
        ``m`` above, > 0: larger gives more square regions.
    max_num_iter : int
        k-means iterations (stops earlier when no pixel changes), >= 1.
    enforce_connectivity : bool
        Merge connected fragments smaller than ``min_size_factor * H * W / K``
        into an adjacent region, so that every label is one 4-connected region.
        Component labelling runs on the CPU (``skimage.measure.label``); the
        result is moved back to ``image.device``.
    min_size_factor : float
        See ``enforce_connectivity``.
    start_label : int
        0 or 1, the first label (skimage's default is 1, ours 0).
    convert2lab : bool
        Cluster in CIELAB (recommended) or in the rescaled RGB values times 100.

    Returns
    -------
    segments : Tensor[H, W] (int64)
        Labels ``start_label .. start_label + K - 1``, on ``image.device``.

    Raises
    ------
    ValueError
        If ``image`` is not (H, W, 3), ``n_segments < 1``, ``compactness <= 0``,
        ``max_num_iter < 1`` or ``start_label`` not in {0, 1}.

    References
    ----------
    .. [1] R. Achanta, A. Shaji, K. Smith, A. Lucchi, P. Fua, S. Suesstrunk, SLIC
       Superpixels Compared to State-of-the-art Superpixel Methods, TPAMI 34(11),
       2012. :DOI:`10.1109/TPAMI.2012.120`

    Examples
    --------
    >>> import skimage.data
    >>> seg = slic(skimage.data.astronaut(), n_segments=800)
    >>> seg.shape, seg.dtype
    (torch.Size([512, 512]), torch.int64)
    """
    img = rgb_image(image)
    n_segments = check_int(n_segments, "n_segments", low=1)
    compactness = check_positive(compactness, "compactness")
    max_num_iter = check_iterations(max_num_iter, "max_num_iter", low=1)
    start_label = check_choice(check_int(start_label, "start_label"), "start_label", (0, 1))
    enforce_connectivity = check_bool(enforce_connectivity, "enforce_connectivity")
    min_size_factor = check_real(min_size_factor, "min_size_factor", low=0)
    convert2lab = check_bool(convert2lab, "convert2lab")
    dev = img.device
    H, W, _ = img.shape
    img = img.float()
    lo, hi = img.min(), img.max()
    img = (img - lo) / (hi - lo) if hi > lo else img - lo
    color = rgb_to_lab(img) if convert2lab else img * 100.0  # (H, W, 3)

    (y0, sy), (x0, sx) = _grid_slices(H, W, int(n_segments))
    ny, nx = len(range(y0, H, sy)), len(range(x0, W, sx))
    K = ny * nx
    S = float(max(sy, sx))

    # Pixels in uniform sy x sx blocks aligned with the seed grid: block (i, j) holds the
    # pixels nearest to seed (i + shift, j + shift) on the initial grid. Blocks beyond
    # the grid (image borders) use the nearest grid row/column as their home.
    oy, ox = y0 - sy // 2, x0 - sx // 2  # top-left corner of the home block of seed (0, 0)
    shy, shx = (1 if oy > 0 else 0), (1 if ox > 0 else 0)  # one extra block row/col on top/left
    top, left = shy * sy - oy, shx * sx - ox  # padding before the image (>= 0)
    nby, nbx = -(-(H + top) // sy), -(-(W + left) // sx)
    Kb, P = nby * nbx, sy * sx
    # features: y/S, x/S, L/m, a/m, b/m, then a constant 1 (0 on padding) for the bias trick
    yy = torch.arange(H, device=dev, dtype=torch.float32)[:, None].expand(H, W)
    xx = torch.arange(W, device=dev, dtype=torch.float32)[None, :].expand(H, W)
    feat = torch.cat([torch.stack([yy / S, xx / S], 0), color.permute(2, 0, 1) / compactness,
                      torch.ones(1, H, W, device=dev)], 0)  # (6, H, W)
    feat = F.pad(feat, (left, nbx * sx - W - left, top, nby * sy - H - top))  # (6, nby*sy, nbx*sx)
    blocks_t = feat.reshape(6, nby, sy, nbx, sx).permute(1, 3, 0, 2, 4).reshape(Kb, 6, P)
    # padding slots are all zero, count included, so they add nothing to any centre
    blocks_flat = blocks_t.transpose(1, 2).reshape(Kb * P, 6)

    # candidate seeds of each block: the 3 x 3 grid cells around its home seed (-1 = none)
    hi = (torch.arange(nby, device=dev) - shy).clamp(0, ny - 1)[:, None, None]
    hj = (torch.arange(nbx, device=dev) - shx).clamp(0, nx - 1)[None, :, None]
    d = torch.tensor([-1, 0, 1], device=dev)
    ci = hi + d.repeat_interleave(3)[None, None, :]  # (nby, 1, 9)
    cj = hj + d.repeat(3)[None, None, :]  # (1, nbx, 9)
    inside = (ci >= 0) & (ci < ny) & (cj >= 0) & (cj < nx)
    cand = torch.where(inside, ci * nx + cj, torch.full_like(ci * cj, -1)).reshape(Kb, 9)
    cand_ok = cand >= 0
    cand_c = cand.clamp_min(0)

    # seeds: grid positions, colour 0 (so the first assignment is spatial, as in skimage)
    sy_pos = torch.arange(y0, H, sy, device=dev, dtype=torch.float32)
    sx_pos = torch.arange(x0, W, sx, device=dev, dtype=torch.float32)
    centres = torch.zeros(K, 5, device=dev)
    centres[:, 0] = sy_pos.repeat_interleave(nx) / S
    centres[:, 1] = sx_pos.repeat(ny) / S

    assign = None
    for _ in range(max_num_iter):
        # argmin_k |f - c_k|^2 = argmin_k (-2 f.c_k + |c_k|^2): one batched matmul
        c = centres[cand_c]  # (Kb, 9, 5)
        c_aug = torch.cat([-2.0 * c, (c * c).sum(-1, keepdim=True)], -1)  # (Kb, 9, 6)
        c_aug[..., 5].masked_fill_(~cand_ok, 1e30)  # finite: 0 * 1e30 = 0 on padding slots
        dist = torch.bmm(c_aug, blocks_t)  # (Kb, 9, P)
        new = torch.gather(cand_c, 1, dist.min(1).indices).reshape(-1)  # (Kb*P,) seed ids
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        sums = centres.new_zeros(K, 6).index_add_(0, assign, blocks_flat)  # (K, 6), last = count
        n = sums[:, 5:6]
        centres = torch.where(n > 0, sums[:, :5] / n.clamp_min(1), centres)

    seg = assign.reshape(nby, nbx, sy, sx).permute(0, 2, 1, 3).reshape(nby * sy, nbx * sx)
    seg = seg[top: top + H, left: left + W]
    if enforce_connectivity:
        # (no fragment exceeds the image: a larger bound means the same and must fit int64)
        min_size = min(int(min_size_factor * H * W / K), H * W + 1)
        seg = _enforce_connectivity(seg, min_size)
    else:
        seg = relabel_sequential(seg)
    return seg + start_label


def _enforce_connectivity(seg: torch.Tensor, min_size: int) -> torch.Tensor:
    """Split labels into 4-connected components, merge the small ones into a neighbour."""
    from skimage.measure import label as cc_label

    dev = seg.device
    comp = torch.from_numpy(
        cc_label(seg.cpu().numpy(), connectivity=1, background=-1).astype(np.int64)
    ) - 1  # (H, W), 0-based component ids
    n = int(comp.max()) + 1
    H, W = comp.shape
    # adjacent component pairs (both directions)
    a = torch.cat([comp[:, :-1].reshape(-1), comp[:-1, :].reshape(-1)])
    b = torch.cat([comp[:, 1:].reshape(-1), comp[1:, :].reshape(-1)])
    diff = a != b
    a, b = torch.cat([a[diff], b[diff]]), torch.cat([b[diff], a[diff]])
    for _ in range(100):
        size = torch.bincount(comp.reshape(-1), minlength=n)
        small = (size > 0) & (size < min_size)
        if not small.any() or a.numel() == 0:
            break
        # each small component joins its neighbour with the largest key (size, id) if
        # that key beats its own: keys strictly increase along a chain, so no cycles
        key = size * (n + 1) + torch.arange(n)
        sel = small[a]
        best = torch.full((n,), -1, dtype=torch.long)
        best.scatter_reduce_(0, a[sel], key[b[sel]], reduce="amax")
        parent = torch.arange(n)
        has = best > key
        parent[has] = best[has] % (n + 1)
        for _ in range(64):  # pointer jumping to the root of each chain
            nxt = parent[parent]
            if torch.equal(nxt, parent):
                break
            parent = nxt
        comp = parent[comp]
        a, b = parent[a], parent[b]
        keep = a != b
        a, b = a[keep], b[keep]
    return relabel_sequential(comp).to(dev)


def relabel_sequential(segments: Tensor) -> torch.Tensor:
    """Renumber the labels of ``segments`` to ``0 .. K-1`` in raster order of first appearance.

    Parameters
    ----------
    segments : Tensor[H, W] or ndarray, integer

    Returns
    -------
    Tensor[H, W] (int64), same device.
    """
    seg = _check_segments(segments)
    flat = seg.reshape(-1)
    uniq, inv = torch.unique(flat, return_inverse=True)
    first = torch.full((uniq.numel(),), flat.numel(), dtype=torch.long, device=seg.device)
    first.scatter_reduce_(0, inv, torch.arange(flat.numel(), device=seg.device), reduce="amin")
    rank = torch.empty_like(first)
    rank[torch.argsort(first)] = torch.arange(uniq.numel(), device=seg.device)
    return rank[inv].reshape(seg.shape)


def felzenszwalb(image: Tensor, scale: float = 100.0, sigma: float = 0.8, min_size: int = 20) -> torch.Tensor:
    """Felzenszwalb-Huttenlocher graph-based segmentation (wraps ``skimage``).

    Parameters
    ----------
    image : Tensor[H, W, 3] or ndarray
        RGB, uint8 or float in [0, 1]. Runs on the CPU; the labels come back on
        ``image.device``.
    scale : float
        Larger means larger regions (the ``k`` of the paper).
    sigma : float
        Gaussian pre-smoothing, in ``[0, 1e5]`` (a wider Gaussian would need millions of taps).
    min_size : int
        Minimum region size, enforced after the merge.

    Returns
    -------
    segments : Tensor[H, W] (int64), labels 0 .. K-1.

    References
    ----------
    .. [1] P. F. Felzenszwalb, D. P. Huttenlocher, Efficient Graph-Based Image
       Segmentation, IJCV 59(2), 2004. :DOI:`10.1023/B:VISI.0000022288.19776.77`
    """
    from skimage.segmentation import felzenszwalb as _fz

    img = rgb_image(image)
    scale = check_positive(scale, "scale")
    sigma = check_real(sigma, "sigma", low=0, high=_MAX_SIGMA)
    min_size = check_int(min_size, "min_size", low=0)
    seg = _fz(img.detach().cpu().double().numpy(), scale=scale, sigma=sigma, min_size=min_size)
    return torch.from_numpy(seg.astype(np.int64)).to(img.device)


def pool(values: Tensor, segments: Tensor, *, reduce: str = "mean") -> torch.Tensor:
    """Average per-pixel values (features, probabilities) inside each superpixel.

    Parameters
    ----------
    values : Tensor[C, H, W]
        Per-pixel values, e.g. class probabilities or features.
    segments : Tensor[H, W] (integer)
        Region ids ``0 .. K-1`` (as returned by :func:`slic` with ``start_label=0``).
    reduce : {"mean", "sum"}

    Returns
    -------
    pooled : Tensor[C, K]
        ``pooled[:, k]`` is the mean (sum) of ``values`` over region ``k``; an
        empty id gets 0. Computed with ``index_add_`` on ``values.device``.
    """
    v = as_tensor(values, "values")
    seg = _check_segments(segments)
    if v.ndim != 3:
        raise ValueError(f"values must have shape (C, H, W), got shape {tuple(v.shape)}")
    if v.shape[1:] != seg.shape:
        raise ValueError(
            f"values (C, H, W) = {tuple(v.shape)} and segments {tuple(seg.shape)} must share (H, W)"
        )
    reduce = check_choice(reduce, "reduce", ("mean", "sum"))
    if v.dtype == torch.bool or not (v.is_floating_point() or v.is_complex()):
        v = v.float()
    v = float_tensor(v, "values")
    seg = seg.to(v.device).reshape(-1)
    C = v.shape[0]
    K = int(seg.max()) + 1 if seg.numel() else 0
    out = v.new_zeros(K, C).index_add_(0, seg, v.reshape(C, -1).T)  # (K, C)
    if reduce == "mean":
        n = torch.bincount(seg, minlength=K).to(v.dtype).clamp_min(1)
        out = out / n[:, None]
    return out.T.contiguous()


def paint(values: Tensor, segments: Tensor) -> torch.Tensor:
    """Paint one value per superpixel back onto the pixels: the inverse of :func:`pool`.

    Parameters
    ----------
    values : Tensor[K] or Tensor[C, K]
        One value (or a C-vector) per region.
    segments : Tensor[H, W] (integer)
        Region ids ``0 .. K-1``.

    Returns
    -------
    Tensor[H, W] or Tensor[C, H, W]
        ``out[..., y, x] = values[..., segments[y, x]]``.
    """
    v = check_finite(as_tensor(values, "values"), "values")
    seg = _check_segments(segments)
    if v.ndim not in (1, 2):
        raise ValueError(f"values must have shape (K,) or (C, K), got shape {tuple(v.shape)}")
    K = v.shape[-1]
    if seg.numel() and int(seg.max()) >= K:
        raise ValueError(f"segments has label {int(seg.max())} but values has only K={K} entries")
    seg = seg.to(v.device)
    return v[..., seg]


def find_boundaries(label: Tensor, *, connectivity: int = 4, ignore_index: int | None = 255) -> Tensor:
    """Pixels with a neighbour of another label (both sides are marked).

    Parameters
    ----------
    label : Tensor[H, W] (integer)
    connectivity : {4, 8}
        Neighbours compared: the 4 sharing a side (default) or all 8.
    ignore_index : int or None
        Pairs involving this label are not boundaries (a labelled pixel next to void is not
        on a boundary).

    Returns
    -------
    Tensor[H, W] (bool)
    """
    lab = _check_segments(label, "label")
    connectivity = check_choice(check_int(connectivity, "connectivity"), "connectivity", (4, 8))
    ignore_index = check_ignore_index(ignore_index)
    return label_boundaries(lab, connectivity=connectivity, ignore_index=ignore_index,
                            void="skip")


def boundary_recall(segments: Tensor, gt_label: Tensor, tolerance: int = 2, *,
                    ignore_index: int | None = 255) -> float:
    """Fraction of ground-truth boundary pixels with a superpixel boundary nearby.

    A ground-truth boundary pixel counts as recalled when a superpixel boundary
    pixel lies within Chebyshev distance ``tolerance`` (a (2t+1) x (2t+1) window),
    as in Neubert & Protzel (2012) and Achanta et al. (2012).

    Parameters
    ----------
    segments : Tensor[H, W] (integer)
    gt_label : Tensor[H, W] (integer), ``ignore_index`` = void
    tolerance : int, >= 0
    ignore_index : int or None
        Void label of ``gt_label`` (None: every label counts).

    Returns
    -------
    float in [0, 1] (1.0 when the ground truth has no boundary).
    """
    seg, gt = _check_pair(segments, gt_label)
    tolerance = check_int(tolerance, "tolerance", low=0)
    gb = find_boundaries(gt, ignore_index=ignore_index)
    n = int(gb.sum())
    if n == 0:
        return 1.0
    sb = find_boundaries(seg, ignore_index=None).float()[None, None]
    near = F.max_pool2d(sb, 2 * tolerance + 1, stride=1, padding=tolerance)[0, 0] > 0
    return float((gb & near).sum()) / n


def undersegmentation_error(segments: Tensor, gt_label: Tensor, *, ignore_index: int | None = 255) -> float:
    """Undersegmentation error of Neubert & Protzel (2012).

    .. math:: UE = \\frac{1}{N} \\sum_{G} \\sum_{S \\cap G \\neq \\emptyset}
              \\min(|S \\cap G|, |S \\setminus G|)

    Every superpixel ``S`` that leaks out of a ground-truth region ``G`` is charged
    the smaller of its inside and outside parts. 0 is perfect. Void pixels are
    left out.

    Parameters
    ----------
    segments : Tensor[H, W] (integer)
    gt_label : Tensor[H, W] (integer), ``ignore_index`` = void
    ignore_index : int or None
        Void label of ``gt_label`` (None: every pixel counts).

    Returns
    -------
    float >= 0
    """
    seg, gt = _check_pair(segments, gt_label)
    keep = valid_mask(gt, check_ignore_index(ignore_index))
    s, g = (seg.reshape(-1), gt.reshape(-1)) if keep is None else (seg[keep], gt[keep])
    if s.numel() == 0:
        return 0.0
    _, s = torch.unique(s, return_inverse=True)
    _, g = torch.unique(g, return_inverse=True)
    ng = int(g.max()) + 1
    # the non-empty cells |S n G| of the overlap table (a dense table could need ns * ng cells)
    pair, overlap = torch.unique(s * ng + g, return_counts=True)
    size = torch.bincount(s)  # |S|
    err = torch.minimum(overlap, size[pair // ng] - overlap).sum()
    return float(err) / s.numel()
