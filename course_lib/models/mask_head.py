"""A mask head on RoI features, and the RoIPool-vs-RoIAlign experiment of notebook 10.

Mask R-CNN segments each detected object with a small fully convolutional *mask head*: the
features inside the object's box are cropped to a fixed ``M x M`` grid (RoIPool in Fast
R-CNN, RoIAlign in Mask R-CNN), a few 3x3 convolutions turn them into an ``M x M`` mask of
logits, and the mask is pasted back into the image inside the box. Which crop is used
decides how well the ``M x M`` grid lines up with the box, and so with the object's
boundary: that is the experiment of notebook 10 (He et al. 2017, table 2c/2d).

=============================  ========================================================
:class:`MaskHead`              3x3 conv + ReLU blocks and a 1x1 mask predictor
:func:`crop_features`          RoIPool or RoIAlign of a feature map at a given stride
:class:`MaskHeadModel`         backbone -> crop at ``stride`` -> :class:`MaskHead`
:func:`mask_targets`           ground-truth masks cropped and resized to ``M x M``
:func:`paste_masks`            ``M x M`` masks back into the image (the inverse map)
:func:`mask_iou`               IoU of each predicted mask with its own true mask
:class:`MaskExperimentConfig`  the experiment: one trunk and a head per (crop, stride),
:func:`train_or_load_mask_heads` trained together on ground-truth boxes, cached
:func:`evaluate_mask_head`     mask IoU, COCO mask AP and boundary F on ground-truth boxes
=============================  ========================================================

Mask size. Mask R-CNN predicts 28 x 28 masks from 14 x 14 RoI features for objects of
hundreds of pixels in 800-pixel images. Pasture's objects at 128 px are about 6 to 65
pixels wide (median about 20), so a 14 x 14 mask already has about one cell per image
pixel for a typical object; 28 x 28 would cost four times as much for detail that is not
in the image. The default is therefore ``roi_size=14`` and no upsampling.

Coordinates follow torchvision: a box ``(x1, y1, x2, y2)`` has its edges in image
coordinates (pixel ``j`` spans ``[j, j + 1)``); feature cell ``i`` of stride ``s`` covers
pixels ``[i s, (i + 1) s)``, which is what ``aligned=True`` assumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import (
    check_bool,
    check_channels,
    check_choice,
    check_int,
    check_positive,
    check_real,
)
from . import _cache
from .trunk import STRIDE_STAGE, Trunk, instance_data, optimizer_for

__all__ = ["MaskHead", "MaskHeadModel", "crop_features", "mask_targets", "paste_masks",
           "mask_iou", "MaskExperimentConfig", "train_mask_heads", "train_or_load_mask_heads",
           "variant_name", "evaluate_mask_head", "MaskEval", "ROI_OPS"]

ROI_OPS = ("pool", "align")
_IMPLS = ("torchvision", "course_lib")


# --------------------------------------------------------------------------- checks
def _check_boxes(boxes, name="boxes"):
    """Tensor[K, 4] float with x1 <= x2, y1 <= y2 and finite values."""
    if not isinstance(boxes, Tensor):
        raise TypeError(f"{name} must be a Tensor[K, 4], got {type(boxes).__name__}")
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape (K, 4) (x1, y1, x2, y2), got "
                         f"{tuple(boxes.shape)}")
    if not boxes.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {boxes.dtype}")
    if not torch.isfinite(boxes).all():
        raise ValueError(f"{name} must be finite, got NaN or infinite coordinates")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        k = int(bad.nonzero()[0, 0])
        raise ValueError(f"{name} must satisfy x1 <= x2 and y1 <= y2, got box {k} = "
                         f"{boxes[k].tolist()}")


def _as_rois(boxes, N: int, dtype, device) -> Tensor:
    """A list of Tensor[L_i, 4] (one per image) or a Tensor[K, 5] -> Tensor[K, 5]."""
    if isinstance(boxes, Tensor):
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError(f"boxes must be a Tensor[K, 5] (batch index, x1, y1, x2, y2) or "
                             f"a list of Tensor[L, 4], got shape {tuple(boxes.shape)}")
        _check_boxes(boxes[:, 1:].to(dtype))
        idx = boxes[:, 0]
        if ((idx != idx.round()) | (idx < 0) | (idx > N - 1)).any():
            raise ValueError(f"boxes: batch indices must be integers in [0, {N - 1}], got "
                             f"{sorted(set(idx.tolist()))[:5]}")
        return boxes.to(device, dtype)
    if not isinstance(boxes, (list, tuple)):
        raise TypeError(f"boxes must be a list of Tensor[L, 4] (one per image) or a "
                        f"Tensor[K, 5], got {type(boxes).__name__}")
    if len(boxes) != N:
        raise ValueError(f"boxes must have one Tensor[L, 4] per image ({N}), got {len(boxes)}")
    rois = []
    for i, b in enumerate(boxes):
        _check_boxes(b, f"boxes[{i}]")
        b = b.to(device, dtype)
        rois.append(torch.cat([b.new_full((b.shape[0], 1), float(i)), b], dim=1))
    return torch.cat(rois) if rois else torch.zeros(0, 5, dtype=dtype, device=device)


# --------------------------------------------------------------------------- the pieces
def crop_features(features: Tensor, rois: Tensor, output_size: int, *, stride: int,
                  roi_op: str = "align", sampling_ratio: int = 2, aligned: bool = True,
                  impl: str = "torchvision") -> Tensor:
    """Crop ``rois`` out of ``features`` to ``output_size x output_size`` bins.

    Parameters
    ----------
    features : Tensor[N, C, H, W]
        A feature map of stride ``stride`` (``spatial_scale = 1 / stride``).
    rois : Tensor[K, 5]
        ``(batch index, x1, y1, x2, y2)`` in image coordinates.
    output_size : int
    stride : int
    roi_op : {"align", "pool"}
        RoIAlign (bilinear samples averaged, no snapping) or RoIPool (box and bins
        snapped to the grid, max-pooled).
    sampling_ratio, aligned :
        RoIAlign's options (ignored by RoIPool): samples per bin and axis (Mask R-CNN: 2),
        and the half-pixel offset that puts feature cell ``i`` at the centre of
        ``[i s, (i + 1) s)``.
    impl : {"torchvision", "course_lib"}
        ``torchvision.ops`` (compiled, used for training) or :mod:`course_lib.roi` (pure
        torch); they return the same numbers (``tests/test_roi.py``).

    Returns
    -------
    Tensor[K, C, output_size, output_size]
    """
    check_choice(roi_op, "roi_op", ROI_OPS)
    check_choice(impl, "impl", _IMPLS)
    if impl == "torchvision":
        from torchvision import ops
    else:
        from .. import roi as ops
    scale = 1.0 / stride
    if roi_op == "pool":
        return ops.roi_pool(features, rois, output_size, scale)
    return ops.roi_align(features, rois, output_size, scale, sampling_ratio, aligned)


class MaskHead(nn.Module):
    """``num_convs`` 3x3 convolutions (``channels`` filters, ReLU), then a 1x1 predictor.

    Parameters
    ----------
    in_channels : int
    channels : int, default 32
    num_convs : int, default 2
    num_classes : int, default 1
        1: class-agnostic (one mask per box); ``K``: one mask per class, the one of the
        box's class is used (Mask R-CNN's choice, which decouples mask and class).
    upsample : bool, default False
        A 2x2 stride-2 transposed convolution before the predictor (Mask R-CNN's 14 -> 28).

    Shapes: ``(K, in_channels, M, M) -> (K, num_classes, M, M)`` (``2M`` with upsample).
    """

    def __init__(self, in_channels: int, *, channels: int = 32, num_convs: int = 2,
                 num_classes: int = 1, upsample: bool = False):
        super().__init__()
        in_channels = check_channels(in_channels, "in_channels")
        channels = check_channels(channels, "channels")
        num_classes = check_channels(num_classes, "num_classes")
        num_convs = check_int(num_convs, "num_convs", low=0)
        layers, c = [], in_channels
        for _ in range(num_convs):
            layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True)]
            c = channels
        if upsample:
            layers += [nn.ConvTranspose2d(c, channels, 2, stride=2), nn.ReLU(inplace=True)]
            c = channels
        self.body = nn.Sequential(*layers)
        self.predictor = nn.Conv2d(c, num_classes, 1)
        self.num_classes, self.upsample = num_classes, bool(upsample)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.predictor(self.body(x))


class MaskHeadModel(nn.Module):
    """Backbone features at ``stride``, cropped per box with RoIPool or RoIAlign, then a
    :class:`MaskHead`: Mask R-CNN's mask branch, given the boxes.

    Parameters
    ----------
    backbone : nn.Module, optional
        Maps images ``Tensor[N, 3, H, W]`` in [0, 1] to a dict of stage outputs
        (``"pool3"`` for stride 8, ...), like :class:`~course_lib.models.trunk.Trunk`
        (default: an untrained one ending at the needed stage).
    stride : int, default 8
        2, 4, 8, 16 or 32: which stage is cropped.
    roi_op : {"align", "pool"}
    roi_size : int, default 14
        ``M``: the crop and the mask are ``M x M`` (see the module notes).
    sampling_ratio, aligned, impl :
        As :func:`crop_features`.
    head_channels, head_convs, num_classes, upsample :
        As :class:`MaskHead`; the masks are ``mask_size = roi_size`` (``2 roi_size`` with
        ``upsample``) cells wide.
    freeze_backbone : bool, default False
        Compute the features without gradients (the experiment trains heads on frozen
        features, so that only the crop differs between runs).

    Examples
    --------
    >>> net = MaskHeadModel(stride=16, roi_op="pool")
    >>> net(torch.rand(2, 3, 64, 64), [torch.tensor([[4.0, 8, 30, 40]]), torch.zeros(0, 4)]).shape
    torch.Size([1, 1, 14, 14])
    """

    def __init__(self, backbone: nn.Module | None = None, *, stride: int = 8,
                 roi_op: str = "align", roi_size: int = 14, sampling_ratio: int = 2,
                 aligned: bool = True, head_channels: int = 32, head_convs: int = 2,
                 num_classes: int = 1, upsample: bool = False, impl: str = "torchvision",
                 freeze_backbone: bool = False):
        super().__init__()
        stride = check_int(stride, "stride")
        if stride not in STRIDE_STAGE:
            raise ValueError(f"stride must be one of {sorted(STRIDE_STAGE)}, got {stride}")
        self.stage = STRIDE_STAGE[stride]
        self.stride = stride
        self.roi_op = check_choice(roi_op, "roi_op", ROI_OPS)
        self.impl = check_choice(impl, "impl", _IMPLS)
        self.roi_size = check_int(roi_size, "roi_size", low=1)
        # any int: <= 0 is RoIAlign's adaptive sampling (torchvision and course_lib.roi)
        self.sampling_ratio = check_int(sampling_ratio, "sampling_ratio")
        self.aligned = check_bool(aligned, "aligned")
        if backbone is None:
            backbone = Trunk(last=self.stage, aux=())
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone must be an nn.Module, got {type(backbone).__name__}")
        channels = getattr(backbone, "out_channels", {})
        if not isinstance(channels, dict) or self.stage not in channels:
            raise ValueError(f"backbone must have out_channels[{self.stage!r}] (stride "
                             f"{stride}), got {channels!r}")
        self.backbone = backbone
        self.freeze_backbone = bool(freeze_backbone)
        self.head = MaskHead(channels[self.stage], channels=head_channels,
                             num_convs=head_convs, num_classes=num_classes, upsample=upsample)
        self.mask_size = self.roi_size * (2 if upsample else 1)

    def features(self, images: Tensor) -> Tensor:
        """The feature map ``Tensor[N, C, H / stride, W / stride]`` of ``images``."""
        if not isinstance(images, Tensor) or images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be a Tensor[N, 3, H, W], got "
                             f"{getattr(images, 'shape', type(images).__name__)}")
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_backbone):
            return self.backbone(images)[self.stage]

    def crop(self, features: Tensor, boxes) -> Tensor:
        """RoI features ``Tensor[K, C, M, M]`` for ``boxes`` (list per image or Tensor[K, 5])."""
        rois = _as_rois(boxes, features.shape[0], features.dtype, features.device)
        return crop_features(features, rois, self.roi_size, stride=self.stride,
                             roi_op=self.roi_op, sampling_ratio=self.sampling_ratio,
                             aligned=self.aligned, impl=self.impl)

    def forward_features(self, features: Tensor, boxes, labels: Tensor | None = None) -> Tensor:
        """Mask logits from precomputed features (see :meth:`forward`)."""
        logits = self.head(self.crop(features, boxes))       # (K, num_classes, M, M)
        return _select(logits, labels)

    def forward(self, images: Tensor, boxes, labels: Tensor | None = None) -> Tensor:
        """Mask logits ``Tensor[K, 1, M, M]`` for ``boxes`` of ``images``.

        ``boxes``: a list of Tensor[L_i, 4] (one per image, concatenated in order) or a
        Tensor[K, 5]. ``labels`` (Tensor[K], 0-based channel) picks each box's mask of a
        per-class head; class-agnostic heads ignore it.
        """
        return self.forward_features(self.features(images), boxes, labels)

    def extra_repr(self) -> str:
        return (f"stride={self.stride}, roi_op={self.roi_op!r}, roi_size={self.roi_size}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}, "
                f"impl={self.impl!r}, freeze_backbone={self.freeze_backbone}")


def _select(logits: Tensor, labels: Tensor | None) -> Tensor:
    if logits.shape[1] == 1:
        return logits
    if labels is None:
        raise ValueError(f"labels are needed to pick the masks of a per-class head "
                         f"({logits.shape[1]} classes)")
    labels = torch.as_tensor(labels, device=logits.device).long()
    if labels.shape != (logits.shape[0],):
        raise ValueError(f"labels must have shape ({logits.shape[0]},), got {tuple(labels.shape)}")
    return logits[torch.arange(logits.shape[0], device=logits.device), labels][:, None]


def mask_targets(masks: Tensor, boxes: Tensor, size: int) -> Tensor:
    """The part of each true mask inside its box, resized to ``size x size`` (in [0, 1]).

    RoIAlign of the 0/1 mask with ``aligned=True`` and adaptive sampling: cell ``(p, q)``
    of the target is the mask's average near the point of the box where the head's cell
    ``(p, q)`` sits, so targets and predictions share one geometry (:func:`paste_masks`
    inverts it).

    Parameters
    ----------
    masks : Tensor[K, H, W]
        One 0/1 (or bool, uint8) mask per box.
    boxes : Tensor[K, 4]
    size : int

    Returns
    -------
    Tensor[K, size, size] float32
    """
    from torchvision.ops import roi_align

    if not isinstance(masks, Tensor) or masks.ndim != 3:
        raise ValueError(f"masks must be a Tensor[K, H, W], got "
                         f"{getattr(masks, 'shape', type(masks).__name__)}")
    _check_boxes(boxes)
    if boxes.shape[0] != masks.shape[0]:
        raise ValueError(f"boxes must have one row per mask ({masks.shape[0]}), got "
                         f"{boxes.shape[0]}")
    size = check_int(size, "size", low=1)
    K = masks.shape[0]
    if K == 0:
        return masks.new_zeros((0, size, size), dtype=torch.float32)
    rois = torch.cat([torch.arange(K, device=boxes.device, dtype=torch.float32)[:, None],
                      boxes.float()], dim=1)
    # weights sum to 1 up to rounding: clamp so that the targets are probabilities
    return roi_align(masks[:, None].float(), rois, size, 1.0, 0, True)[:, 0].clamp(0, 1)


def paste_masks(masks: Tensor, boxes: Tensor, image_size: tuple[int, int]) -> Tensor:
    """Paste ``M x M`` masks (probabilities) back into the image inside their boxes.

    Pixel ``(y, x)`` (centre ``(y + 0.5, x + 0.5)``) of the image reads the mask at
    ``u = (x + 0.5 - x1) / (x2 - x1) * M - 0.5`` (likewise ``v``) by bilinear interpolation
    (``grid_sample``, ``align_corners=False``); outside the box the mask is 0. This is the
    inverse of :func:`mask_targets`: pasting a target gives back the true mask up to
    resampling.

    Parameters
    ----------
    masks : Tensor[K, M, M] or Tensor[K, 1, M, M]
    boxes : Tensor[K, 4]
        ``(x1, y1, x2, y2)`` in image coordinates.
    image_size : (int, int)
        ``(H, W)``.

    Returns
    -------
    Tensor[K, H, W]
        Probabilities in the dtype of ``masks`` (threshold at 0.5 for binary masks).
    """
    if not isinstance(masks, Tensor) or masks.ndim not in (3, 4) or (
            masks.ndim == 4 and masks.shape[1] != 1):
        raise ValueError(f"masks must be a Tensor[K, M, M] (or [K, 1, M, M]), got "
                         f"{getattr(masks, 'shape', type(masks).__name__)}")
    if not masks.is_floating_point():
        raise TypeError(f"masks must be floating point (probabilities), got {masks.dtype}")
    _check_boxes(boxes)
    if boxes.shape[0] != masks.shape[0]:
        raise ValueError(f"boxes must have one row per mask ({masks.shape[0]}), got "
                         f"{boxes.shape[0]}")
    if not isinstance(image_size, (tuple, list)):
        raise TypeError(f"image_size must be a pair (H, W) of ints, got "
                        f"{type(image_size).__name__} ({image_size!r:.60})")
    if len(image_size) != 2:
        raise ValueError(f"image_size must be a pair (H, W), got {len(image_size)} values "
                         f"{tuple(image_size)!r:.60}")
    H, W = (check_int(v, f"image_size[{i}]", low=1) for i, v in enumerate(image_size))
    m = masks if masks.ndim == 4 else masks[:, None]                   # (K, 1, M, M)
    K = m.shape[0]
    if K == 0:
        return m.new_zeros((0, H, W))
    b = boxes.to(m.device, m.dtype)
    x1, y1, x2, y2 = b.unbind(1)
    xs = torch.arange(W, device=m.device, dtype=m.dtype) + 0.5
    ys = torch.arange(H, device=m.device, dtype=m.dtype) + 0.5
    # normalised grid coordinates: -1 and +1 are the box edges (align_corners=False)
    gx = (xs[None] - x1[:, None]) / (x2 - x1).clamp(min=1e-6)[:, None] * 2 - 1      # (K, W)
    gy = (ys[None] - y1[:, None]) / (y2 - y1).clamp(min=1e-6)[:, None] * 2 - 1      # (K, H)
    grid = torch.stack([gx[:, None, :].expand(K, H, W), gy[:, :, None].expand(K, H, W)], -1)
    out = F.grid_sample(m, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    inside = (gx.abs() <= 1)[:, None, :] & (gy.abs() <= 1)[:, :, None]            # (K, H, W)
    return out[:, 0] * inside


def mask_iou(pred: Tensor, target: Tensor) -> Tensor:
    """IoU of each predicted mask with its own true mask: ``Tensor[K]`` float64.

    ``pred``, ``target``: Tensor[K, H, W], bool or 0/1. Two empty masks agree (IoU 1).
    """
    for name, t in (("pred", pred), ("target", target)):
        if not isinstance(t, Tensor) or t.ndim != 3:
            raise ValueError(f"{name} must be a Tensor[K, H, W], got "
                             f"{getattr(t, 'shape', type(t).__name__)}")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got {tuple(pred.shape)} "
                         f"and {tuple(target.shape)}")
    p, t = pred.bool().flatten(1), target.bool().flatten(1)
    inter = (p & t).sum(1).double()
    union = (p | t).sum(1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))


# --------------------------------------------------------------------------- the experiment
@dataclass(frozen=True)
class MaskExperimentConfig:
    """The RoIPool-vs-RoIAlign experiment: one trunk, one mask head per ``(roi_op, stride)``.

    All heads are trained together, end to end with the trunk, on the same steps: each
    step takes ``batch_size`` training images (randomly mirrored, then cut to a
    ``crop_size x crop_size`` window around a random object: smaller batches of pixels, the
    same number of objects; None keeps whole images), their ground-truth boxes (crowd
    regions left out) jittered by up to ``jitter`` of the box size (as proposals would be),
    and sums every head's per-pixel binary cross-entropy against :func:`mask_targets` and
    ``aux_weight`` times the trunk's per-pixel classification loss (its background class
    weighted by ``background_weight``). So every head sees *the same features of the same
    boxes*; the only difference between them is how the box is cut out of the feature map.
    With ``upsample`` the heads predict ``2 roi_size`` masks (Mask R-CNN's 14 -> 28).
    """

    roi_ops: tuple = ROI_OPS
    strides: tuple = (8, 16)
    roi_size: int = 14
    sampling_ratio: int = 2
    aligned: bool = True
    head_channels: int = 32
    head_convs: int = 2
    upsample: bool = False
    steps: int = 300
    batch_size: int = 8
    lr: float = 3e-3
    weight_decay: float = 1e-4
    warmup: float = 0.1
    jitter: float = 0.1
    flip: bool = True
    crop_size: int | None = 64
    aux_weight: float = 1.0
    background_weight: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if not self.roi_ops or not self.strides:
            raise ValueError("roi_ops and strides must each name at least one variant")
        for op in self.roi_ops:
            check_choice(op, "roi_ops", ROI_OPS)
        strides = tuple(check_int(v, f"strides[{k}]") for k, v in enumerate(self.strides))
        for s in strides:
            if s not in (2, 4, 8, 16):
                raise ValueError(f"strides must be among (2, 4, 8, 16) (the trunk ends at "
                                 f"stride 16), got {s}")
        if any(type(v) is not int for v in self.strides):       # NumPy integers: hashable
            object.__setattr__(self, "strides", strides)
        for name in ("roi_size", "head_channels", "steps", "batch_size"):
            _cache.set_checked(self, name, check_int, low=1)
        if self.crop_size is not None:
            _cache.set_checked(self, "crop_size", check_int, low=32)
        for name in ("aux_weight", "background_weight"):
            _cache.set_checked(self, name, check_real, low=0.0)
        _cache.set_checked(self, "lr", check_positive)
        _cache.set_checked(self, "jitter", check_real, low=0.0, high=1.0, high_open=True)

    def key(self) -> str:
        return _cache.config_key(self)

    @classmethod
    def for_profile(cls, profile: str | None = None, **overrides) -> MaskExperimentConfig:
        """The notebook's configuration: the defaults in the quick profile; in the full
        profile (meant for a GPU) ten times the steps on batches of 32 windows.
        ``overrides`` replace any field."""
        from .. import config

        name = config.settings(profile).profile
        base = {} if name == "quick" else {"steps": 3000, "batch_size": 32}
        base.update(overrides)
        return cls(**base)

    @property
    def variants(self) -> list:
        """``[(roi_op, stride), ...]``, stride-major."""
        return [(op, s) for s in self.strides for op in self.roi_ops]

    def build(self) -> tuple[Trunk, dict]:
        """An untrained trunk and ``{(roi_op, stride): MaskHeadModel}`` sharing it."""
        trunk = Trunk(last="pool4")
        models = {(op, s): MaskHeadModel(trunk, stride=s, roi_op=op, roi_size=self.roi_size,
                                         sampling_ratio=self.sampling_ratio,
                                         aligned=self.aligned, head_channels=self.head_channels,
                                         head_convs=self.head_convs, upsample=self.upsample)
                  for op, s in self.variants}
        return trunk, models


def variant_name(roi_op: str, stride: int) -> str:
    return f"Roi{roi_op.capitalize()} stride {stride}"


class _Experiment(nn.Module):
    """Trunk + heads in one module, for the optimiser and the cache."""

    def __init__(self, trunk: Trunk, models: dict):
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict({f"{op}{s}": m.head for (op, s), m in models.items()})


def _jitter(boxes: Tensor, amount: float, g: torch.Generator, size: tuple[int, int]) -> Tensor:
    if amount == 0 or len(boxes) == 0:
        return boxes
    w = (boxes[:, 2] - boxes[:, 0]).clamp(min=1)
    h = (boxes[:, 3] - boxes[:, 1]).clamp(min=1)
    u = (torch.rand(len(boxes), 4, generator=g) * 2 - 1) * amount
    cx = (boxes[:, 0] + boxes[:, 2]) / 2 + u[:, 0] * w
    cy = (boxes[:, 1] + boxes[:, 3]) / 2 + u[:, 1] * h
    w, h = w * torch.exp(u[:, 2]), h * torch.exp(u[:, 3])
    H, W = size
    return torch.stack([(cx - w / 2).clamp(0, W), (cy - h / 2).clamp(0, H),
                        (cx + w / 2).clamp(0, W), (cy + h / 2).clamp(0, H)], 1)


def _flip_item(image: Tensor, target: dict) -> tuple[Tensor, dict]:
    W = image.shape[-1]
    b = target["boxes"]
    t = dict(target, boxes=torch.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], 1),
             masks=target["masks"].flip(-1))
    return image.flip(-1), t


def _crop_item(image: Tensor, target: dict, size: int, g: torch.Generator):
    """A ``size x size`` window around a random non-crowd object (anywhere if there is
    none); masks cut to the window, boxes recomputed from them, objects left with fewer
    than 4 pixels dropped."""
    H, W = image.shape[-2:]
    if size >= H and size >= W:
        return image, target
    sh, sw = min(size, H), min(size, W)
    objects = (target["iscrowd"] == 0).nonzero()[:, 0]
    u = torch.rand(3, generator=g)
    if len(objects):
        x1, y1, x2, y2 = target["boxes"][objects[int(u[0] * len(objects))]].tolist()
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        x0 = int(round(cx - (0.25 + 0.5 * float(u[1])) * sw))
        y0 = int(round(cy - (0.25 + 0.5 * float(u[2])) * sh))
    else:
        x0, y0 = int(u[1] * (W - sw + 1)), int(u[2] * (H - sh + 1))
    x0, y0 = min(max(x0, 0), W - sw), min(max(y0, 0), H - sh)
    masks = target["masks"][:, y0:y0 + sh, x0:x0 + sw]
    keep = masks.flatten(1).sum(1) >= 4
    masks = masks[keep]
    rows, cols = masks.bool().any(2), masks.bool().any(1)           # (K, sh), (K, sw)
    ar_h, ar_w = torch.arange(sh), torch.arange(sw)
    boxes = torch.stack([torch.where(cols, ar_w, sw).amin(1), torch.where(rows, ar_h, sh).amin(1),
                         torch.where(cols, ar_w, -1).amax(1) + 1,
                         torch.where(rows, ar_h, -1).amax(1) + 1], 1).float()
    t = dict(target, boxes=boxes.reshape(-1, 4), masks=masks, labels=target["labels"][keep],
             iscrowd=target["iscrowd"][keep])
    return image[:, y0:y0 + sh, x0:x0 + sw], t


def train_mask_heads(cfg: MaskExperimentConfig, items=None, *, device=None,
                     progress: bool = True):
    """Train the trunk and every mask head of ``cfg`` together (see its docstring).

    Returns ``(trunk, models, history)``: ``models[(roi_op, stride)]`` is a
    :class:`MaskHeadModel` on the shared trunk (eval mode); history rows hold ``step``,
    ``seconds``, the mean ``loss`` of each head (keyed by :func:`variant_name`) and
    ``aux``. Images without any (non-crowd) instance train the per-pixel classifier only.
    ``device`` defaults to :func:`course_lib.device` (a GPU when there is one).
    """
    from ..config import device as default_device
    from ..train import TrainingDiverged
    from .trunk import _bar, semantic_label

    if not isinstance(cfg, MaskExperimentConfig):
        raise TypeError(f"cfg must be a MaskExperimentConfig, got {type(cfg).__name__}")
    if items is None:
        _, items = instance_data("train")
    if len(items) == 0:
        raise ValueError("items is empty: nothing to train on")
    device = torch.device(device) if device is not None else default_device()
    torch.manual_seed(cfg.seed)
    trunk, models = cfg.build()
    net = _Experiment(trunk, models).to(device).train()
    opt, sched = optimizer_for(net, cfg.lr, cfg.weight_decay, cfg.steps, cfg.warmup)
    g = torch.Generator().manual_seed(cfg.seed)
    bar = _bar(progress, cfg.steps, "training the trunk and the mask heads")
    history, sums, seen, tic = [], {}, 0, time.perf_counter()
    order, pos = torch.randperm(len(items), generator=g), 0
    M = cfg.roi_size * (2 if cfg.upsample else 1)
    for step in range(cfg.steps):
        if pos + cfg.batch_size > len(order):
            order, pos = torch.randperm(len(items), generator=g), 0
        batch = [items[int(i)] for i in order[pos:pos + cfg.batch_size]]
        pos += cfg.batch_size
        flips = torch.rand(len(batch), generator=g) < 0.5
        images, rois, masks, labels = [], [], [], []
        for n, ((image, t), f) in enumerate(zip(batch, flips)):
            if cfg.flip and f:
                image, t = _flip_item(image, t)
            if cfg.crop_size is not None:
                image, t = _crop_item(image, t, cfg.crop_size, g)
            keep = t["iscrowd"] == 0
            b = _jitter(t["boxes"][keep], cfg.jitter, g, tuple(image.shape[-2:]))
            images.append(image)
            labels.append(semantic_label(t, tuple(image.shape[-2:])))
            rois.append(torch.cat([b.new_full((len(b), 1), float(n)), b], 1))
            masks.append(t["masks"][keep])
        x = torch.stack(images).to(device)
        rois, masks = torch.cat(rois).to(device), torch.cat(masks).to(device)
        features = trunk(x)
        losses = {}
        if len(rois):
            target = mask_targets(masks, rois[:, 1:], M)            # (R, M, M), shared
            for (op, s), model in models.items():
                logits = model.forward_features(features[model.stage], rois)[:, 0]
                losses[variant_name(op, s)] = F.binary_cross_entropy_with_logits(logits, target)
        aux = trunk.aux_logits(features, tuple(x.shape[-2:]))
        y = torch.stack(labels).to(device)
        weight = torch.ones(aux[next(iter(aux))].shape[1], device=device)
        weight[0] = cfg.background_weight      # objects are about 6 % of Pasture's pixels
        losses["aux"] = sum(F.cross_entropy(v, y, weight=weight) for v in aux.values())
        loss = sum(v * (cfg.aux_weight if k == "aux" else 1.0) for k, v in losses.items())
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the loss became {loss.item()} at step {step}; lower lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v.item()
        seen += 1
        if bar is not None:
            bar.update(1)
        if (step + 1) % max(1, cfg.steps // 5) == 0 or step + 1 == cfg.steps:
            row = {"step": step + 1, "seconds": time.perf_counter() - tic}
            row.update({k: v / seen for k, v in sums.items()})
            history.append(row)
            sums, seen = {}, 0
    if bar is not None:
        bar.close()
    net.eval()
    for m in models.values():
        m.eval()
    return trunk, models, history


def train_or_load_mask_heads(cfg: MaskExperimentConfig | None = None, *,
                             force: bool | None = None, device=None, progress: bool = True):
    """:func:`train_mask_heads` through the model cache (``model_cache_dir() /
    f"maskheads-{cfg.key()}.pt"``): trained once, loaded afterwards (``force=True`` or
    ``COURSE_RETRAIN=1`` trains again). Returns ``(trunk, models, history)``."""
    from ..config import device as default_device

    cfg = MaskExperimentConfig() if cfg is None else cfg
    if not isinstance(cfg, MaskExperimentConfig):
        raise TypeError(f"cfg must be a MaskExperimentConfig, got {type(cfg).__name__}")
    device = torch.device(device) if device is not None else default_device()
    path = _cache.cache_path("maskheads", cfg)
    cached = None if _cache.retrain(force) else _cache.load_state(path, cfg)
    if cached is not None:
        trunk, models = cfg.build()
        net = _Experiment(trunk, models)
        net.load_state_dict(cached[0])
        net.to(device).eval()
        for m in models.values():          # the wrappers are not children of net
            m.eval()
        return trunk, models, cached[1]
    trunk, models, history = train_mask_heads(cfg, device=device, progress=progress)
    _cache.save_model(path, _Experiment(trunk, models), cfg, history)
    return trunk, models, history


# --------------------------------------------------------------------------- evaluation
@dataclass
class MaskEval:
    """Scores of masks predicted on ground-truth boxes (see :func:`evaluate_mask_head`)."""

    mask_iou: float             # mean over instances
    mask_ap: float              # COCOeval segm AP@[.5:.95]
    mask_ap50: float
    mask_ap75: float
    boundary_f: float           # boundary F (2 px), counts summed over instances
    ious: Tensor                # (K,) float64, one per instance
    probs: Tensor               # (K, H, W) pasted probabilities
    truth: Tensor               # (K, H, W) bool true masks
    boxes: Tensor               # (K, 4)
    image_index: Tensor         # (K,) index of the item each instance comes from
    stats: dict = field(default_factory=dict)

    def row(self) -> str:
        return (f"mask IoU {self.mask_iou:.3f}   mask AP {self.mask_ap:.3f}   "
                f"boundary F {self.boundary_f:.3f}")


@torch.no_grad()
def evaluate_mask_head(model: MaskHeadModel, items=None, coco_gt=None, *,
                       category_ids=None, tolerance: int = 2) -> MaskEval:
    """Predict a mask for every non-crowd ground-truth box of ``items`` and score them.

    * **mask IoU**: the mean over instances of the IoU of the pasted mask (> 0.5) with the
      object's own true mask;
    * **mask AP**: COCOeval ``segm`` against ``coco_gt`` (crowd regions included, so COCO
      ignores masks that land on them); each mask is scored with its mean probability
      over the pixels it claims, and labelled with its box's category;
    * **boundary F**: :func:`course_lib.metrics.boundary_f_score` of the pasted masks
      against the true ones, ``tolerance`` pixels, counts summed over all instances.

    ``items``, ``coco_gt`` and ``category_ids`` default to the mini COCO ``val`` split.
    """
    from ..coco_eval import coco_evaluate
    from ..metrics import boundary_f_score

    if not isinstance(model, MaskHeadModel):
        raise TypeError(f"model must be a MaskHeadModel, got {type(model).__name__}")
    if items is None or coco_gt is None:
        ds, val_items = instance_data("val")
        items = val_items if items is None else items
        coco_gt = ds.coco if coco_gt is None else coco_gt
        category_ids = ds.category_ids if category_ids is None else category_ids
    if category_ids is None:
        category_ids = sorted(coco_gt.getCatIds())
    model.eval()
    device = next(model.parameters()).device
    predictions, probs, truth, boxes, owner = [], [], [], [], []
    for i, (image, t) in enumerate(items):
        keep = t["iscrowd"] == 0
        b = t["boxes"][keep]
        H, W = image.shape[-2:]
        if len(b):
            logits = model(image[None].to(device), [b.to(device)])[:, 0]
            p = paste_masks(torch.sigmoid(logits), b.to(device), (H, W)).cpu()
        else:
            p = torch.zeros(0, H, W)
        labels = t["labels"][keep]
        claimed = p > 0.5
        score = torch.where(claimed.flatten(1).any(1),
                            (p * claimed).flatten(1).sum(1) / claimed.flatten(1).sum(1).clamp(min=1),
                            p.flatten(1).amax(1) if len(p) else p.new_zeros(0))
        predictions.append({"image_id": int(t["image_id"]), "boxes": b, "scores": score,
                            "labels": torch.tensor([category_ids[int(c) - 1] for c in labels],
                                                   dtype=torch.long),
                            "masks": p})
        probs.append(p)
        truth.append(t["masks"][keep].bool())
        boxes.append(b)
        owner.append(torch.full((len(b),), i, dtype=torch.long))
    probs, truth = torch.cat(probs), torch.cat(truth)
    ious = mask_iou(probs > 0.5, truth)
    stats = coco_evaluate(predictions, coco_gt, "segm",
                          img_ids=[int(t["image_id"]) for _, t in items])
    bf = boundary_f_score((probs > 0.5).long(), truth.long(), 2, tolerance=tolerance,
                          ignore_index=None)
    return MaskEval(mask_iou=float(ious.mean()) if len(ious) else float("nan"),
                    mask_ap=stats["AP"], mask_ap50=stats["AP50"], mask_ap75=stats["AP75"],
                    boundary_f=float(bf.f_score[1]), ious=ious, probs=probs, truth=truth,
                    boxes=torch.cat(boxes), image_index=torch.cat(owner), stats=stats)
