"""Hypercolumns (Hariharan, Arbeláez, Girshick & Malik, CVPR 2015), with a grid of classifiers.

The **hypercolumn** of a pixel is the vector of the activations of *all* chosen layers
above it: each layer's feature map is upsampled to the pixel and the vectors are
concatenated (:func:`hypercolumn_features`). A classifier on the hypercolumn sees both the
fine, local detail of the early layers and the coarse, semantic context of the late ones.

**Where a feature is matters.** The same features mean different things in different parts
of the object (or image): "fur" at the top of a box is the head, at the bottom the legs. One
classifier per pixel would be ``H x W`` classifiers, each trained on the few examples that
land on its pixel: far too many parameters, and they would not generalise. The paper's
compromise is a coarse ``G x G`` grid of classifiers (``G = 5``), one per grid cell; the
score of a pixel is the **bilinear interpolation** of the scores of the (up to four) grid
classifiers whose cell centres surround it (:func:`grid_weights`), so the classifier changes
smoothly across the image.

**Classify, then upsample.** Upsampling a ``55 x 55 x 96`` map to ``227 x 227`` before
classifying it touches 17 times as many numbers as the map itself. Bilinear upsampling and a
linear classifier are both linear maps (upsampling mixes positions, the classifier mixes
channels), so they commute: classify each layer's features at the layer's own resolution
(a 1x1 convolution with its share of the classifier's weights), upsample the much thinner
score maps, and sum them. That is what :class:`HypercolumnNet` computes; the result equals a
linear layer on the explicit hypercolumns (``tests/test_hypercolumn.py`` checks it in
float64).

**A grid needs few score maps.** Classifying first upsamples ``G**2 K`` score maps (525 for a
5x5 grid and 21 classes), which only saves work when that is less than the hypercolumn's
channels. :class:`HypercolumnNet` therefore uses, by default, a classifier with one hidden
layer: its first layer (64 units) is linear and is moved before the upsampling; batch norm
and a ReLU follow at the output resolution (they do not commute with upsampling); then the
grid of linear classifiers, :class:`GridClassifier`, whose interpolated outputs are computed
as one classifier per position with interpolated weights (equal, by linearity), so the
``G**2 K`` score maps are never formed. ``hidden=None`` gives the purely linear version.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

from .._checks import _got, check_channels, check_int, check_names, check_real, check_size_pair
from .backbone import STAGE_NAMES, SmallVGG
from .fusion import upsample_to
from .pretrained import wants_weights

__all__ = ["HypercolumnNet", "GridClassifier", "hypercolumn_net", "hypercolumn_features",
           "grid_weights", "combine_grid", "DEFAULT_STRIDES"]

#: Strides of :class:`SmallVGG`'s outputs: pool1 2, pool2 4, ..., pool5 32.
DEFAULT_STRIDES = {name: 2 ** (i + 1) for i, name in enumerate(STAGE_NAMES)}


# --------------------------------------------------------------------------- checks
def _check_layers(layers, name: str = "layers") -> tuple[str, ...]:
    layers = check_names(layers, name, "layer names")
    if not layers:
        raise ValueError(f"{name} must name at least one layer, got ()")
    if len(set(layers)) != len(layers):
        raise ValueError(f"{name} must not repeat a layer, got {layers}")
    return layers


#: Most weights of a GridClassifier (1 GiB of float32): a larger grid is a typo.
_MAX_GRID_WEIGHTS = 1 << 28


def _check_grid(grid) -> int:
    return check_int(grid, "grid", low=1)


def _check_fits(grid: int, h: int, w: int, what: str) -> None:
    if grid > h or grid > w:
        raise ValueError(f"grid ({grid}) is larger than the {h}x{w} {what}: a {grid}x{grid} "
                         f"grid of classifiers needs at least {grid}x{grid} positions (use a "
                         "smaller grid or a larger input)")


# --------------------------------------------------------------------------- functions
def hypercolumn_features(features: Mapping[str, Tensor], layers, size, *,
                         output_stride: int = 1, strides: Mapping[str, int] | None = None
                         ) -> Tensor:
    """The explicit hypercolumns: each layer upsampled to ``size``, then concatenated.

    Parameters
    ----------
    features : dict of str -> Tensor[N, C_l, h_l, w_l]
        Feature maps by layer name, e.g. the output of :class:`SmallVGG`.
    layers : sequence of str
        The layers to use, in the order their channels are concatenated.
    size : (H, W)
        The output size, at stride ``output_stride`` (the image size for the default 1).
    output_stride : int, default 1
        Stride of the output grid; every layer's stride must be a multiple of it.
    strides : dict of str -> int, optional
        Stride of each layer (default: :data:`DEFAULT_STRIDES`, SmallVGG's pool1..pool5).

    Returns
    -------
    Tensor[N, sum(C_l), H, W]
        Channel block ``l`` is layer ``l`` upsampled bilinearly by ``stride_l /
        output_stride`` (:func:`~.fusion.upsample_to`: cell ``i`` stays on pixels ``[i f,
        (i + 1) f)``, the last row/column repeated when ``size`` is odd).

    Raises
    ------
    TypeError, ValueError
        A missing layer, a map that is not a 4-D floating-point tensor, maps with different
        batch sizes or devices, a layer whose stride is not a multiple of ``output_stride``,
        and maps whose sizes cannot be fused (a map of stride ``s`` must be within one cell
        of ``size / (s / output_stride)``).

    Notes
    -----
    This materialises ``sum(C_l)`` channels at full resolution: the expensive way.
    :class:`HypercolumnNet` classifies every layer first and upsamples the scores, which is
    equal (both steps are linear) and cheaper.

    Examples
    --------
    >>> feats = SmallVGG()(torch.zeros(1, 3, 64, 96))
    >>> hypercolumn_features(feats, ("pool2", "pool5"), (64, 96)).shape
    torch.Size([1, 160, 64, 96])
    """
    if not isinstance(features, Mapping):
        raise TypeError(f"features must be a dict of layer name -> (N, C, h, w) tensor, got "
                        f"{_got(features)}")
    layers = _check_layers(layers)
    H, W = check_size_pair(size)
    output_stride = check_int(output_stride, "output_stride", low=1)
    strides = DEFAULT_STRIDES if strides is None else strides
    maps = [_layer_map(features, name, strides, output_stride, (H, W)) for name in layers]
    _check_together(maps, layers)
    return torch.cat([upsample_to(f, (H, W), factor) for f, factor in maps], dim=1)


def _layer_map(features, name: str, strides, output_stride: int, size) -> tuple[Tensor, int]:
    """``(features[name], upsampling factor)`` after checking shape, dtype, stride and size."""
    where = f"features[{name!r}]"
    if name not in features:
        raise ValueError(f"layers names {name!r}, which features does not hold (it has "
                         f"{sorted(features)})")
    f = features[name]
    if not isinstance(f, Tensor):
        raise TypeError(f"{where} must be a torch.Tensor, got {_got(f)}")
    if f.ndim != 4:
        raise ValueError(f"{where} must be a 4-D (N, C, h, w) tensor, got shape "
                         f"{tuple(f.shape)}")
    if not f.is_floating_point():
        raise TypeError(f"{where} must be floating point, got dtype {f.dtype}")
    if name not in strides:
        raise ValueError(f"strides has no stride for layer {name!r} (it has {sorted(strides)})")
    stride = check_int(strides[name], f"strides[{name!r}]", low=1)
    if stride % output_stride:
        raise ValueError(f"output_stride ({output_stride}) must divide the stride of every "
                         f"layer; {name!r} has stride {stride}")
    factor = stride // output_stride
    (H, W), (h, w) = size, f.shape[-2:]
    if abs(h * factor - H) > factor or abs(w * factor - W) > factor or h == 0 or w == 0:
        raise ValueError(
            f"{where} of size {h}x{w} (stride {stride}) cannot be fused into a {H}x{W} output "
            f"at stride {output_stride}: upsampled by {factor} it would be "
            f"{h * factor}x{w * factor}, more than one cell ({factor} px) away; expected "
            f"about {H // factor}x{W // factor} (are the maps from the same image, and the "
            "strides right?)")
    return f, factor


def _check_together(maps, layers) -> None:
    first, name0 = maps[0][0], layers[0]
    for (f, _), name in zip(maps[1:], layers[1:]):
        if f.shape[0] != first.shape[0]:
            raise ValueError(f"features[{name!r}] has batch size {f.shape[0]} but "
                             f"features[{name0!r}] has {first.shape[0]}: they cannot be fused")
        if f.device != first.device:
            raise ValueError(f"features[{name!r}] is on {f.device} but features[{name0!r}] "
                             f"is on {first.device}: move them to one device")


def grid_weights(size, grid: int, *, dtype=torch.float32, device=None) -> Tensor:
    """Bilinear interpolation weights of a ``grid x grid`` array of classifiers.

    The image (or score map) of ``size`` is cut into ``grid x grid`` equal cells; classifier
    ``(gy, gx)`` sits at the centre of its cell. A pixel takes the weighted mean of the
    scores of the classifiers around it, with the bilinear weights of its position between
    their centres; pixels outside the outermost centres use the nearest edge classifiers.

    Parameters
    ----------
    size : (H, W)
    grid : int
        Classifiers per side, ``1 <= grid <= min(H, W)``.

    Returns
    -------
    Tensor[grid * grid, H, W]
        Channel ``gy * grid + gx`` holds the weight of classifier ``(gy, gx)`` at every
        pixel. The weights are >= 0 and sum to 1 at every pixel; a pixel whose centre is a
        cell centre has weight 1 for its own classifier.

    Notes
    -----
    Pixel ``i``'s centre is ``i + 0.5``, cell ``g``'s centre ``(g + 0.5) H / grid``; along
    one axis pixel ``i`` sits at position ``t = (i + 0.5) grid / H - 0.5`` (clamped to
    ``[0, grid - 1]``) on the axis of centres, so it gives weight ``1 - (t - floor t)`` to
    classifier ``floor t`` and ``t - floor t`` to the next. This is bilinear upsampling of a
    one-hot ``grid x grid`` map with ``align_corners=False`` (``F.interpolate``); the 2-D
    weight is the product of the two axes' weights.

    Examples
    --------
    >>> w = grid_weights((5, 10), 2)
    >>> w.shape, bool(torch.allclose(w.sum(0), torch.ones(5, 10)))
    (torch.Size([4, 5, 10]), True)
    >>> [round(v, 2) for v in w[0, 2].tolist()]     # classifier (0, 0) on the middle row
    [0.5, 0.5, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0, 0.0, 0.0]
    """
    H, W = check_size_pair(size)
    grid = _check_grid(grid)
    _check_fits(grid, H, W, "output")
    wy = _axis_weights(H, grid, device)                     # (grid, H) float64
    wx = _axis_weights(W, grid, device)                     # (grid, W)
    w = wy[:, None, :, None] * wx[None, :, None, :]         # (grid, grid, H, W)
    return w.reshape(grid * grid, H, W).to(dtype)


def _axis_weights(n: int, grid: int, device) -> Tensor:
    """(grid, n) float64: linear interpolation weights of ``n`` pixels between grid centres."""
    t = (torch.arange(n, dtype=torch.float64, device=device) + 0.5) * grid / n - 0.5
    t = t.clamp(0, grid - 1)
    lo = t.floor().long().clamp(max=grid - 1)
    hi = (lo + 1).clamp(max=grid - 1)
    frac = t - lo
    w = torch.zeros(grid, n, dtype=torch.float64, device=device)
    cols = torch.arange(n, device=device)
    w.index_put_((lo, cols), 1 - frac, accumulate=True)
    w.index_put_((hi, cols), frac, accumulate=True)
    return w


def _interp_matrix(n_out: int, n_in: int, factor: int, dtype, device) -> Tensor:
    """(n_out, n_in): 1-D linear interpolation by ``factor`` (``align_corners=False``, the
    source position clamped to ``[0, n_in - 1]``), rows past ``n_in * factor`` repeating the
    last one: :func:`~.fusion.upsample_to` along one axis, as a matrix."""
    src = ((torch.arange(n_out, dtype=torch.float64, device=device) + 0.5) / factor - 0.5)
    src = src.clamp(0, n_in - 1)
    lo = src.floor().long()
    hi = (lo + 1).clamp(max=n_in - 1)
    frac = src - lo
    rows = torch.arange(n_out, device=device)
    m = torch.zeros(n_out, n_in, dtype=torch.float64, device=device)
    m.index_put_((rows, lo), 1 - frac, accumulate=True)
    m.index_put_((rows, hi), frac, accumulate=True)
    return m.to(dtype)


def _upsample_nhwc(z: Tensor, size: tuple[int, int], factor: int) -> Tensor:
    """:func:`~.fusion.upsample_to` of a channels-last ``z (Tensor[N, h, w, C])`` as two
    batched matrix products (rows, then columns): ``Tensor[N, H, W, C]``.

    The same linear map as ``F.interpolate``; with the channels last, neither product copies
    its input, and the backward pass is two more matrix products, several times faster on
    a CPU than ``upsample_bilinear2d``'s backward for the hundreds of score maps of a grid
    of classifiers.
    """
    (H, W), (N, h, w, C) = size, z.shape
    if factor == 1 and (h, w) == (H, W):
        return z
    a_h = _interp_matrix(H, h, factor, z.dtype, z.device)              # (H, h)
    a_w = _interp_matrix(W, w, factor, z.dtype, z.device)              # (W, w)
    z = a_h @ z.reshape(N, h, w * C)                                    # (N, H, w C)
    z = a_w @ z.reshape(N * H, w, C)                                    # (N H, W, C)
    return z.view(N, H, W, C)


def combine_grid(scores: Tensor, weights: Tensor) -> Tensor:
    """Interpolate the outputs of a grid of classifiers: ``sum_g weights[g] * scores[:, g]``.

    Parameters
    ----------
    scores : Tensor[N, G, K, H, W]
        Scores of each of the ``G = grid * grid`` classifiers at every position.
    weights : Tensor[G, H, W]
        From :func:`grid_weights`.

    Returns
    -------
    Tensor[N, K, H, W]
    """
    if not isinstance(scores, Tensor) or scores.ndim != 5:
        raise ValueError(f"scores must be a 5-D (N, G, K, H, W) tensor, got "
                         f"{tuple(scores.shape) if isinstance(scores, Tensor) else _got(scores)}")
    if not isinstance(weights, Tensor) or weights.ndim != 3:
        raise ValueError(f"weights must be a 3-D (G, H, W) tensor, got "
                         f"{tuple(weights.shape) if isinstance(weights, Tensor) else _got(weights)}")
    N, G, K, H, W = scores.shape
    if weights.shape != (G, H, W):
        raise ValueError(f"weights must have shape (G, H, W) = {(G, H, W)} to match scores of "
                         f"shape {tuple(scores.shape)}, got {tuple(weights.shape)}")
    return (scores * weights.to(scores)[:, None]).sum(1)


# --------------------------------------------------------------------------- the network
class GridClassifier(nn.Module):
    """``grid x grid`` linear classifiers ``C -> K`` on a feature map, outputs interpolated.

    Classifier ``g`` has weight ``weight[g] (K x C)`` and bias ``bias[g] (K)``. At position
    ``p`` the output is ``sum_g w_g(p) (weight[g] z(p) + bias[g])`` with the bilinear weights
    ``w_g(p)`` of :func:`grid_weights`. Because the classifiers are linear, interpolating their
    *outputs* equals applying one classifier per position whose *weights* are interpolated,
    ``(sum_g w_g(p) weight[g]) z(p)``: :meth:`forward` computes it that way, with at most
    ``K C`` multiplications per position instead of ``grid**2 K C``. :meth:`scores` gives
    every classifier's own scores (for pictures and tests).

    All classifiers start equal (the grid starts as one location-independent classifier).
    """

    def __init__(self, in_channels: int, num_classes: int, grid: int):
        super().__init__()
        self.in_channels = check_channels(in_channels, "in_channels")
        self.num_classes = check_channels(num_classes, "num_classes")
        self.grid = _check_grid(grid)
        G2 = self.grid * self.grid
        if G2 * (self.in_channels + 1) * self.num_classes > _MAX_GRID_WEIGHTS:
            raise ValueError(f"grid={self.grid} gives {G2} classifiers of {self.num_classes} x "
                             f"{self.in_channels + 1} weights: more than {_MAX_GRID_WEIGHTS} in all")
        one = nn.Conv2d(in_channels, num_classes, 1)          # PyTorch's default init
        self.weight = nn.Parameter(one.weight.detach()[:, :, 0, 0].expand(G2, -1, -1).clone())
        self.bias = nn.Parameter(one.bias.detach().expand(G2, -1).clone())

    def scores(self, z: Tensor) -> Tensor:
        """``z (Tensor[N, C, h, w])`` -> every classifier's scores ``Tensor[N, grid**2, K, h,
        w]``."""
        return (torch.einsum("gkc,nchw->ngkhw", self.weight, z)
                + self.bias[None, :, :, None, None])

    def forward(self, z: Tensor) -> Tensor:
        """The interpolated scores ``Tensor[N, K, h, w]``."""
        N, C, h, w = z.shape
        weights = grid_weights((h, w), self.grid, dtype=z.dtype, device=z.device)   # (G2,h,w)
        w_pix = torch.einsum("gp,gkc->pkc", weights.view(-1, h * w), self.weight)   # (hw,K,C)
        b_pix = weights.view(-1, h * w).T @ self.bias                               # (hw, K)
        z_pix = z.permute(2, 3, 0, 1).reshape(h * w, N, C)                          # (hw,N,C)
        out = torch.baddbmm(b_pix[:, None, :], z_pix, w_pix.transpose(1, 2))       # (hw,N,K)
        return out.view(h, w, N, -1).permute(2, 3, 0, 1)                            # (N,K,h,w)

    def extra_repr(self) -> str:
        return (f"in_channels={self.in_channels}, num_classes={self.num_classes}, "
                f"grid={self.grid}")


class HypercolumnNet(nn.Module):
    """A hypercolumn classifier with a ``grid x grid`` array of location-specific classifiers.

    For each chosen layer ``l``, a 1x1 convolution ``score[l]`` (layer ``l``'s block of the
    first linear layer on the hypercolumn) maps its ``C_l`` channels to ``width`` maps at the
    layer's own resolution; the maps are upsampled bilinearly to stride ``output_stride``
    and summed. Both steps are linear, so this *is* a linear layer on the concatenated,
    upsampled hypercolumn, computed in the cheap order. Then:

    * ``hidden=None``, a linear classifier (the paper's derivation): ``width = grid**2 K``,
      one set of ``K`` class scores per grid classifier, mixed at every position with the
      weights of :func:`grid_weights` (:func:`combine_grid`);
    * ``hidden=H`` (default 64), a classifier with one hidden layer: ``width = H`` hidden
      units, then batch norm and a ReLU, then a :class:`GridClassifier` of linear
      classifiers ``H -> K``. The commutation only holds for the linear part, so the
      non-linearity comes after the sum, at the output resolution. It is also the cheaper
      choice here: with 21 classes a 5x5 grid has 525 score maps to upsample, 64 hidden
      units only 64.

    The logits at stride ``output_stride`` are upsampled to the image like FCN's.

    Parameters
    ----------
    num_classes : int, default 21
    layers : sequence of str, default ("pool2", "pool3", "pool4", "pool5")
        Backbone outputs that make up the hypercolumn.
    grid : int, default 5
        Classifiers per side (the paper's 5); ``1`` is a single classifier everywhere.
    backbone : SmallVGG, "small", "vgg16" or a module, optional
        The feature extractor: a new :class:`SmallVGG` by default; ``"vgg16"`` is
        torchvision's VGG-16 (:class:`~course_lib.models.pretrained.VGG16Backbone`); any
        module returning a dict of feature maps, with ``strides`` and ``out_channels``.
    pretrained : bool or path, optional
        With ``backbone="vgg16"``: start from ImageNet weights already on disk (never
        downloaded); see :mod:`course_lib.models.pretrained`.
    output_stride : int, optional
        Resolution at which the hypercolumn is classified and the grid interpolated (default:
        the finest chosen layer's stride, 4 for pool2); must divide every layer's stride.
    hidden : int or None, default 64
        Hidden units of a non-linear classifier (see above); ``None`` for a linear one.
    dropout : float, default 0.0
        Channel dropout on each layer's features (training only; off by default, like
        FCN's: a training budget of minutes underfits rather than overfits).

    Shapes
    ------
    ``forward(x)``: ``x (Tensor[N, 3, H, W])`` -> logits ``Tensor[N, num_classes, H, W]``
    for any ``H, W >= 32`` for which the grid fits the score map (``H // output_stride >=
    grid``). ``forward(x, coarse=True)``: the logits at stride ``output_stride``.
    :meth:`grid_scores` returns every grid classifier's scores, ``Tensor[N, grid**2,
    num_classes, H // output_stride, W // output_stride]``.

    References
    ----------
    B. Hariharan, P. Arbeláez, R. Girshick, J. Malik. "Hypercolumns for Object Segmentation
    and Fine-grained Localization", CVPR 2015. arXiv:1411.5752

    Examples
    --------
    >>> net = HypercolumnNet(grid=3).eval()
    >>> net(torch.zeros(1, 3, 97, 131)).shape
    torch.Size([1, 21, 97, 131])
    """

    def __init__(self, num_classes: int = 21, layers=("pool2", "pool3", "pool4", "pool5"),
                 grid: int = 5, *, backbone: SmallVGG | str | nn.Module | None = None,
                 output_stride: int | None = None, hidden: int | None = 64,
                 dropout: float = 0.0, pretrained=None):
        super().__init__()
        num_classes = check_channels(num_classes, "num_classes")
        layers = _check_layers(layers)
        grid = _check_grid(grid)
        if backbone is None or (isinstance(backbone, str) and backbone == "small"):
            if wants_weights(pretrained):
                raise ValueError("pretrained weights exist only for backbone='vgg16'")
            backbone = SmallVGG()
        elif isinstance(backbone, str) and backbone == "vgg16":
            from .pretrained import VGG16Backbone

            backbone = VGG16Backbone(pretrained)
        if not (isinstance(backbone, nn.Module) and hasattr(backbone, "out_channels")
                and hasattr(backbone, "strides")):
            raise TypeError("backbone must be 'small', 'vgg16', a SmallVGG or a module with "
                            f"out_channels and strides, got {_got(backbone)}")
        for name in layers:
            if name not in backbone.strides:
                raise ValueError(f"layers must be backbone outputs {tuple(backbone.strides)}, "
                                 f"got {name!r}")
        finest = min(backbone.strides[name] for name in layers)
        if output_stride is None:
            output_stride = finest
        output_stride = check_int(output_stride, "output_stride", low=1)
        for name in layers:
            if backbone.strides[name] % output_stride:
                raise ValueError(f"output_stride ({output_stride}) must divide the stride of "
                                 f"every layer; {name!r} has stride {backbone.strides[name]}")
        if hidden is not None:
            hidden = check_int(hidden, "hidden", low=1)
        dropout = check_real(dropout, "dropout", low=0.0, high=1.0, high_open=True)
        self.num_classes, self.layers, self.grid = num_classes, layers, grid
        self.output_stride, self.hidden = output_stride, hidden
        self.backbone = backbone
        self.dropout = nn.Dropout2d(dropout)
        width = grid * grid * num_classes if hidden is None else hidden
        # one 1x1 conv per layer = that layer's block of columns of the first layer's weight
        # matrix; a single bias (on the first layer's conv) serves the sum
        self.score = nn.ModuleDict({
            name: nn.Conv2d(backbone.out_channels[name], width, 1, bias=(i == 0))
            for i, name in enumerate(layers)})
        if hidden is None:
            self.hidden_act = None
            self.classifier = None
            self._init_grid_alike()
        else:
            self.hidden_act = nn.Sequential(nn.BatchNorm2d(hidden), nn.ReLU(inplace=True))
            self.classifier = GridClassifier(hidden, num_classes, grid)

    def _init_grid_alike(self) -> None:
        """Start every grid classifier as the same classifier: the net begins as one
        location-independent classifier, and training makes them differ only where the
        data asks for it (as FCN-8s starts as FCN-32s)."""
        G2, K = self.grid * self.grid, self.num_classes
        with torch.no_grad():
            for conv in self.score.values():
                w = conv.weight.view(G2, K, -1)
                w.copy_(w[:1].expand_as(w))
                if conv.bias is not None:
                    b = conv.bias.view(G2, K)
                    b.copy_(b[:1].expand_as(b))

    @property
    def name(self) -> str:
        return f"Hypercolumn-{self.grid}x{self.grid}"

    def _check_input(self, x) -> None:
        c = getattr(self.backbone, "in_channels", 3)
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {_got(x)}")
        if x.ndim != 4 or x.shape[1] != c:
            raise ValueError(f"x must be a (N, {c}, H, W) tensor, got shape {tuple(x.shape)}")
        h, w = x.shape[-2] // self.output_stride, x.shape[-1] // self.output_stride
        if x.shape[-2] >= 32 and x.shape[-1] >= 32:
            _check_fits(self.grid, h, w, f"score map (stride {self.output_stride}) of this "
                                         f"{x.shape[-2]}x{x.shape[-1]} input")

    def hypercolumn_scores(self, x: Tensor) -> Tensor:
        """The first, linear layer on the hypercolumn: the sum over layers of the upsampled
        per-layer 1x1 convolutions, ``Tensor[N, width, H // os, W // os]`` (``width = grid**2
        K`` when linear, else ``hidden``; before the non-linearity)."""
        self._check_input(x)
        features = self.backbone(x)
        size = (x.shape[-2] // self.output_stride, x.shape[-1] // self.output_stride)
        total = None
        for name in self.layers:
            s = self.score[name](self.dropout(features[name]))     # (N, width, H/s_l, W/s_l)
            factor = self.backbone.strides[name] // self.output_stride
            s = _upsample_nhwc(s.permute(0, 2, 3, 1), size, factor)  # (N, H/os, W/os, width)
            total = s if total is None else total + s
        return total.permute(0, 3, 1, 2)                            # (N, width, H/os, W/os)

    def grid_scores(self, x: Tensor) -> Tensor:
        """Every grid classifier's scores at every position: ``Tensor[N, grid**2, K, H // os,
        W // os]`` (classifier ``(gy, gx)`` at index ``gy * grid + gx``)."""
        s = self.hypercolumn_scores(x)                              # (N, width, h, w)
        if self.classifier is not None:
            return self.classifier.scores(self.hidden_act(s))
        N, _, h, w = s.shape
        G2, K = self.grid * self.grid, self.num_classes
        # split the channels in the channels-last layout (a view, no copy)
        s = s.permute(0, 2, 3, 1).reshape(N, h, w, G2, K)          # (N, h, w, G*G, K)
        return s.permute(0, 3, 4, 1, 2)                             # (N, G*G, K, h, w)

    def forward(self, x: Tensor, *, coarse: bool = False) -> Tensor:
        if self.classifier is not None:
            out = self.classifier(self.hidden_act(self.hypercolumn_scores(x)))  # (N, K, h, w)
        else:
            scores = self.grid_scores(x)                            # (N, G*G, K, h, w)
            weights = grid_weights(scores.shape[-2:], self.grid, dtype=scores.dtype,
                                   device=scores.device)            # (G*G, h, w)
            out = combine_grid(scores, weights)                     # (N, K, h, w)
        if coarse:
            return out
        return upsample_to(out, x.shape[-2:], self.output_stride)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, layers={self.layers}, grid={self.grid}, "
                f"output_stride={self.output_stride}, hidden={self.hidden}")


def hypercolumn_net(num_classes: int = 21, **kwargs) -> HypercolumnNet:
    """The registry constructor of ``"hypercolumn"``: :class:`HypercolumnNet` (pool2 ...
    pool5, a 5x5 grid, 64 hidden units). (Not named ``hypercolumn``, which would hide the
    module ``course_lib.models.hypercolumn``.)"""
    return HypercolumnNet(num_classes, **kwargs)
