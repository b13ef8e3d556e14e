"""Fully convolutional networks: FCN-32s, FCN-16s and FCN-8s (Long, Shelhamer & Darrell).

One class, :class:`FCN`, builds all three: a backbone (:class:`~.backbone.SmallVGG`), the
classifier's fully connected layers turned into convolutions (``fc6`` a 3x3 convolution,
``fc7`` a 1x1 convolution: notebook 06), a 1x1 ``score`` layer giving class scores at
stride 32, and then, for each skip layer, a learned 2x upsampling (a transposed
convolution initialised as bilinear interpolation) added to the scores predicted from
that finer pool layer. The last map is upsampled to the image with fixed bilinear
interpolation.

=========  ===================  =====================================
model      ``skips``            final upsampling
=========  ===================  =====================================
FCN-32s    ``()``               x32 from pool5's scores
FCN-16s    ``("pool4",)``       x16 after fusing pool4
FCN-8s     ``("pool4", "pool3")``  x8 after fusing pool4 and pool3
=========  ===================  =====================================

The skip score layers start at zero, as in the paper's staged training, so that a fresh
FCN-8s predicts what its FCN-32s part predicts (the pool5 scores, interpolated in steps of
2, 2 and 8 instead of one step of 32, so the scores differ slightly by interpolation) and
the skips only add detail as they learn.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .._checks import check_channels, check_int, check_names, check_real
from .backbone import STAGE_NAMES, SmallVGG
from .fusion import match_size, upsample_to
from .pretrained import wants_weights

__all__ = ["FCN", "fcn32s", "fcn16s", "fcn8s", "bilinear_upsampler"]


def bilinear_upsampler(channels: int, factor: int = 2) -> nn.ConvTranspose2d:
    """A learnable ``channels -> channels`` transposed convolution that upsamples by
    ``factor`` and starts as bilinear interpolation (kernel ``2 factor``, stride
    ``factor``, padding ``factor // 2``: output size exactly ``factor`` times the input).

    The weight is zero except on the diagonal ``weight[c, c]``, which holds the FCN bilinear
    kernel (:func:`course_lib.upsampling.bilinear_kernel`), so each class map is
    interpolated on its own until training mixes them.
    """
    from ..upsampling import bilinear_kernel

    channels = check_channels(channels, "channels")
    factor = check_int(factor, "factor", low=2)
    if factor % 2:
        raise ValueError(f"factor must be an even integer >= 2, got {factor}")
    layer = nn.ConvTranspose2d(channels, channels, 2 * factor, stride=factor,
                               padding=factor // 2, bias=False)
    kernel = bilinear_kernel(factor, 1)[0, 0]                       # (2f, 2f)
    with torch.no_grad():
        layer.weight.zero_()
        idx = torch.arange(channels)
        layer.weight[idx, idx] = kernel.to(layer.weight.dtype)
    return layer


class FCN(nn.Module):
    """A fully convolutional network with optional skip layers (FCN-32s/16s/8s).

    Parameters
    ----------
    num_classes : int, default 21
        Number of output classes (21 = Pascal VOC, which Pasture's labels use).
    skips : sequence of str, default ("pool4", "pool3")
        Pool layers fused, coarsest first: ``()`` is FCN-32s, ``("pool4",)`` FCN-16s,
        ``("pool4", "pool3")`` FCN-8s; ``("pool4", "pool3", "pool2")`` goes on to stride 4.
    backbone : SmallVGG, "small", "vgg16" or a module, optional
        The feature extractor: a new :class:`SmallVGG` by default; ``"vgg16"`` is
        torchvision's VGG-16 (:class:`~course_lib.models.pretrained.VGG16Backbone`).
    pretrained : bool or path, optional
        With ``backbone="vgg16"``: start from ImageNet weights already on disk (never
        downloaded); see :mod:`course_lib.models.pretrained`.
    head_channels : int, default 128
        Width of ``fc6`` / ``fc7``.
    dropout : float, default 0.0
        Channel dropout after ``fc6`` and ``fc7`` (training only). Off by default: with
        a training budget of minutes the network underfits rather than overfits, and
        random masks would make data-parallel training differ from one process.

    Shapes
    ------
    ``forward(x)``: ``x (Tensor[N, 3, H, W])`` -> logits ``Tensor[N, num_classes, H, W]``
    for any ``H, W >= 32`` (odd sizes included). ``forward(x, coarse=True)`` returns the
    logits before the final upsampling, at stride ``self.output_stride``.
    """

    def __init__(self, num_classes: int = 21, skips=("pool4", "pool3"), *,
                 backbone: SmallVGG | str | None = None, head_channels: int = 128,
                 dropout: float = 0.0, pretrained=None):
        super().__init__()
        num_classes = check_channels(num_classes, "num_classes")
        skips = check_names(skips, "skips", "pool names")
        expected = STAGE_NAMES[-2::-1]                # pool4, pool3, pool2, pool1
        if skips != expected[:len(skips)]:
            raise ValueError(f"skips must be a prefix of {expected} (coarsest first), got {skips}")
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
                            f"out_channels and strides, got {type(backbone).__name__}")
        head_channels = check_channels(head_channels, "head_channels")
        dropout = check_real(dropout, "dropout", low=0.0, high=1.0, high_open=True)
        self.num_classes, self.skips = num_classes, skips
        self.backbone = backbone
        c5 = backbone.out_channels["pool5"]
        self.head = nn.Sequential(                   # fc6 and fc7 as convolutions
            nn.Conv2d(c5, head_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(head_channels), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
            nn.Conv2d(head_channels, head_channels, 1, bias=False),
            nn.BatchNorm2d(head_channels), nn.ReLU(inplace=True), nn.Dropout2d(dropout),
        )
        self.score = nn.Conv2d(head_channels, num_classes, 1)
        self.skip_scores = nn.ModuleDict()
        self.upscores = nn.ModuleDict()
        for name in skips:
            layer = nn.Conv2d(backbone.out_channels[name], num_classes, 1)
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
            self.skip_scores[name] = layer
            self.upscores[name] = bilinear_upsampler(num_classes, 2)
        self.output_stride = backbone.strides["pool5"] // 2 ** len(skips)

    @property
    def name(self) -> str:
        return f"FCN-{self.output_stride}s"

    def forward(self, x: Tensor, *, coarse: bool = False) -> Tensor:
        features = self.backbone(x)
        scores = self.score(self.head(features["pool5"]))          # (N, K, H/32, W/32)
        for name in self.skips:
            skip = self.skip_scores[name](features[name])           # (N, K, H/s, W/s)
            up = self.upscores[name](scores)                        # 2x the coarser map
            scores = match_size(up, skip.shape[-2:], max_change=1) + skip
        if coarse:
            return scores
        return upsample_to(scores, x.shape[-2:], self.output_stride)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, skips={self.skips}"


def fcn32s(num_classes: int = 21, **kwargs) -> FCN:
    """FCN-32s: pool5's scores upsampled 32x."""
    return FCN(num_classes, (), **kwargs)


def fcn16s(num_classes: int = 21, **kwargs) -> FCN:
    """FCN-16s: pool5's scores, 2x, plus pool4's; upsampled 16x."""
    return FCN(num_classes, ("pool4",), **kwargs)


def fcn8s(num_classes: int = 21, **kwargs) -> FCN:
    """FCN-8s: FCN-16s's fused scores, 2x, plus pool3's; upsampled 8x."""
    return FCN(num_classes, ("pool4", "pool3"), **kwargs)
