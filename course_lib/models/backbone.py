"""A small VGG-style backbone: stages of 3x3 convolutions, each followed by a 2x2 max-pool.

Like VGG-16 (the network FCN was built on), every stage halves the resolution, so the
outputs ``pool1 ... pool5`` have strides 2, 4, 8, 16 and 32. Unlike VGG-16 it is small
(about 0.9 M parameters with the default widths) and uses batch normalisation, so that it
trains from scratch in a minute or two on a laptop CPU at 128 px.

Every later model of the course (FCN-32s/16s/8s, the hypercolumn network, the mask head)
takes its features from :class:`SmallVGG`'s dictionary of stage outputs.
"""

from __future__ import annotations

from torch import Tensor, nn

from .._checks import check_bool, check_channels, check_int

__all__ = ["SmallVGG", "conv_block", "STAGE_NAMES"]

STAGE_NAMES = ("pool1", "pool2", "pool3", "pool4", "pool5")


#: Most conv blocks per stage (a typo such as 10**6 would build layers for minutes).
_MAX_CONVS = 64


def _check_positive_ints(value, name: str, length: int, check) -> tuple:
    """``length`` ints (one per stage), each passed through ``check``, as a tuple of ``int``."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        value = tuple(value)                              # (a 0-d tensor cannot be iterated)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of ints, got {type(value).__name__}") from None
    if len(value) != length:
        raise ValueError(f"{name} must have {length} entries (one per stage), got {len(value)}")
    return tuple(check(v, f"{name}[{k}]") for k, v in enumerate(value))


def _check_convs(value, name: str) -> int:
    return check_int(value, name, low=1, high=_MAX_CONVS)


def conv_block(in_channels: int, out_channels: int, *, norm: bool = True) -> nn.Sequential:
    """3x3 convolution (padding 1, so the size is kept), batch norm, ReLU."""
    in_channels = check_channels(in_channels, "in_channels")
    out_channels = check_channels(out_channels, "out_channels")
    norm = check_bool(norm, "norm")
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SmallVGG(nn.Module):
    """Five stages of ``convs[i]`` 3x3 conv blocks with ``channels[i]`` filters, each stage
    ending in a 2x2 max-pool (stride 2, floor).

    Parameters
    ----------
    channels : sequence of 5 ints, default (16, 32, 64, 96, 128)
        Width of each stage.
    convs : sequence of 5 ints, default (1, 1, 2, 2, 2)
        Number of conv blocks in each stage.
    in_channels : int, default 3
        Channels of the input image.
    norm : bool, default True
        Batch normalisation after every convolution.

    Shapes
    ------
    ``forward(x)`` takes ``x (Tensor[N, in_channels, H, W])`` and returns a dict
    ``{"pool1": Tensor[N, channels[0], H // 2, W // 2], ..., "pool5": Tensor[N, channels[4],
    H // 32, W // 32]}`` (each pool floors, so an odd size loses its last row/column; a
    feature cell ``i`` of stride ``s`` covers input pixels ``[i s, (i + 1) s)``).

    Examples
    --------
    >>> net = SmallVGG()
    >>> {k: tuple(v.shape) for k, v in net(torch.zeros(1, 3, 128, 100)).items()}["pool5"]
    (1, 128, 4, 3)
    """

    def __init__(self, channels=(16, 32, 64, 96, 128), convs=(1, 1, 2, 2, 2), *,
                 in_channels: int = 3, norm: bool = True):
        super().__init__()
        self.channels = _check_positive_ints(channels, "channels", 5, check_channels)
        self.convs = _check_positive_ints(convs, "convs", 5, _check_convs)
        in_channels = check_channels(in_channels, "in_channels")
        self.in_channels, self.norm = in_channels, check_bool(norm, "norm")
        stages, c_in = [], in_channels
        for c_out, n in zip(self.channels, self.convs):
            blocks = [conv_block(c_in if i == 0 else c_out, c_out, norm=norm) for i in range(n)]
            stages.append(nn.Sequential(*blocks, nn.MaxPool2d(2, 2)))
            c_in = c_out
        self.stages = nn.ModuleList(stages)
        self.strides = {name: 2 ** (i + 1) for i, name in enumerate(STAGE_NAMES)}
        self.out_channels = dict(zip(STAGE_NAMES, self.channels))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must be a (N, {self.in_channels}, H, W) tensor, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-2] < 32 or x.shape[-1] < 32:
            raise ValueError(f"x must be at least 32 x 32 pixels (five 2x2 poolings), got "
                             f"{tuple(x.shape[-2:])}")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point image batch, got {x.dtype}")
        features = {}
        for name, stage in zip(STAGE_NAMES, self.stages):
            x = stage(x)
            features[name] = x
        return features

    def extra_repr(self) -> str:
        return f"channels={self.channels}, convs={self.convs}, norm={self.norm}"
