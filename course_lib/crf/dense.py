"""The fully connected (dense) CRF of Krähenbühl & Koltun (2011), mean field in torch.

Energy over labels ``x`` of all ``N`` pixels:

    E(x) = sum_i U_i(x_i) + sum_{i<j} mu(x_i, x_j) k(f_i, f_j)

with the unary ``U`` (negative log-probability), the Potts compatibility
``mu(a, b) = [a != b]`` and a kernel that is a sum of Gaussians:

* smoothness (``addPairwiseGaussian(sxy, compat)`` in pydensecrf):
  ``compat_gaussian * exp(-|p_i - p_j|^2 / (2 sxy_gaussian^2))``;
* appearance (``addPairwiseBilateral(sxy, srgb, rgbim, compat)``):
  ``compat_bilateral * exp(-|p_i - p_j|^2 / (2 sxy_bilateral^2) - |I_i - I_j|^2 / (2 srgb^2))``.

Mean field keeps a factorised distribution ``Q_i(l)`` and repeats

    Q_i(l) <- softmax_l( -U_i(l) + sum_k w_k [K~_k Q]_i(l) )

where ``K~ = D^-1/2 K D^-1/2`` is the kernel matrix normalised symmetrically
(``D = diag(K 1)``) exactly as pydensecrf does by default
(``NORMALIZE_SYMMETRIC``), and the sum over ``j`` includes ``j = i`` (so does
the lattice). With Potts, ``-w sum_{l' != l} [KQ](l')`` equals
``w [KQ](l)`` up to a per-pixel constant, which the softmax removes.

The filtering ``K Q`` is done by the permutohedral lattice (``method="lattice"``,
``O(N)``) or by brute force (``method="exact"``, ``O(N^2)``, small images only).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import torch
from torch import Tensor

from .permutohedral import Permutohedral, gaussian_filter_exact
from .unary import unary_from_probabilities

__all__ = ["DenseCRF", "dense_crf", "dense_crf_features", "unary_from_probabilities",
           "kl_divergence"]

_METHODS = ("lattice", "exact")
_EXACT_MAX_PIXELS = 20_000


def _as_image(image, H: int, W: int, device) -> Tensor:
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(np.ascontiguousarray(image))
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a numpy array or torch.Tensor, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be an RGB image of shape (H, W, 3), got {tuple(image.shape)}")
    if tuple(image.shape[:2]) != (H, W):
        raise ValueError(f"image size {tuple(image.shape[:2])} does not match the unary's "
                         f"(H, W) = {(H, W)}")
    if image.dtype != torch.uint8:
        raise TypeError(f"image must have dtype uint8 (0..255, as pydensecrf), got {image.dtype}")
    return image.to(device)


def dense_crf_features(H: int, W: int, *, sxy: float | tuple[float, float],
                       image: Tensor | None = None, srgb: float | None = None,
                       device=None, dtype: torch.dtype = torch.float32) -> Tensor:
    """Scaled features of pydensecrf's kernels: ``(x/sx, y/sy)`` or ``(x/sx, y/sy, r/s, g/s, b/s)``.

    Parameters
    ----------
    H, W : int
        Image size.
    sxy : float or (float, float)
        Spatial standard deviation in pixels (``(sx, sy)`` as pydensecrf).
    image (Tensor[H, W, 3] uint8), optional
        Colours for the bilateral kernel; then ``srgb`` is required.
    srgb : float or (float, float, float), optional
        Colour standard deviation (0..255 scale).

    device, dtype
        Where and in which precision (float32 as pydensecrf) to build them.

    Returns
    -------
    Tensor[H*W, 2] or Tensor[H*W, 5]
        Pixels in row-major order (index ``y * W + x``).
    """
    sx, sy = _pair(sxy, "sxy", 2)
    dev = image.device if image is not None else (device or "cpu")
    ys, xs = torch.meshgrid(torch.arange(H, device=dev, dtype=dtype),
                            torch.arange(W, device=dev, dtype=dtype), indexing="ij")
    feats = [xs.reshape(-1) / sx, ys.reshape(-1) / sy]
    if image is not None:
        srgb3 = torch.tensor(_pair(srgb, "srgb", 3), device=dev, dtype=dtype)
        rgb = image.reshape(-1, 3).to(dtype) / srgb3
        feats += [rgb[:, 0], rgb[:, 1], rgb[:, 2]]
    return torch.stack(feats, 1)


def _pair(value, name: str, n: int) -> tuple[float, ...]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (float(value),) * n
    try:
        value = tuple(float(v) for v in value)
    except TypeError:
        raise TypeError(f"{name} must be a number or a tuple of {n} numbers, got {value!r}") from None
    if len(value) != n or not all(v > 0 and np.isfinite(v) for v in value):
        raise ValueError(f"{name} must be a positive number or {n} positive numbers, got {value!r}")
    return value


class _Kernel:
    """One Gaussian kernel with pydensecrf's symmetric normalisation, filtering (N, C)."""

    def __init__(self, features: Tensor, weight: float, method: str, dtype: torch.dtype):
        self.weight = weight
        self.method = method
        if method == "lattice":
            self.lattice = Permutohedral(features)
        else:
            self.features = features.to(dtype)
        ones = features.new_ones(features.shape[0], 1, dtype=dtype)
        self.norm = 1.0 / torch.sqrt(self._raw(ones) + 1e-20)            # (N, 1)

    def _raw(self, values: Tensor) -> Tensor:
        if self.method == "lattice":
            return self.lattice.filter(values)
        return gaussian_filter_exact(self.features, values)

    def __call__(self, values: Tensor) -> Tensor:
        return self.norm * self._raw(self.norm * values)


