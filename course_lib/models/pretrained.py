"""An optional pretrained backbone: torchvision's VGG-16 (the network FCN was built on),
loaded from a weights file that is already on disk. The course never downloads weights.

The quick profile trains :class:`~course_lib.models.backbone.SmallVGG` from scratch. With a
GPU and the real datasets (full profile), FCN-32s/16s/8s can start, as in Long et al., from
VGG-16 trained on ImageNet, if its weights are on this machine: torchvision keeps the file it
downloads as ``<torch hub dir>/checkpoints/vgg16-397923af.pth`` (see
:func:`cached_vgg16_weights`); any state dict of ``torchvision.models.vgg16`` works.

>>> from course_lib.models import fcn8s
>>> net = fcn8s(backbone="vgg16", pretrained="/path/to/vgg16.pth")      # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["VGG16Backbone", "cached_vgg16_weights", "VGG16_FILE"]

#: torchvision's file name for ``VGG16_Weights.IMAGENET1K_V1``
VGG16_FILE = "vgg16-397923af.pth"
_POOL_ENDS = (5, 10, 17, 24, 31)          # features[:5] ends with pool1, ... [:31] with pool5
_NAMES = ("pool1", "pool2", "pool3", "pool4", "pool5")


def cached_vgg16_weights() -> Path | None:
    """The torch-hub copy of torchvision's ImageNet VGG-16 weights, if there is one."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE
    return path if path.is_file() else None


def wants_weights(pretrained) -> bool:
    """Whether ``pretrained`` (None, a bool, a str or a Path) asks for weights; any other
    type is a TypeError naming the argument (an array must not reach ``bool()``)."""
    if pretrained is None or isinstance(pretrained, bool):
        return bool(pretrained)
    if isinstance(pretrained, (str, Path)):
        return True
    raise TypeError(f"pretrained must be a bool, a path or None, got {type(pretrained).__name__}")


def _resolve(pretrained) -> Path | None:
    if not wants_weights(pretrained):
        return None
    if pretrained is True:
        path = cached_vgg16_weights()
        if path is None:
            raise FileNotFoundError(
                f"pretrained=True needs torchvision's VGG-16 weights on disk, at "
                f"{Path(torch.hub.get_dir()) / 'checkpoints' / VGG16_FILE}; the course never "
                "downloads. Online, fetch them once with "
                "torchvision.models.vgg16(weights='IMAGENET1K_V1'), or pass the path of a "
                "saved state dict as pretrained=")
        return path
    if isinstance(pretrained, (str, Path)):
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"pretrained weights file {path} does not exist")
        return path
    raise TypeError(f"pretrained must be a bool, a path or None, got {type(pretrained).__name__}")


class VGG16Backbone(nn.Module):
    """torchvision's VGG-16 convolutional layers, cut after each pool: ``pool1 ... pool5``
    at strides 2 ... 32 with 64, 128, 256, 512, 512 channels (the same interface as
    :class:`~course_lib.models.backbone.SmallVGG`).

    Parameters
    ----------
    pretrained : bool, str or Path, optional
        ``True``: torchvision's cached ImageNet weights (:func:`cached_vgg16_weights`; an
        error if absent, never a download); a path: a saved ``vgg16`` state dict (keys
        ``features.*``; the classifier's keys are ignored); ``None``: random weights.

    Inputs are images in [0, 1]; the ImageNet normalisation VGG-16 was trained with is
    applied inside.
    """

    def __init__(self, pretrained=None):
        super().__init__()
        from torchvision.models import vgg16

        path = _resolve(pretrained)
        features = vgg16(weights=None).features
        if path is not None:
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as err:
                raise ValueError(f"{path} is not a readable state dict ({err})") from err
            state = {k[len("features."):]: v for k, v in state.items()
                     if k.startswith("features.")}
            try:
                features.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"{path} does not hold VGG-16 features: {err}") from err
        starts = (0,) + _POOL_ENDS[:-1]
        self.stages = nn.ModuleList(features[a:b] for a, b in zip(starts, _POOL_ENDS))
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1))
        self.strides = {name: 2 ** (i + 1) for i, name in enumerate(_NAMES)}
        self.out_channels = dict(zip(_NAMES, (64, 128, 256, 512, 512)))
        self.in_channels = 3
        self.pretrained = str(path) if path else None

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must be a (N, 3, H, W) tensor, got shape "
                             f"{tuple(getattr(x, 'shape', ()))}")
        if x.shape[-2] < 32 or x.shape[-1] < 32:
            raise ValueError(f"x must be at least 32 x 32 pixels, got {tuple(x.shape[-2:])}")
        x = (x - self.mean) / self.std
        out = {}
        for name, stage in zip(_NAMES, self.stages):
            x = stage(x)
            out[name] = x
        return out
