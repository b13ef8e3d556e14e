"""Upsampling: from a coarse score map back to the H x W of the image.

A segmentation network's last convolution sees the image at stride 32: a
128 x 128 picture gives a 4 x 4 map of class scores. This module collects the
ways to bring such a map back to full resolution, each written out with index
arithmetic so that it can be read, and each checked in ``tests/test_upsampling.py``
against the reference it mirrors:

* fixed interpolation: :func:`nearest_upsample`, :func:`bilinear_upsample`
  (``F.interpolate``), and the image pyramid's :func:`pyramid_up`
  (``skimage.transform.pyramid_expand``, ``cv2.pyrUp``);
* unpooling with the switches of a max pooling: :func:`max_unpool2d`
  (``F.max_unpool2d``);
* the learnable one, the transposed convolution: :func:`conv_transpose2d`
  (a vectorised scatter-add) and :func:`conv_transpose2d_loop` (the slow Python
  reference), both ``F.conv_transpose2d``; :func:`conv_matrix` writes a
  convolution as a matrix whose transpose is the transposed convolution;
* the FCN bridge between the two: :func:`bilinear_kernel` and
  :func:`bilinear_upsampling_layer`, a transposed convolution that starts out as
  bilinear interpolation.

Conventions: images and feature maps are ``(N, C, H, W)`` floating-point
tensors; every function computes on the device of its input.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import torch
from torch import Tensor, nn

from course_lib._checks import (
    as_tensor,
    check_bool,
    check_choice,
    check_device,
    check_int,
    check_positive,
    check_real,
    check_same_device,
    float_tensor,
)

__all__ = [
    "nearest_upsample",
    "bilinear_upsample",
    "bilinear_kernel",
    "bilinear_upsampling_layer",
    "conv_transpose2d",
    "conv_transpose2d_loop",
    "conv_transpose2d_output_size",
    "overlap_count",
    "conv_matrix",
    "max_unpool2d",
    "pyramid_up",
]


# ---------------------------------------------------------------------- input checks


#: Largest explicit convolution matrix (:func:`conv_matrix`), kernel or result, in entries:
#: this module builds teaching examples, and a typo such as 10**12 would ask for terabytes.
_MAX_MATRIX_ENTRIES = 1 << 28


def _check_elements(n: int, what: str) -> None:
    if n > _MAX_MATRIX_ENTRIES:
        raise ValueError(f"{what} would have {n} entries, at most {_MAX_MATRIX_ENTRIES} "
                         f"(1 GiB of float32): it is meant for small examples")


def _check_tensor(x, name: str, *, ndim: int = 4, floating: bool = True,
                  layout: str = "(N, C, H, W)") -> Tensor:
    """A tensor (numpy arrays are converted) with ``ndim`` dimensions, floating point if asked.

    NaN and infinity are allowed: they propagate through every operation here, as in torch.
    """
    if floating:
        return float_tensor(x, name, ndim=ndim, layout=layout, finite=False)
    t = as_tensor(x, name)
    if t.ndim != ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {tuple(t.shape)}")
    return t


def _check_int(value, name: str, minimum: int) -> int:
    return check_int(value, name, low=minimum)


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= minimum``, as a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair of ints, got {len(value)} "
                             f"values {tuple(value)}")
        return (_check_int(value[0], name, minimum), _check_int(value[1], name, minimum))
    v = _check_int(value, name, minimum)
    return v, v


def _take(x: Tensor, dim: int, index: Tensor) -> Tensor:
    """``x.index_select(dim, index)``; along the last dim with advanced indexing, which is far
    faster there on the CPU."""
    if dim == x.ndim - 1:
        return x[..., index]
    return x.index_select(dim, index)


def _same_place(x: Tensor, other: Tensor, name: str, other_name: str) -> None:
    check_same_device(x, other, name, other_name)
    if other.dtype != x.dtype:
        raise TypeError(f"{other_name} has dtype {other.dtype} but {name} has {x.dtype}; "
                        f"they must match")


# ---------------------------------------------------------------------- interpolation


def nearest_upsample(x: Tensor, factor) -> Tensor:
    """Nearest-neighbour upsampling by an integer factor, as ``F.interpolate(mode="nearest")``.

    Output pixel ``i`` copies input pixel ``i // factor``: every input pixel
    becomes a ``factor x factor`` block.

    Parameters
    ----------
    x : Tensor[N, C, H, W]
        Any dtype (label maps may be integer).
    factor : int or (int, int)
        Upsampling factor, ``>= 1``, the same for both axes or ``(f_y, f_x)``.

    Returns
    -------
    Tensor[N, C, H * f_y, W * f_x]
        Same dtype and device as ``x``.

    Examples
    --------
    >>> nearest_upsample(torch.tensor([[[[1, 2], [3, 4]]]]), 2)[0, 0]
    tensor([[1, 1, 2, 2],
            [1, 1, 2, 2],
            [3, 3, 4, 4],
            [3, 3, 4, 4]])
    """
    x = _check_tensor(x, "x", floating=False)
    fy, fx = _pair(factor, "factor", 1)
    N, C, H, W = x.shape
    _check_elements(N * C * H * fy * W * fx, f"the output of factor={factor!r}")
    rows = torch.arange(H * fy, device=x.device) // fy                      # (H*fy,)
    cols = torch.arange(W * fx, device=x.device) // fx                      # (W*fx,)
    return x[:, :, rows[:, None], cols[None, :]]


def _linear_source(n_out: int, n_in: int, scale: float, align_corners: bool, device):
    """Left neighbour, right neighbour and weight of the right one, for each output index.

    ``scale`` is input pixels per output pixel, as PyTorch's ``area_pixel_compute_scale``.
    """
    dst = torch.arange(n_out, device=device, dtype=torch.float64)
    if align_corners:
        # the centres of the corner pixels coincide: 0 -> 0 and n_out-1 -> n_in-1
        src = dst * scale
    else:
        # pixel centres at i + 0.5 in both grids; clamped at 0 as PyTorch does
        src = ((dst + 0.5) * scale - 0.5).clamp_min(0.0)
    i0 = src.floor().long().clamp_max(n_in - 1)
    i1 = (i0 + 1).clamp_max(n_in - 1)
    return i0, i1, src - i0


def bilinear_upsample(x: Tensor, size_or_factor, align_corners: bool = False) -> Tensor:
    """Bilinear interpolation, as ``F.interpolate(mode="bilinear")``, by index arithmetic.

    Each output pixel is mapped to a (fractional) position in the input and
    interpolated linearly between the two nearest rows, then the two nearest
    columns. Where it lands depends on ``align_corners``:

    * ``False`` (the default, and what ``skimage.transform.resize`` does): pixels
      are squares and their *centres* are aligned, ``src = (dst + 0.5) / f - 0.5``;
      positions left of the first centre are clamped to it, so the border
      pixels are copied, not extrapolated.
    * ``True``: the centres of the *corner* pixels coincide,
      ``src = dst * (H - 1) / (H_out - 1)``; the sampling grid then depends on
      the image size, which is why it is not the default.

    Parameters
    ----------
    x : Tensor[N, C, H, W]
        Floating point.
    size_or_factor : int, float, (int, int) or (float, float)
        A number (or a pair of numbers of which one is a float) is a scale factor,
        the output size is ``floor(H * f)`` as in ``F.interpolate(scale_factor=f)``;
        a pair of ints is the output size ``(H_out, W_out)``.
    align_corners : bool
        See above.

    Returns
    -------
    Tensor[N, C, H_out, W_out]

    Examples
    --------
    >>> x = torch.tensor([[[[0.0, 1.0]]]])
    >>> bilinear_upsample(x, 2)[0, 0, 0]
    tensor([0.0000, 0.2500, 0.7500, 1.0000])
    >>> bilinear_upsample(x, 2, align_corners=True)[0, 0, 0]
    tensor([0.0000, 0.3333, 0.6667, 1.0000])
    """
    x = _check_tensor(x, "x")
    align_corners = check_bool(align_corners, "align_corners")
    N, C, H, W = x.shape
    if H == 0 or W == 0:
        raise ValueError(f"x must have H, W >= 1, got shape {tuple(x.shape)}")
    sizes = _size_or_factor(size_or_factor, H, W)
    _check_elements(N * C * sizes[0][0] * sizes[1][0],
                    f"the output {(N, C, sizes[0][0], sizes[1][0])} of size_or_factor="
                    f"{size_or_factor!r}")
    out = x
    # rows then columns: bilinear = two 1-D linear interpolations
    for dim, n_in, (n_out, factor) in ((2, H, sizes[0]), (3, W, sizes[1])):
        if align_corners:
            scale = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
        else:
            scale = 1.0 / factor if factor is not None else n_in / n_out
        i0, i1, w1 = _linear_source(n_out, n_in, scale, align_corners, x.device)
        shape = [1, 1, 1, 1]
        shape[dim] = n_out
        w1 = w1.to(x.dtype).reshape(shape)
        out = _take(out, dim, i0) * (1 - w1) + _take(out, dim, i1) * w1
    return out


def _check_factor(f: float, value) -> float:
    if not (f > 0 and math.isfinite(f)):
        raise ValueError(f"size_or_factor: a scale factor must be positive and finite, got "
                         f"{value!r}")
    return f


def _size_or_factor(value, H: int, W: int):
    """((H_out, factor_y or None), (W_out, factor_x or None)) from a size or a factor."""
    def is_number(v):
        return isinstance(v, Real) and not isinstance(v, bool)

    if isinstance(value, (tuple, list)):
        if len(value) != 2 or not all(is_number(v) for v in value):
            raise ValueError(f"size_or_factor must be a number or a pair of numbers, got {value!r}")
        if all(isinstance(v, Integral) for v in value):
            sizes = [(int(value[0]), None), (int(value[1]), None)]
        else:
            factors = [_check_factor(float(v), value) for v in value]
            sizes = [(math.floor(n * f), f) for n, f in zip((H, W), factors)]
    elif is_number(value):
        f = _check_factor(float(value), value)
        sizes = [(math.floor(H * f), f), (math.floor(W * f), f)]
    else:
        raise TypeError(f"size_or_factor must be a number (scale factor) or a pair "
                        f"(output size, or per-axis factors), got {type(value).__name__}")
    for n, _ in sizes:
        if n < 1:
            raise ValueError(f"size_or_factor gives an output size {n} < 1 for input "
                             f"size {(H, W)}; got {value!r}")
    return sizes


# ---------------------------------------------------------------------- transposed convolution


def _check_conv_transpose(input, weight, bias, stride, padding, output_padding, groups,
                          dilation):
    """Validate the arguments of a transposed convolution; return the normalised options."""
    input = _check_tensor(input, "input", layout="(N, C_in, H, W)")
    weight = _check_tensor(weight, "weight", layout="(C_in, C_out / groups, kH, kW)")
    _same_place(input, weight, "input", "weight")
    groups = _check_int(groups, "groups", 1)
    stride = _pair(stride, "stride", 1)
    padding = _pair(padding, "padding", 0)
    output_padding = _pair(output_padding, "output_padding", 0)
    dilation = _pair(dilation, "dilation", 1)
    C_in = input.shape[1]
    if weight.shape[0] != C_in:
        raise ValueError(f"weight must have shape (C_in, C_out / groups, kH, kW) with "
                         f"C_in = input.shape[1] = {C_in}, got weight of shape "
                         f"{tuple(weight.shape)}")
    if C_in % groups:
        raise ValueError(f"groups={groups} must divide the input channels C_in={C_in}")
    if min(weight.shape) == 0:
        raise ValueError(f"weight must be non-empty, got shape {tuple(weight.shape)}")
    C_out = weight.shape[1] * groups
    if bias is not None:
        bias = _check_tensor(bias, "bias", ndim=1, layout="(C_out,)")
        _same_place(input, bias, "input", "bias")
        if bias.shape[0] != C_out:
            raise ValueError(f"bias must have shape (C_out,) = ({C_out},) (weight.shape[1] * "
                             f"groups), got {tuple(bias.shape)}")
    for ax in (0, 1):
        if output_padding[ax] >= stride[ax] and output_padding[ax] >= dilation[ax]:
            raise ValueError(f"output_padding must be smaller than stride or dilation, got "
                             f"output_padding={output_padding}, stride={stride}, "
                             f"dilation={dilation}")
    kH, kW = weight.shape[2:]
    out_size = conv_transpose2d_output_size(tuple(input.shape[2:]), (kH, kW), stride, padding,
                                            output_padding, dilation)
    if min(out_size) < 1 or min(input.shape[2:]) < 1:
        raise ValueError(f"the output would have size {out_size} for input of shape "
                         f"{tuple(input.shape)}, kernel {(kH, kW)}, stride={stride}, "
                         f"padding={padding}, output_padding={output_padding}, "
                         f"dilation={dilation}: padding is too large for this input")
    _check_elements(input.shape[0] * C_out * out_size[0] * out_size[1],
                    f"the output {(input.shape[0], C_out, *out_size)} (stride={stride}, "
                    f"kernel {(kH, kW)}, dilation={dilation})")
    return input, weight, bias, stride, padding, output_padding, groups, dilation, out_size


def conv_transpose2d_output_size(input_size, kernel_size, stride=1, padding=0,
                                 output_padding=0, dilation=1) -> tuple[int, int]:
    """Output ``(H_out, W_out)`` of a transposed convolution (``nn.ConvTranspose2d``'s formula).

    ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.
    A convolution with the same kernel, stride, padding and dilation maps every
    size in ``H_out .. H_out + stride - 1`` to ``H``; ``output_padding`` picks one.

    Parameters
    ----------
    input_size, kernel_size : int or (int, int)
    stride, padding, output_padding, dilation : int or (int, int)

    Returns
    -------
    (int, int)
        May be ``< 1`` when the padding is too large (callers raise).

    Examples
    --------
    >>> conv_transpose2d_output_size(2, 3)          # the 2x2 -> 4x4 example
    (4, 4)
    >>> conv_transpose2d_output_size(4, 4, stride=2, padding=1)   # FCN's 2x upsampler
    (8, 8)
    """
    size = _pair(input_size, "input_size", 0)
    k = _pair(kernel_size, "kernel_size", 1)
    s = _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    op = _pair(output_padding, "output_padding", 0)
    d = _pair(dilation, "dilation", 1)
    return tuple((size[a] - 1) * s[a] - 2 * p[a] + d[a] * (k[a] - 1) + op[a] + 1 for a in (0, 1))


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """Transposed convolution as a scatter-add, with the semantics of ``F.conv_transpose2d``.

    Every input pixel ``(i, j)`` *stamps* a copy of the kernel, scaled by its
    value, into the output, with its top-left corner at ``(i * stride, j * stride)``
    and its taps ``dilation`` apart; where stamps overlap they are summed.
    Then ``padding`` rows and columns are cropped from each side (``output_padding``
    extra ones are kept at the bottom and right). For channels::

        out[n, o, i*s + a*d - p, j*s + b*d - p] += input[n, c, i, j] * weight[c, o', a, b]

    with ``c`` in group ``g`` and ``o = g * C_out/groups + o'``. Here all stamps are
    computed at once (an ``einsum``) and summed into the output with one
    ``index_add``; :func:`conv_transpose2d_loop` does the same with Python loops.

    It is the *adjoint* (transpose) of ``F.conv2d`` with the same weight, stride,
    padding and dilation: see :func:`conv_matrix`. It is **not** the inverse of
    a convolution, hence "deconvolution" is a misnomer.

    Parameters
    ----------
    input : Tensor[N, C_in, H, W]
        Floating point.
    weight : Tensor[C_in, C_out / groups, kH, kW]
        Same dtype and device as ``input`` (note: input channels first, the
        opposite of ``conv2d``).
    bias : Tensor[C_out], optional
    stride : int or (int, int)
        ``>= 1``: the distance between the stamps of neighbouring input pixels.
    padding : int or (int, int)
        ``>= 0``: rows and columns cropped from each side of the full result.
    output_padding : int or (int, int)
        ``>= 0`` and smaller than ``stride`` or ``dilation``: extra rows/columns at
        the bottom/right, to choose among the input sizes a strided convolution
        maps to ``H``.
    groups : int
        ``>= 1``, divides ``C_in``: channels are split into ``groups`` independent
        transposed convolutions.
    dilation : int or (int, int)
        ``>= 1``: spacing between the kernel taps.

    Returns
    -------
    Tensor[N, C_out, H_out, W_out]
        ``H_out = (H - 1) * stride - 2 * padding + dilation * (kH - 1) + output_padding + 1``.

    Raises
    ------
    TypeError
        A non-tensor, a non-floating dtype, mismatched dtypes, a non-int option.
    ValueError
        Non-4-D ``input`` or ``weight``, ``weight.shape[0] != C_in``, ``groups`` not
        dividing ``C_in``, a bias of the wrong length, negative padding, stride or
        dilation < 1, ``output_padding`` not smaller than ``stride`` or
        ``dilation``, an empty output, or tensors on different devices.

    Notes
    -----
    The stamps take ``N * C_out * H * W * kH * kW`` elements of memory: fine for
    teaching and for FCN heads, wasteful for large images, where
    ``F.conv_transpose2d`` (which computes the same thing as a matrix product and
    ``col2im``) should be used.

    References
    ----------
    .. [1] V. Dumoulin, F. Visin, "A guide to convolution arithmetic for deep
       learning", 2016. arXiv:1603.07285.

    Examples
    --------
    >>> x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    >>> conv_transpose2d(x, torch.ones(1, 1, 3, 3))[0, 0]
    tensor([[ 1.,  3.,  3.,  2.],
            [ 4., 10., 10.,  6.],
            [ 4., 10., 10.,  6.],
            [ 3.,  7.,  7.,  4.]])
    """
    input, weight, bias, (sH, sW), (pH, pW), _, G, (dH, dW), (H_out, W_out) = _check_conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation)
    N, C_in, H, W = input.shape
    _, C_og, kH, kW = weight.shape
    C_out = C_og * G

    # every input pixel times the whole kernel: its stamp
    x = input.reshape(N, G, C_in // G, H, W)
    w = weight.reshape(G, C_in // G, C_og, kH, kW)
    stamps = torch.einsum("ngchw,gcoab->ngoabhw", x, w)               # (N, G, C_og, kH, kW, H, W)
    stamps = stamps.reshape(N, C_out, kH * kW * H * W)

    # where each stamp entry lands on the un-cropped canvas (top-left = output (-pH, -pW))
    Hc = max((H - 1) * sH + dH * (kH - 1) + 1, pH + H_out)
    Wc = max((W - 1) * sW + dW * (kW - 1) + 1, pW + W_out)
    rows = (torch.arange(kH, device=input.device) * dH)[:, None] \
        + (torch.arange(H, device=input.device) * sH)[None, :]           # (kH, H)
    cols = (torch.arange(kW, device=input.device) * dW)[:, None] \
        + (torch.arange(W, device=input.device) * sW)[None, :]           # (kW, W)
    target = rows[:, None, :, None] * Wc + cols[None, :, None, :]       # (kH, kW, H, W)

    canvas = input.new_zeros(N, C_out, Hc * Wc)
    canvas = canvas.index_add(2, target.reshape(-1), stamps)            # overlaps are summed
    out = canvas.reshape(N, C_out, Hc, Wc)[:, :, pH:pH + H_out, pW:pW + W_out]
    if bias is not None:
        out = out + bias.reshape(1, C_out, 1, 1)
    return out


def conv_transpose2d_loop(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                          padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """The slow, obviously correct reference of :func:`conv_transpose2d` (Python loops).

    Same arguments, checks and result as :func:`conv_transpose2d`. Loops over
    images, groups, input pixels and kernel taps; for each, adds the input
    pixel's channel vector times the tap's ``(C_in/groups, C_out/groups)`` matrix
    to one output pixel, if that pixel survives the cropping. Use it on tiny
    inputs only (a 4 x 4 input with a 3 x 3 kernel is 144 additions).

    Parameters
    ----------
    input : Tensor[N, C_in, H, W]
    weight : Tensor[C_in, C_out / groups, kH, kW]
    bias : Tensor[C_out], optional
    stride, padding, output_padding, groups, dilation
        As in :func:`conv_transpose2d`.

    Returns
    -------
    Tensor[N, C_out, H_out, W_out]
    """
    input, weight, bias, (sH, sW), (pH, pW), _, G, (dH, dW), (H_out, W_out) = _check_conv_transpose(
        input, weight, bias, stride, padding, output_padding, groups, dilation)
    N, C_in, H, W = input.shape
    _, C_og, kH, kW = weight.shape
    C_ig = C_in // G
    out = input.new_zeros(N, C_og * G, H_out, W_out)
    for n in range(N):
        for g in range(G):
            cin, cout = slice(g * C_ig, (g + 1) * C_ig), slice(g * C_og, (g + 1) * C_og)
            for i in range(H):
                for j in range(W):
                    for a in range(kH):
                        for b in range(kW):
                            y = i * sH + a * dH - pH        # where this tap of this pixel lands
                            x = j * sW + b * dW - pW
                            if 0 <= y < H_out and 0 <= x < W_out:
                                out[n, cout, y, x] += input[n, cin, i, j] @ weight[cin, :, a, b]
    if bias is not None:
        out = out + bias.reshape(1, -1, 1, 1)
    return out


def overlap_count(input_size, kernel_size, stride=1, padding=0, dilation=1, *,
                  output_padding=0, device=None) -> Tensor:
    """How many kernel stamps cover each output pixel of a transposed convolution.

    This is the transposed convolution of an all-ones input with an all-ones
    kernel. When ``kernel_size`` is not divisible by ``stride``, the count
    alternates from pixel to pixel: the **checkerboard** of Odena et al. (2016).

    Parameters
    ----------
    input_size, kernel_size : int or (int, int)
    stride, padding, dilation, output_padding : int or (int, int)
        As in :func:`conv_transpose2d`.
    device : torch.device, optional

    Returns
    -------
    Tensor[H_out, W_out]
        int64 counts.

    Examples
    --------
    >>> overlap_count(3, 3, stride=2)
    tensor([[1, 1, 2, 1, 2, 1, 1],
            [1, 1, 2, 1, 2, 1, 1],
            [2, 2, 4, 2, 4, 2, 2],
            [1, 1, 2, 1, 2, 1, 1],
            [2, 2, 4, 2, 4, 2, 2],
            [1, 1, 2, 1, 2, 1, 1],
            [1, 1, 2, 1, 2, 1, 1]])
    """
    H, W = _pair(input_size, "input_size", 1)
    k = _pair(kernel_size, "kernel_size", 1)
    device = check_device(device)
    _check_elements(H * W, f"input_size={(H, W)}")
    _check_elements(k[0] * k[1], f"kernel_size={k}")
    ones = torch.ones(1, 1, H, W, dtype=torch.float64, device=device)
    weight = torch.ones(1, 1, *k, dtype=torch.float64, device=device)
    out = conv_transpose2d(ones, weight, stride=stride, padding=padding,
                           output_padding=output_padding, dilation=dilation)
    return out[0, 0].round().long()


def conv_matrix(weight: Tensor, input_size, stride=1, padding=0) -> Tensor:
    """The matrix ``C`` of ``F.conv2d(x, weight, stride=stride, padding=padding)``.

    A convolution is linear in its input, so it is a matrix product:
    ``F.conv2d(x, weight, ...)[0].flatten() == C @ x[0].flatten()``. Row
    ``(o, i, j)`` of ``C`` holds the kernel ``weight[o]`` laid over the input
    pixels that output pixel ``(i, j)`` reads (zero elsewhere, and zero where the
    kernel hangs over the zero padding). Its transpose ``C.T`` maps an output-
    sized map back to an input-sized one: that is exactly
    ``F.conv_transpose2d(y, weight, stride=stride, padding=padding,
    output_padding=...)``, and also the gradient of the convolution with respect
    to its input, which is why the transposed convolution appears in every
    backward pass of a CNN.

    Parameters
    ----------
    weight : Tensor[C_out, C_in, kH, kW]
        A ``conv2d`` weight (the same tensor serves as the ``conv_transpose2d``
        weight of the transposed operation, whose input channels are ``C_out``).
    input_size : int or (int, int)
        ``(H, W)`` of the convolution's input.
    stride, padding : int or (int, int)

    Returns
    -------
    Tensor[C_out * H_o * W_o, C_in * H * W]
        Same dtype and device as ``weight``; rows in ``(o, i, j)`` order and columns
        in ``(c, y, x)`` order, the order of ``flatten()``.

    Examples
    --------
    >>> C = conv_matrix(torch.arange(1.0, 10.0).reshape(1, 1, 3, 3), 4)   # 4x4 -> 2x2
    >>> C.shape
    torch.Size([4, 16])
    >>> C[0].reshape(4, 4)
    tensor([[1., 2., 3., 0.],
            [4., 5., 6., 0.],
            [7., 8., 9., 0.],
            [0., 0., 0., 0.]])
    """
    weight = _check_tensor(weight, "weight", layout="(C_out, C_in, kH, kW)")
    H, W = _pair(input_size, "input_size", 1)
    sH, sW = _pair(stride, "stride", 1)
    pH, pW = _pair(padding, "padding", 0)
    C_out, C_in, kH, kW = weight.shape
    if min(weight.shape) == 0:
        raise ValueError(f"weight must be non-empty, got shape {tuple(weight.shape)}")
    Ho, Wo = (H + 2 * pH - kH) // sH + 1, (W + 2 * pW - kW) // sW + 1
    if H + 2 * pH < kH or W + 2 * pW < kW:
        raise ValueError(f"the kernel {(kH, kW)} is larger than the padded input "
                         f"{(H + 2 * pH, W + 2 * pW)} (input_size={(H, W)}, padding={(pH, pW)})")
    _check_elements(C_out * Ho * Wo * C_in * H * W,
                    f"the matrix for input_size={(H, W)} and weight {tuple(weight.shape)}")
    dev = weight.device
    # every (output pixel, input channel, tap) triple, broadcast to (C_out, Ho, Wo, C_in, kH, kW)
    o = torch.arange(C_out, device=dev).reshape(-1, 1, 1, 1, 1, 1)
    i = torch.arange(Ho, device=dev).reshape(1, -1, 1, 1, 1, 1)
    j = torch.arange(Wo, device=dev).reshape(1, 1, -1, 1, 1, 1)
    c = torch.arange(C_in, device=dev).reshape(1, 1, 1, -1, 1, 1)
    a = torch.arange(kH, device=dev).reshape(1, 1, 1, 1, -1, 1)
    b = torch.arange(kW, device=dev).reshape(1, 1, 1, 1, 1, -1)
    y, x = i * sH - pH + a, j * sW - pW + b                          # the input pixel read
    shape = (C_out, Ho, Wo, C_in, kH, kW)
    row = ((o * Ho + i) * Wo + j).expand(shape)
    col = ((c * H + y) * W + x).expand(shape)
    inside = ((y >= 0) & (y < H) & (x >= 0) & (x < W)).expand(shape)  # else: a padding zero
    vals = weight.reshape(C_out, 1, 1, C_in, kH, kW).expand(shape)
    C = weight.new_zeros(C_out * Ho * Wo, C_in * H * W)
    C[row[inside], col[inside]] = vals[inside]
    return C


# ---------------------------------------------------------------------- FCN bilinear kernel


def bilinear_kernel(factor: int, channels: int = 1, *, dtype=torch.float32,
                    device=None) -> Tensor:
    """The bilinear upsampling filter of FCN (``upsample_filt`` in Long et al.'s ``surgery.py``).

    A ``k x k`` kernel, ``k = 2 * factor - factor % 2``, the outer product of the
    1-D "tent" ``1 - |t - centre| / factor`` with itself, where ``centre`` is the
    middle of the kernel (``factor - 1`` for odd ``factor``, ``factor - 0.5`` for
    even). Used as the weight of a transposed convolution with stride ``factor``,
    each input pixel stamps a tent and the overlapping tents add up to linear
    interpolation between neighbouring pixels. See :func:`bilinear_upsampling_layer`.

    Parameters
    ----------
    factor : int
        Upsampling factor, ``>= 1``.
    channels : int
        ``>= 1``; the same kernel is repeated for every channel.
    dtype : torch.dtype
        Floating point.
    device : torch.device, optional

    Returns
    -------
    Tensor[channels, 1, k, k]
        The weight of ``nn.ConvTranspose2d(channels, channels, k, stride=factor,
        padding=factor // 2, groups=channels, bias=False)``.

    References
    ----------
    .. [1] J. Long, E. Shelhamer, T. Darrell, "Fully Convolutional Networks for
       Semantic Segmentation", CVPR 2015. arXiv:1411.4038.

    Examples
    --------
    >>> bilinear_kernel(2)[0, 0]
    tensor([[0.0625, 0.1875, 0.1875, 0.0625],
            [0.1875, 0.5625, 0.5625, 0.1875],
            [0.1875, 0.5625, 0.5625, 0.1875],
            [0.0625, 0.1875, 0.1875, 0.0625]])
    """
    factor = _check_int(factor, "factor", 1)
    channels = _check_int(channels, "channels", 1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    device = check_device(device)
    k = 2 * factor - factor % 2
    _check_elements(channels * k * k, f"bilinear_kernel(factor={factor}, channels={channels})")
    centre = factor - 1 if k % 2 == 1 else factor - 0.5
    t = torch.arange(k, dtype=torch.float64, device=device)
    tent = 1 - (t - centre).abs() / factor                               # (k,)
    kernel = (tent[:, None] * tent[None, :]).to(dtype)                  # (k, k)
    return kernel.expand(channels, 1, k, k).clone()


def bilinear_upsampling_layer(channels: int, factor: int, *, learnable: bool = True,
                              dtype=torch.float32, device=None) -> nn.ConvTranspose2d:
    """A transposed convolution that upsamples by ``factor`` and starts as bilinear interpolation.

    ``nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2,
    groups=channels, bias=False)`` with ``k = 2 * factor - factor % 2`` and the
    weight :func:`bilinear_kernel`. With this padding the output is exactly
    ``factor`` times the input: ``(H - 1) f - 2 (f // 2) + k = f H`` for even and
    odd ``f``. (FCN's Caffe model used no padding and cropped afterwards; the
    crop offset there plays the role of the padding here.)

    How it compares with ``F.interpolate(x, scale_factor=f, mode="bilinear",
    align_corners=False)``: equal in the interior (to float round-off); in a
    border of ``f // 2`` pixels on each side it differs, because the transposed
    convolution treats the outside of the image as **zeros** (the border pixels
    receive fewer stamps and get darker) whereas ``F.interpolate`` clamps to the
    edge pixel. Precisely, the layer computes ``F.interpolate`` of the input
    zero-padded by one pixel, with ``f`` pixels cropped from each side of the
    result.

    Parameters
    ----------
    channels : int
        ``>= 1``; each channel is upsampled on its own (``groups=channels``).
    factor : int
        ``>= 1``.
    learnable : bool
        If ``False`` the weight has ``requires_grad=False`` (a fixed interpolation).
    dtype : torch.dtype
        Floating point; the kernel is computed in float64 and rounded once to it.
    device : torch.device, optional

    Returns
    -------
    nn.ConvTranspose2d

    Examples
    --------
    >>> layer = bilinear_upsampling_layer(21, 32)          # FCN-32s: 4 x 4 scores -> 128 x 128
    >>> layer
    ConvTranspose2d(21, 21, kernel_size=(64, 64), stride=(32, 32), padding=(16, 16), groups=21, bias=False)
    >>> layer(torch.zeros(1, 21, 4, 4)).shape
    torch.Size([1, 21, 128, 128])
    """
    channels = _check_int(channels, "channels", 1)
    factor = _check_int(factor, "factor", 1)
    learnable = check_bool(learnable, "learnable")
    k = 2 * factor - factor % 2
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")
    weight = bilinear_kernel(factor, channels, dtype=dtype, device=device)   # checks size, device
    layer = nn.ConvTranspose2d(channels, channels, k, stride=factor, padding=factor // 2,
                               groups=channels, bias=False, dtype=dtype, device=device)
    with torch.no_grad():
        layer.weight.copy_(weight)
    layer.weight.requires_grad_(learnable)
    return layer


# ---------------------------------------------------------------------- unpooling


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size, stride=None, padding=0,
                 output_size=None) -> Tensor:
    """Max-unpooling with the "switches" of a max pooling, as ``F.max_unpool2d``.

    ``F.max_pool2d(x, ..., return_indices=True)`` returns, with each maximum, the
    flat index ``y * W + x`` (per image and channel) of the pixel it came from:
    the *switch*. Unpooling puts each value back at that position of an
    all-zero map; every other pixel stays zero. The decoder thus places
    activations where the encoder found them (Zeiler et al. 2011, SegNet, Noh
    et al. 2015), instead of spreading them over the whole window.

    Parameters
    ----------
    input : Tensor[N, C, H, W]
        The pooled values (or anything of that shape, e.g. decoder features).
    indices : Tensor[N, C, H, W]
        int64 switches from ``max_pool2d(..., return_indices=True)``, each in
        ``[0, H_out * W_out)``; same device as ``input``.
    kernel_size : int or (int, int)
        Of the pooling.
    stride : int or (int, int), optional
        Of the pooling; default ``kernel_size``.
    padding : int or (int, int)
        Of the pooling.
    output_size : (int, int) or (N, C, int, int), optional
        The size of the map before pooling, when pooling rounded down; must lie
        strictly within ``stride`` of the default
        ``(H - 1) * stride - 2 * padding + kernel_size``.

    Returns
    -------
    Tensor[N, C, H_out, W_out]
        Zeros except at the switches.

    Raises
    ------
    ValueError
        Non-4-D tensors, different shapes or devices, an index outside the
        output, or an ``output_size`` out of range.
    TypeError
        ``indices`` not int64.

    Examples
    --------
    >>> x = torch.tensor([[[[1.0, 5.0], [3.0, 2.0]]]])
    >>> pooled, switches = torch.nn.functional.max_pool2d(x, 2, return_indices=True)
    >>> max_unpool2d(pooled, switches, 2)[0, 0]
    tensor([[0., 5.],
            [0., 0.]])
    """
    input = _check_tensor(input, "input")
    indices = _check_tensor(indices, "indices", floating=False)
    if indices.dtype != torch.int64:
        raise TypeError(f"indices must be int64 (as returned by max_pool2d), got {indices.dtype}")
    if indices.shape != input.shape:
        raise ValueError(f"indices must have the shape of input {tuple(input.shape)}, got "
                         f"{tuple(indices.shape)}")
    check_same_device(input, indices, "input", "indices")
    k = _pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    N, C, H, W = input.shape
    default = [(n - 1) * s[a] - 2 * p[a] + k[a] for a, n in enumerate((H, W))]
    if output_size is None:
        size = default
    else:
        if isinstance(output_size, torch.Size):
            output_size = tuple(output_size)
        if not isinstance(output_size, (tuple, list)) or len(output_size) not in (2, 4):
            raise ValueError(f"output_size must be (H, W) or (N, C, H, W), got {output_size!r}")
        size = [_check_int(v, "output_size", 1) for v in output_size[-2:]]
        for a in (0, 1):
            if not default[a] - s[a] < size[a] < default[a] + s[a]:
                raise ValueError(f"output_size must be strictly between {default[a] - s[a]} and "
                                 f"{default[a] + s[a]} along axis {a} (default {tuple(default)} "
                                 f"for kernel_size={k}, stride={s}, padding={p}), got "
                                 f"{tuple(size)}")
    Ho, Wo = size
    if Ho < 1 or Wo < 1:
        raise ValueError(f"the output would have size {(Ho, Wo)}: padding={p} is too large")
    flat = indices.reshape(N, C, H * W)
    if flat.numel() and (int(flat.min()) < 0 or int(flat.max()) >= Ho * Wo):
        raise ValueError(f"indices must lie in [0, {Ho * Wo}) for an output of size {(Ho, Wo)}, "
                         f"got values in [{int(flat.min())}, {int(flat.max())}]")
    out = input.new_zeros(N, C, Ho * Wo)
    out = out.scatter(2, flat, input.reshape(N, C, H * W))               # each value to its switch
    return out.reshape(N, C, Ho, Wo)


# ---------------------------------------------------------------------- image pyramid


def _mirror_index(idx: Tensor, n: int) -> Tensor:
    """Reflect indices into ``[0, n)`` without repeating the edge (d c b | a b c d | c b a)."""
    if n == 1:
        return torch.zeros_like(idx)
    period = 2 * (n - 1)
    idx = idx.remainder(period)
    return torch.where(idx < n, idx, period - idx)


def _symmetric_index(idx: Tensor, n: int) -> Tensor:
    """Reflect indices into ``[0, n)`` repeating the edge (c b a | a b c | c b a)."""
    period = 2 * n
    idx = idx.remainder(period)
    return torch.where(idx < n, idx, period - 1 - idx)


def _filter_axis(x: Tensor, taps: Tensor, dim: int, border) -> Tensor:
    """Correlate ``x`` along ``dim`` with odd-length 1-D ``taps``; borders by index reflection."""
    r = (taps.numel() - 1) // 2
    n = x.shape[dim]
    out = torch.zeros_like(x)
    base = torch.arange(n, device=x.device)
    for t in range(-r, r + 1):
        out = out + taps[t + r] * _take(x, dim, border(base + t, n))
    return out


def _gaussian_taps(sigma: float, dtype, device) -> Tensor:
    """``scipy.ndimage.gaussian_filter1d``'s kernel: radius ``int(4 sigma + 0.5)``, normalised."""
    radius = int(4.0 * sigma + 0.5)
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (t / sigma) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def pyramid_up(image: Tensor, factor=2, sigma: float | None = None, *,
               method: str = "skimage") -> Tensor:
    """One step up an image pyramid: upsample, then smooth with a Gaussian.

    ``method="skimage"`` reproduces ``skimage.transform.pyramid_expand(image,
    upscale=factor, sigma=sigma, channel_axis=...)`` with its defaults (``order=1``,
    ``mode="reflect"``):

    1. bilinear resize to ``ceil(factor * H) x ceil(factor * W)`` with pixel
       centres aligned (as ``F.interpolate(align_corners=False)``), except at the
       border, where skimage *mirrors* the image (``d c b | a b c d``) instead of
       clamping, so the first output pixel is ``0.75 a + 0.25 b``, not ``a``;
    2. a separable Gaussian blur of standard deviation ``sigma`` (default
       ``2 * factor / 6``, a filter about twice the factor wide), truncated at
       4 sigma, with the border repeated symmetrically (``b a | a b c``: skimage
       passes ``mode="reflect"`` to ``scipy.ndimage``, which means that).

    On ``skimage.data.astronaut()`` in float64 the result agrees with skimage to
    about 1e-15 (measured: at most 9e-16 on a 64 x 64 subsampling of it, factor 2;
    ``tests/test_upsampling.py`` asserts 1e-12); in float32, to float32 round-off.

    ``method="cv2"`` is the classic Burt-Adelson step of OpenCV's ``cv2.pyrUp``
    (``factor`` must be 2; ``sigma`` unused): insert a zero after every pixel in
    both directions, then convolve with ``4 * g g^T``, ``g = [1, 4, 6, 4, 1] / 16``,
    the border reflected without repeating the edge (``BORDER_REFLECT_101``).
    The factor 4 compensates for the three zeros inserted per pixel. Per axis,
    even output pixels are ``(x[i-1] + 6 x[i] + x[i+1]) / 8`` and odd ones
    ``(x[i] + x[i+1]) / 2``; at the borders this gives OpenCV's
    ``(6 x[0] + 2 x[1]) / 8`` on the left and ``(x[n-2] + 7 x[n-1]) / 8``, ``x[n-1]``
    on the right (``pyrUp_`` in OpenCV's ``imgproc/src/pyramids.cpp``). OpenCV is
    not a dependency of the course: the tests check hand-computed values.

    Parameters
    ----------
    image : Tensor[N, C, H, W]
        Floating point (convert uint8 with ``/ 255`` first, as skimage does).
    factor : int or float
        ``> 1`` for ``"skimage"``; ``2`` for ``"cv2"``.
    sigma : float, optional
        ``> 0``; default ``2 * factor / 6``.
    method : {"skimage", "cv2"}

    Returns
    -------
    Tensor[N, C, ceil(factor * H), ceil(factor * W)]

    References
    ----------
    .. [1] P. J. Burt, E. H. Adelson, "The Laplacian Pyramid as a Compact Image
       Code", IEEE Trans. Communications 31(4), 1983. doi:10.1109/TCOM.1983.1095851.

    Examples
    --------
    >>> pyramid_up(torch.tensor([[[[0.0, 8.0]]]]), method="cv2")[0, 0, 0]
    tensor([2., 4., 7., 8.])
    """
    image = _check_tensor(image, "image")
    method = check_choice(method, "method", ("skimage", "cv2"))
    factor = check_real(factor, "factor")
    N, C, H, W = image.shape
    if H == 0 or W == 0:
        raise ValueError(f"image must have H, W >= 1, got shape {tuple(image.shape)}")
    if method == "cv2":
        if factor != 2:
            raise ValueError(f"method='cv2' upsamples by factor=2 only, got factor={factor:g}")
        up = image.new_zeros(N, C, 2 * H, 2 * W)
        up[:, :, ::2, ::2] = image                                      # zero insertion
        g = image.new_tensor([1.0, 4.0, 6.0, 4.0, 1.0]) * (2 / 16)      # 2 per axis: 4 in 2-D
        up = _filter_axis(up, g, 2, _mirror_index)
        return _filter_axis(up, g, 3, _mirror_index)
    if not factor > 1:
        raise ValueError(f"factor must be > 1 (as in skimage.transform.pyramid_expand), "
                         f"got {factor:g}")
    sigma = 2 * factor / 6.0 if sigma is None else check_positive(sigma, "sigma")
    Ho, Wo = math.ceil(factor * H), math.ceil(factor * W)
    out = image
    for dim, n_in, n_out in ((2, H, Ho), (3, W, Wo)):
        # pixel centres aligned (scipy.ndimage.zoom with grid_mode=True), mirrored border
        src = (torch.arange(n_out, dtype=torch.float64, device=image.device) + 0.5) \
            * (n_in / n_out) - 0.5
        i0 = src.floor()
        w1 = (src - i0).to(image.dtype)
        i0 = i0.long()
        a = _take(out, dim, _mirror_index(i0, n_in))
        b = _take(out, dim, _mirror_index(i0 + 1, n_in))
        shape = [1, 1, 1, 1]
        shape[dim] = n_out
        out = a * (1 - w1.reshape(shape)) + b * w1.reshape(shape)
    taps = _gaussian_taps(float(sigma), image.dtype, image.device)
    out = _filter_axis(out, taps, 2, _symmetric_index)
    return _filter_axis(out, taps, 3, _symmetric_index)
