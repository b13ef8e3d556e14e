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

import contextlib
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor

from .._checks import (
    as_tensor,
    check_bool,
    check_choice,
    check_device,
    check_float_dtype,
    check_int,
    check_iterations,
    check_positive,
    check_real,
    float_tensor,
)
from .permutohedral import (
    Permutohedral,
    PermutohedralSum,
    _compute_dtype,
    _Stack,
    gaussian_filter_exact,
)
from .unary import _unary_from_probabilities, unary_from_probabilities

__all__ = ["DenseCRF", "dense_crf", "dense_crf_features", "unary_from_probabilities",
           "kl_divergence"]

_METHODS = ("lattice", "exact")
_EXACT_MAX_PIXELS = 20_000
#: Largest image (a typo such as W=10**12 would otherwise try to allocate terabytes).
_MAX_PIXELS = 1 << 26


def _as_image(image, H: int, W: int, device) -> Tensor:
    image = as_tensor(image, "image")
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
        Image size (>= 1).
    sxy : float or (float, float)
        Spatial standard deviation in pixels (``(sx, sy)`` as pydensecrf), > 0.
    image (Tensor[H, W, 3] uint8), optional
        Colours for the bilateral kernel; then ``srgb`` is required.
    srgb : float or (float, float, float), optional
        Colour standard deviation (0..255 scale), > 0.

    device, dtype
        Where and in which precision (float32 as pydensecrf) to build them.

    Returns
    -------
    Tensor[H*W, 2] or Tensor[H*W, 5]
        Pixels in row-major order (index ``y * W + x``).
    """
    H, W = check_int(H, "H", low=1), check_int(W, "W", low=1)
    if H * W > _MAX_PIXELS:
        raise ValueError(f"H x W = {H} x {W} is too large: at most {_MAX_PIXELS} pixels "
                         f"(8192 x 8192) per image")
    sx, sy = _pair(sxy, "sxy", 2)
    dtype = check_float_dtype(dtype)
    device = check_device(device)
    if image is not None:
        image = _as_image(image, H, W, device if device is not None else
                          getattr(image, "device", "cpu"))
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
    """A positive number, or ``n`` of them, as a tuple of ``n`` floats."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(values) != n:
        raise TypeError(f"{name} must be a number or a tuple of {n} numbers, got {value!r}")
    try:
        return tuple(check_positive(v, name) for v in values)
    except ValueError:
        raise ValueError(f"{name} must be a positive number or {n} positive numbers, "
                         f"got {value!r}") from None


def _softmax_rows(x: Tensor) -> Tensor:
    """``softmax(x, dim=1)`` in place: faster than torch's kernel when C (the row) is short."""
    x -= x.amax(1, keepdim=True)
    x.exp_()
    x /= x.sum(1, keepdim=True)
    return x


def _show(values: tuple[float, ...]) -> str:
    """A standard deviation as the user probably wrote it: one number when all agree."""
    return f"{values[0]:g}" if len(set(values)) == 1 else str(values)


class _Kernel:
    """One Gaussian kernel: its features, weight and pydensecrf's symmetric normalisation."""

    def __init__(self, name: str, features: Tensor, weight: float, method: str,
                 dtype: torch.dtype):
        self.name, self.weight, self.method = name, weight, method
        try:
            if method == "lattice":
                self.lattice = Permutohedral(features)
                raw = self.lattice.row_sums(dtype)
            else:
                self.features = features.to(dtype)
                raw = self._raw(features.new_ones(features.shape[0], 1, dtype=dtype))
        except ValueError as err:
            raise ValueError(f"the {name} cannot be built: {err}") from None
        self.norm = 1.0 / torch.sqrt(raw + 1e-20)                        # (N, 1)

    def _raw(self, values: Tensor) -> Tensor:
        if self.method == "lattice":
            return self.lattice.filter(values)
        return gaussian_filter_exact(self.features, values)

    def __call__(self, values: Tensor) -> Tensor:
        return self.norm * self._raw(self.norm * values)