class _Fused:
    """All lattice kernels as one operator: ``sum_k w_k n_k * Slice_k Blur_k Splat_k (n_k * Q)``.

    The normalisations and weights are folded into the sparse splat/slice matrices, and the
    lattices are stacked so that one splat, one blur pass and one slice serve every kernel.
    """

    def __init__(self, splat: Tensor, slice_: Tensor, neighbours: list[tuple[Tensor, Tensor]]):
        self.splat, self.slice, self.neighbours = splat, slice_, neighbours

    def __call__(self, Q: Tensor) -> Tensor:
        dtype = Q.dtype
        lat = self.splat @ Q.to(torch.float32).contiguous()             # (sum M_k + K, C)
        for n1, n2 in self.neighbours:
            blurred = lat.index_select(0, n1)
            blurred += lat.index_select(0, n2)
            blurred *= 0.5
            blurred += lat
            lat = blurred
        return (self.slice @ lat).to(dtype)                              # (N, C)


def _fuse(kernels: list[_Kernel]) -> _Fused:
    lats = [k.lattice for k in kernels]
    N = lats[0].num_points
    crows, cols, vals, s_cols, s_vals = [], [], [], [], []
    row_base, nnz_base = 0, 0
    for k, lat in zip(kernels, lats):
        norm = k.norm.reshape(-1).to(torch.float32)                     # (N,)
        sp = lat._splat
        crows.append(sp.crow_indices()[(1 if crows else 0):] + nnz_base)
        cols.append(sp.col_indices())
        vals.append(sp.values() * norm[sp.col_indices()])
        sl = lat._slice
        s_cols.append(sl.col_indices().reshape(N, -1) + row_base)
        s_vals.append(sl.values().reshape(N, -1) * (k.weight * norm)[:, None])
        row_base += lat.num_vertices + 1
        nnz_base += sp.values().numel()
    total = row_base
    s_cols, s_vals = torch.cat(s_cols, 1), torch.cat(s_vals, 1)         # (N, sum (d_k + 1))
    per_row = s_cols.shape[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                                  # "CSR support is in beta"
        splat = torch.sparse_csr_tensor(torch.cat(crows), torch.cat(cols), torch.cat(vals),
                                        (total, N))
        step = torch.arange(0, N * per_row + 1, per_row, device=s_cols.device)
        slice_ = torch.sparse_csr_tensor(step, s_cols.reshape(-1), s_vals.reshape(-1), (N, total))
    # Blur direction j of every lattice; a lattice with fewer directions maps each vertex to its
    # zero row (the blur is then the identity there).
    neighbours = []
    for j in range(max(lat.dim for lat in lats) + 1):
        n1s, n2s, base = [], [], 0
        for lat in lats:
            M = lat.num_vertices
            if j <= lat.dim:
                n1, n2 = lat._neighbours[j]
            else:
                n1 = n2 = torch.full((M + 1,), M, device=s_cols.device, dtype=torch.int64)
            n1s.append(n1 + base)
            n2s.append(n2 + base)
            base += M + 1
        neighbours.append((torch.cat(n1s), torch.cat(n2s)))
    return _Fused(splat, slice_, neighbours)


class DenseCRF:
    """A fully connected CRF for one image; kernels are built once, inference runs many times.

    Parameters
    ----------
    unary (Tensor[C, H, W])
        Unary energies ``-log p`` (pydensecrf's ``setUnaryEnergy`` takes the same
        numbers as ``(C, H*W)`` float32).
    image (Tensor[H, W, 3] or ndarray, uint8)
        The RGB image for the appearance (bilateral) kernel.
    sxy_gaussian, compat_gaussian : float
        Smoothness kernel: ``addPairwiseGaussian(sxy, compat)``. ``compat=0`` drops it.
    sxy_bilateral, srgb, compat_bilateral : float
        Appearance kernel: ``addPairwiseBilateral(sxy, srgb, rgbim, compat)``.
        ``compat=0`` drops it.
    method : {"lattice", "exact"}
        Permutohedral lattice (fast, approximate) or brute-force O(N^2)
        filtering (at most 20 000 pixels).
    dtype : torch.dtype
        float32 (default) or float64 (useful with ``method="exact"``).
    """

    def __init__(self, unary: Tensor, image, *, sxy_gaussian=3.0, compat_gaussian: float = 3.0,
                 sxy_bilateral=80.0, srgb=13.0, compat_bilateral: float = 10.0,
                 method: str = "lattice", dtype: torch.dtype = torch.float32):
        if not isinstance(unary, Tensor):
            raise TypeError(f"unary must be a torch.Tensor, got {type(unary).__name__}")
        if unary.ndim != 3 or min(unary.shape) < 1:
            raise ValueError(f"unary must have shape (C, H, W), got {tuple(unary.shape)}")
        if not unary.is_floating_point():
            raise TypeError(f"unary must be floating point, got dtype {unary.dtype}")
        if not bool(torch.isfinite(unary).all()):
            raise ValueError("unary must be finite (use -log(max(p, eps))), got NaN or inf")
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
        for name, w in (("compat_gaussian", compat_gaussian), ("compat_bilateral", compat_bilateral)):
            if not isinstance(w, numbers.Real) or not np.isfinite(w):
                raise TypeError(f"{name} must be a finite number (Potts weight), got {w!r}")
        C, H, W = unary.shape
        if method == "exact" and H * W > _EXACT_MAX_PIXELS:
            raise ValueError(f"method='exact' is O(N^2): at most {_EXACT_MAX_PIXELS} pixels, "
                             f"got {H}x{W} = {H * W}; use method='lattice'")
        image = _as_image(image, H, W, unary.device)
        self.shape = (C, H, W)
        self.method, self.dtype = method, dtype
        self.unary = unary.to(dtype).reshape(C, H * W).T.contiguous()    # (N, C)
        self.kernels = []
        if compat_gaussian != 0:
            f = dense_crf_features(H, W, sxy=sxy_gaussian, device=unary.device, dtype=dtype)
            self.kernels.append(_Kernel(f, float(compat_gaussian), method, dtype))
        if compat_bilateral != 0:
            f = dense_crf_features(H, W, sxy=sxy_bilateral, image=image, srgb=srgb, dtype=dtype)
            self.kernels.append(_Kernel(f, float(compat_bilateral), method, dtype))

        self._fused = _fuse(self.kernels) if method == "lattice" and self.kernels else None

    def message(self, Q: Tensor) -> Tensor:
        """Pairwise term of the update, ``sum_k w_k K~_k Q`` for Q (Tensor[N, C])."""
        if self._fused is not None:
            return self._fused(Q)
        out = torch.zeros_like(Q)
        for k in self.kernels:
            out += k.weight * k(Q)
        return out

    def step(self, Q: Tensor) -> Tensor:
        """One mean-field update of Q (Tensor[N, C]): filter, compatibility, add unary, normalise."""
        return torch.softmax(-self.unary + self.message(Q), dim=1)

    def inference(self, iterations: int = 5) -> Tensor:
        """Run mean field from ``softmax(-unary)``; returns Q (Tensor[C, H, W])."""
        if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
            raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
        Q = torch.softmax(-self.unary, dim=1)
        for _ in range(int(iterations)):
            Q = self.step(Q)
        C, H, W = self.shape
        return Q.T.reshape(C, H, W)

    def kl_divergence(self, Q: Tensor) -> float:
        """pydensecrf's ``klDivergence``: ``sum Q log Q + sum U Q - sum Q (w K~ Q)`` for Q (C, H, W).

        This is the mean-field free energy up to a constant (pydensecrf's pairwise
        sum counts each pair twice and includes ``i = j``).
        """
        C, H, W = self.shape
        q = Q.reshape(C, H * W).T.to(self.dtype)
        ent = (q * torch.log(q.clamp_min(1e-20))).sum()
        return float(ent + (self.unary * q).sum() - (q * self.message(q)).sum())

    def __repr__(self) -> str:
        C, H, W = self.shape
        ks = ", ".join(f"w={k.weight:g}" for k in self.kernels)
        return f"{type(self).__name__}(C={C}, H={H}, W={W}, method={self.method!r}, kernels=[{ks}])"


def kl_divergence(crf: DenseCRF, Q: Tensor) -> float:
    """Function form of :meth:`DenseCRF.kl_divergence`."""
    return crf.kl_divergence(Q)


def dense_crf(unary_or_probs: Tensor, image, *, sxy_gaussian=3.0, compat_gaussian: float = 3.0,
              sxy_bilateral=80.0, srgb=13.0, compat_bilateral: float = 10.0,
              iterations: int = 5, method: str = "lattice", probabilities: bool = False,
              dtype: torch.dtype = torch.float32) -> Tensor:
    """Mean-field inference in a fully connected CRF, with pydensecrf's parameters.

    Parameters
    ----------
    unary_or_probs (Tensor[C, H, W])
        Unary energies ``-log p`` (default), or probabilities when
        ``probabilities=True`` (then each pixel must sum to 1).
    image (Tensor[H, W, 3] or ndarray, uint8)
        The RGB image (0..255) of the appearance kernel.
    sxy_gaussian, compat_gaussian : float
        ``d.addPairwiseGaussian(sxy=sxy_gaussian, compat=compat_gaussian)``.
    sxy_bilateral, srgb, compat_bilateral : float
        ``d.addPairwiseBilateral(sxy=sxy_bilateral, srgb=srgb, rgbim=image, compat=compat_bilateral)``.
    iterations : int
        Mean-field iterations (``d.inference(iterations)``); 0 returns ``softmax(-unary)``.
    method : {"lattice", "exact"}
        Permutohedral lattice or brute-force O(N^2) filtering.
    probabilities : bool
        Interpret the first argument as probabilities.
    dtype : torch.dtype
        float32 (as pydensecrf) or float64.

    Returns
    -------
    Tensor[C, H, W]
        The mean-field marginals Q (each pixel sums to 1), on the input's device.
        ``Q.argmax(0)`` is the labelling.

    Raises
    ------
    ValueError
        Shapes that do not match, a non-RGB image, probabilities that do not sum
        to 1, a negative iteration count, an unknown method.

    Examples
    --------
    >>> probs = torch.full((2, 4, 4), 0.5)
    >>> image = torch.zeros(4, 4, 3, dtype=torch.uint8)
    >>> dense_crf(probs, image, probabilities=True, iterations=2).shape
    torch.Size([2, 4, 4])

    The same with pydensecrf::

        d = dcrf.DenseCRF2D(W, H, C)
        d.setUnaryEnergy(unary.reshape(C, -1))   # float32, C-contiguous
        d.addPairwiseGaussian(sxy=3, compat=3)
        d.addPairwiseBilateral(sxy=80, srgb=13, rgbim=image, compat=10)
        Q = np.array(d.inference(5)).reshape(C, H, W)

    References
    ----------
    P. Krähenbühl, V. Koltun, "Efficient Inference in Fully Connected CRFs with
    Gaussian Edge Potentials", NIPS 2011. arXiv:1210.5644
    """
    if isinstance(iterations, bool) or not isinstance(iterations, numbers.Integral) or iterations < 0:
        raise ValueError(f"iterations must be an integer >= 0, got {iterations!r}")
    unary = unary_from_probabilities(unary_or_probs) if probabilities else unary_or_probs
    crf = DenseCRF(unary, image, sxy_gaussian=sxy_gaussian, compat_gaussian=compat_gaussian,
                   sxy_bilateral=sxy_bilateral, srgb=srgb, compat_bilateral=compat_bilateral,
                   method=method, dtype=dtype)
    return crf.inference(iterations)