def _build_kernels(specs, N: int, method: str, dtype: torch.dtype, device: torch.device,
                   meanwhile) -> tuple[list[_Kernel], PermutohedralSum | None, object]:
    """The kernels of ``specs`` ((name, make_features, dim, weight) each), in that order, and
    for the lattice method their fused operator ``sum_k w_k n_k Slice_k Blur_k Splat_k (n_k Q)``;
    and the result of ``meanwhile()``.

    Each kernel writes its share of the fused operator as soon as its normalisation ``n_k``
    is known. On a CPU with several torch threads the last kernel (the appearance kernel,
    the larger lattice), features included, is built in a second thread meanwhile: the
    lattices are built by compiled loops that run on one core and release the interpreter
    lock, and the kernels write separate parts of the fused operator. ``meanwhile`` runs in
    this thread once its kernels are built, while the second thread works.
    """
    stack = None
    if method == "lattice" and specs:
        stack = _Stack(N, [dim for _, _, dim, _ in specs], _compute_dtype(dtype), device)

    def build(k: int) -> _Kernel:
        name, make_features, _, weight = specs[k]
        kernel = _Kernel(name, make_features(), weight, method, dtype)
        if stack is not None:
            norm = kernel.norm[:, 0]
            stack.add(k, kernel.lattice, norm, kernel.weight * norm)
        return kernel

    threaded = (stack is not None and device.type == "cpu"
                and len(specs) >= 2 and torch.get_num_threads() >= 2)
    with ThreadPoolExecutor(1) if threaded else contextlib.nullcontext() as pool:
        last = pool.submit(build, len(specs) - 1) if threaded else None
        kernels = [build(k) for k in range(len(specs) - threaded)]
        extra = meanwhile()
        if last is not None:
            kernels.append(last.result())
    fused = None if stack is None else PermutohedralSum._from_stack(
        stack, [k.lattice for k in kernels])
    return kernels, fused, extra


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
        unary = float_tensor(unary, "unary", ndim=3, layout="(C, H, W)", non_empty=True)
        method = check_choice(method, "method", _METHODS)
        if not isinstance(dtype, torch.dtype) or dtype not in (torch.float32, torch.float64):
            raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype!r:.60}")
        sxy_gaussian = _pair(sxy_gaussian, "sxy_gaussian", 2)
        sxy_bilateral = _pair(sxy_bilateral, "sxy_bilateral", 2)
        srgb = _pair(srgb, "srgb", 3)
        compat_gaussian = check_real(compat_gaussian, "compat_gaussian")
        compat_bilateral = check_real(compat_bilateral, "compat_bilateral")
        C, H, W = unary.shape
        if method == "exact" and H * W > _EXACT_MAX_PIXELS:
            raise ValueError(f"method='exact' is O(N^2): at most {_EXACT_MAX_PIXELS} pixels, "
                             f"got {H}x{W} = {H * W}; use method='lattice'")
        image = _as_image(image, H, W, unary.device)
        self.shape = (C, H, W)
        self.method, self.dtype = method, dtype
        specs = []                                           # (name, make_features, dim, w)
        if compat_gaussian != 0:
            specs.append((f"smoothness kernel (sxy_gaussian={_show(sxy_gaussian)})",
                          lambda: dense_crf_features(H, W, sxy=sxy_gaussian, device=unary.device,
                                                     dtype=dtype), 2, compat_gaussian))
        if compat_bilateral != 0:
            specs.append((f"appearance kernel (sxy_bilateral={_show(sxy_bilateral)}, "
                          f"srgb={_show(srgb)})",
                          lambda: dense_crf_features(H, W, sxy=sxy_bilateral, image=image,
                                                     srgb=srgb, dtype=dtype), 5, compat_bilateral))
        # the fused operator: sum_k w_k n_k * Slice_k Blur_k Splat_k (n_k * Q); the unary in
        # the (N, C) layout of the messages, transposed while the last kernel is being built
        self.kernels, self._fused, self.unary = _build_kernels(
            specs, H * W, method, dtype, unary.device,
            meanwhile=lambda: unary.to(dtype).reshape(C, H * W).T.contiguous())

    def _check_rows(self, Q) -> Tensor:
        C, H, W = self.shape
        Q = float_tensor(Q, "Q", ndim=2, layout=f"(N, C) = {(H * W, C)}")
        if tuple(Q.shape) != (H * W, C) or Q.device != self.unary.device:
            raise ValueError(f"Q must have shape (N, C) = {(H * W, C)} on {self.unary.device}, "
                             f"got {tuple(Q.shape)} on {Q.device}")
        return Q

    def message(self, Q: Tensor) -> Tensor:
        """Pairwise term of the update, ``sum_k w_k K~_k Q`` for Q (Tensor[N, C])."""
        return self._message(self._check_rows(Q))

    def _message(self, Q: Tensor) -> Tensor:
        if self._fused is not None:
            return self._fused._apply(Q)                              # Q checked by the caller
        out = torch.zeros_like(Q)
        for k in self.kernels:
            out += k.weight * k(Q)
        return out

    def step(self, Q: Tensor) -> Tensor:
        """One mean-field update of Q (Tensor[N, C]): filter, compatibility, add unary, normalise."""
        return self._step(self._check_rows(Q))

    def _step(self, Q: Tensor) -> Tensor:
        x = self._message(Q)
        x -= self.unary
        return _softmax_rows(x)

    def inference(self, iterations: int = 5) -> Tensor:
        """Run mean field from ``softmax(-unary)``; returns Q (Tensor[C, H, W])."""
        iterations = check_iterations(iterations, "iterations")
        Q = _softmax_rows(-self.unary)
        for _ in range(iterations):
            Q = self._step(Q)
        C, H, W = self.shape
        return Q.T.reshape(C, H, W)

    def kl_divergence(self, Q: Tensor) -> float:
        """pydensecrf's ``klDivergence``: ``sum Q log Q + sum U Q - sum Q (w K~ Q)`` for Q (C, H, W).

        This is the mean-field free energy up to a constant (pydensecrf's pairwise
        sum counts each pair twice and includes ``i = j``).
        """
        C, H, W = self.shape
        Q = float_tensor(Q, "Q", ndim=3, layout=f"(C, H, W) = {self.shape}")
        if tuple(Q.shape) != self.shape:
            raise ValueError(f"Q must have shape (C, H, W) = {self.shape}, got {tuple(Q.shape)}")
        if Q.numel() and (float(Q.min()) < -1e-6 or float(Q.max()) > 1 + 1e-6):
            raise ValueError(f"Q must hold probabilities in [0, 1] (the marginals of "
                             f"inference), got values in [{float(Q.min()):.3g}, "
                             f"{float(Q.max()):.3g}]")
        q = Q.to(self.unary.device).reshape(C, H * W).T.to(self.dtype)
        ent = (q * torch.log(q.clamp_min(1e-20))).sum()
        return float(ent + (self.unary * q).sum() - (q * self._message(q)).sum())

    def __repr__(self) -> str:
        C, H, W = self.shape
        ks = ", ".join(f"w={k.weight:g}" for k in self.kernels)
        return f"{type(self).__name__}(C={C}, H={H}, W={W}, method={self.method!r}, kernels=[{ks}])"


def kl_divergence(crf: DenseCRF, Q: Tensor) -> float:
    """Function form of :meth:`DenseCRF.kl_divergence`."""
    if not isinstance(crf, DenseCRF):
        raise TypeError(f"crf must be a DenseCRF, got {type(crf).__name__}")
    return crf.kl_divergence(Q)


def dense_crf(unary_or_probs: Tensor, image: Tensor, *, sxy_gaussian=3.0, compat_gaussian: float = 3.0,
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
    iterations = check_iterations(iterations, "iterations")
    probabilities = check_bool(probabilities, "probabilities")
    x = float_tensor(unary_or_probs, "unary_or_probs", ndim=3, layout="(C, H, W)",
                     non_empty=True)
    unary = _unary_from_probabilities(x, "unary_or_probs") if probabilities else x
    crf = DenseCRF(unary, image, sxy_gaussian=sxy_gaussian, compat_gaussian=compat_gaussian,
                   sxy_bilateral=sxy_bilateral, srgb=srgb, compat_bilateral=compat_bilateral,
                   method=method, dtype=dtype)
    return crf.inference(iterations)
