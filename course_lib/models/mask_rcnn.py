"""A small Mask R-CNN for 128-pixel Pasture images: torchvision's ``MaskRCNN`` on our trunk.

torchvision's detection models are built for COCO photos resized to 800 pixels: 2000
proposals per image, 512 sampled RoIs, anchors of 32 to 512 pixels, a ResNet-50 FPN.
Pasture's images are 128 pixels wide and its objects 6 to 65, so :func:`small_mask_rcnn`
scales every one of those numbers down and puts the pretrained
:class:`~course_lib.models.trunk.Trunk` (SmallVGG up to stride 16, no downloaded weights)
under a two-level feature pyramid.

=============================  ==========================================================
:class:`SmallVGGFPN`           trunk ``pool3`` (stride 8) and ``pool4`` (stride 16) + FPN
:func:`small_mask_rcnn`        ``MaskRCNN`` (``mask=True``) or the same ``FasterRCNN``
                               without the mask branch (``mask=False``)
:class:`DetectorConfig`        everything that determines a trained detector
:func:`train_detector`,        the training loop (AdamW, warm-up + cosine, flips; crowd
:func:`train_or_load_detector` regions dropped from the targets, as COCO's references do),
                               and the model cache
:func:`detect`                 predictions of a trained detector
:func:`evaluate_detector`      box AP and mask AP with COCOeval
=============================  ==========================================================

Sizes, and why (torchvision's value in brackets):

* ``min_size = max_size = 128`` (800, 1333): the images are not resized.
* anchors 8 and 16 px on stride 8, 32 and 64 px on stride 16, ratios 1:2, 1:1, 2:1
  (32 ... 512 on five levels): they cover Pasture's objects.
* ``rpn_pre_nms_top_n`` 300 / ``rpn_post_nms_top_n`` 100 (2000 / 2000 for training,
  1000 / 1000 for testing): a 128-pixel image holds about 4 objects and 1,536 anchors.
* ``rpn_batch_size_per_image`` 64 (256), ``box_batch_size_per_image`` 64 (512): sampled
  anchors and RoIs per image; a quarter of the RoIs are positives as in torchvision.
* box head: 7 x 7 RoIAlign, a 256-unit two-layer MLP (1024); mask head: 7 x 7 RoIAlign,
  two 3x3 convolutions of 32 filters (four of 256) and the transposed convolution to
  14 x 14 masks (14 -> 28): see :mod:`course_lib.models.mask_head` for the mask size.
* RoIs go to the stride-16 level from 64 px up (``canonical_scale`` 64 instead of 224).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from .._checks import check_bool, check_channels, check_int, check_positive
from . import _cache
from .mask_head import MaskExperimentConfig, train_or_load_mask_heads
from .trunk import IMAGE_MEAN, IMAGE_STD, Trunk, instance_data, optimizer_for

__all__ = ["SmallVGGFPN", "small_mask_rcnn", "DetectorConfig", "train_detector",
           "train_or_load_detector", "detect", "evaluate_detector", "DetectorEval",
           "training_targets"]


class SmallVGGFPN(nn.Module):
    """The trunk's ``pool3`` and ``pool4`` maps, merged top-down by a feature pyramid.

    ``forward(x)`` takes a *normalised* batch (torchvision's ``GeneralizedRCNNTransform``
    normalises) and returns ``OrderedDict("0": Tensor[N, C, H/8, W/8], "1": Tensor[N, C,
    H/16, W/16])``, ``C = out_channels``.
    """

    def __init__(self, trunk: Trunk | None = None, *, out_channels: int = 64):
        from torchvision.ops import FeaturePyramidNetwork

        super().__init__()
        trunk = Trunk(last="pool4", aux=()) if trunk is None else trunk
        if not isinstance(trunk, Trunk) or "pool4" not in trunk.out_channels:
            raise ValueError("trunk must be a Trunk that reaches pool4 (stride 16)")
        out_channels = check_channels(out_channels, "out_channels")
        self.trunk = trunk
        self.fpn = FeaturePyramidNetwork([trunk.out_channels["pool3"],
                                          trunk.out_channels["pool4"]], out_channels)
        self.out_channels = out_channels

    def forward(self, x: Tensor) -> OrderedDict:
        f = self.trunk.forward_normalized(x)
        return self.fpn(OrderedDict([("0", f["pool3"]), ("1", f["pool4"])]))


def small_mask_rcnn(num_classes: int = 6, mask: bool = True, *, image_size: int = 128,
                    trunk: Trunk | None = None, fpn_channels: int = 64,
                    anchor_sizes=((8, 16), (32, 64)), rpn_pre_nms_top_n: int = 300,
                    rpn_post_nms_top_n: int = 100, rpn_batch_size_per_image: int = 64,
                    box_batch_size_per_image: int = 64, detections_per_img: int = 30,
                    box_score_thresh: float = 0.05, representation_size: int = 256,
                    mask_channels: int = 32, mask_convs: int = 2, mask_roi_size: int = 7):
    """torchvision's ``MaskRCNN`` (``mask=True``) or ``FasterRCNN`` (``mask=False``) sized
    for ``image_size``-pixel images, on :class:`SmallVGGFPN`. No weights are downloaded.

    The modules shared by both variants are created first and in the same order, so under
    the same ``torch.manual_seed`` the two start from identical weights: the multitask
    comparison of notebook 10 differs only by the mask branch.

    Parameters
    ----------
    num_classes : int, default 6
        Including background (Pasture: background + 5 categories).
    mask : bool
    image_size : int, default 128
        ``min_size`` and ``max_size`` of torchvision's transform.
    trunk : Trunk, optional
        The backbone (e.g. :func:`~course_lib.models.trunk.train_or_load_trunk`'s);
        default an untrained one.
    Others : see the module notes.

    Returns
    -------
    torchvision.models.detection.MaskRCNN or FasterRCNN
        ``model(images, targets)`` in train mode returns the loss dict; in eval mode a list
        of dicts with ``boxes``, ``labels``, ``scores`` (and ``masks`` Tensor[K, 1, H, W]).
    """
    from torchvision.models.detection import FasterRCNN, MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.models.detection.rpn import RPNHead
    from torchvision.ops import MultiScaleRoIAlign

    num_classes = check_channels(num_classes, "num_classes")
    image_size = check_int(image_size, "image_size", low=1)
    fpn_channels = check_channels(fpn_channels, "fpn_channels")
    rpn_pre_nms_top_n = check_int(rpn_pre_nms_top_n, "rpn_pre_nms_top_n", low=1)
    rpn_post_nms_top_n = check_int(rpn_post_nms_top_n, "rpn_post_nms_top_n", low=1)
    rpn_batch_size_per_image = check_int(rpn_batch_size_per_image, "rpn_batch_size_per_image",
                                         low=1)
    box_batch_size_per_image = check_int(box_batch_size_per_image, "box_batch_size_per_image",
                                         low=1)
    detections_per_img = check_int(detections_per_img, "detections_per_img", low=1)
    representation_size = check_int(representation_size, "representation_size", low=1)
    mask_channels = check_channels(mask_channels, "mask_channels")
    mask_roi_size = check_int(mask_roi_size, "mask_roi_size", low=1)
    mask_convs = check_int(mask_convs, "mask_convs", low=0)
    if num_classes < 2:
        raise ValueError(f"num_classes must count the background too (>= 2), got {num_classes}")
    mask = check_bool(mask, "mask")
    if image_size < 32:
        raise ValueError(f"image_size must be >= 32 (the trunk pools four times), got {image_size}")
    sizes = tuple(tuple(int(s) for s in level) for level in anchor_sizes)
    if len(sizes) != 2 or len({len(level) for level in sizes}) != 1:
        raise ValueError(f"anchor_sizes must give the same number of sizes for each of the 2 "
                         f"levels (stride 8, 16), got {anchor_sizes!r}")
    backbone = SmallVGGFPN(trunk, out_channels=fpn_channels)
    anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * len(sizes))
    rpn_head = RPNHead(fpn_channels, anchors.num_anchors_per_location()[0])
    levels = ["0", "1"]
    box_roi_pool = MultiScaleRoIAlign(levels, 7, 2, canonical_scale=64)
    box_head = TwoMLPHead(fpn_channels * 7 * 7, representation_size)
    box_predictor = FastRCNNPredictor(representation_size, num_classes)
    common = dict(
        min_size=image_size, max_size=image_size, image_mean=list(IMAGE_MEAN),
        image_std=list(IMAGE_STD), rpn_anchor_generator=anchors, rpn_head=rpn_head,
        rpn_pre_nms_top_n_train=rpn_pre_nms_top_n, rpn_pre_nms_top_n_test=rpn_pre_nms_top_n,
        rpn_post_nms_top_n_train=rpn_post_nms_top_n, rpn_post_nms_top_n_test=rpn_post_nms_top_n,
        rpn_batch_size_per_image=rpn_batch_size_per_image, box_roi_pool=box_roi_pool,
        box_head=box_head, box_predictor=box_predictor,
        box_batch_size_per_image=box_batch_size_per_image,
        box_detections_per_img=detections_per_img, box_score_thresh=box_score_thresh)
    if not mask:
        return FasterRCNN(backbone, None, **common)
    # created after every shared module: the shared weights do not depend on `mask`
    mask_roi_pool = MultiScaleRoIAlign(levels, mask_roi_size, 2, canonical_scale=64)
    mask_head = MaskRCNNHeads(fpn_channels, (mask_channels,) * mask_convs, 1)
    mask_predictor = MaskRCNNPredictor(mask_channels if mask_convs else fpn_channels,
                                       mask_channels, num_classes)
    return MaskRCNN(backbone, None, mask_roi_pool=mask_roi_pool, mask_head=mask_head,
                    mask_predictor=mask_predictor, **common)


# --------------------------------------------------------------------------- training
@dataclass(frozen=True)
class DetectorConfig:
    """Everything that determines a trained detector of notebook 10.

    ``trunk`` is the experiment whose trunk it starts from (the trunk trained with the
    mask heads of :func:`~course_lib.models.mask_head.train_or_load_mask_heads`; None: from
    scratch). ``steps`` x ``batch_size`` images of the mini COCO training split, randomly
    flipped, AdamW with warm-up and cosine decay, gradients clipped to norm ``clip``.
    """

    mask: bool = True
    steps: int = 300
    batch_size: int = 4
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup: float = 0.1
    clip: float = 10.0
    flip: bool = True
    seed: int = 0
    num_classes: int = 6
    image_size: int = 128
    trunk: MaskExperimentConfig | None = field(default_factory=MaskExperimentConfig)

    def __post_init__(self):
        _cache.set_checked(self, "mask", check_bool)
        for name in ("steps", "batch_size", "num_classes", "image_size"):
            _cache.set_checked(self, name, check_int, low=1)
        _cache.set_checked(self, "lr", check_positive)
        if self.trunk is not None and not isinstance(self.trunk, MaskExperimentConfig):
            raise TypeError(f"trunk must be a MaskExperimentConfig or None, got "
                            f"{type(self.trunk).__name__}")

    def key(self) -> str:
        return _cache.config_key(self)

    @classmethod
    def for_profile(cls, mask: bool = True, profile: str | None = None,
                    **overrides) -> DetectorConfig:
        """The notebook's configuration: the defaults in the quick profile; in the full
        profile (meant for a GPU) ten times the steps, on batches of 8, from the full
        profile's trunk."""
        from .. import config

        name = config.settings(profile).profile
        base = {"mask": mask}
        if name == "full":
            base.update(steps=3000, batch_size=8, trunk=MaskExperimentConfig.for_profile("full"))
        base.update(overrides)
        return cls(**base)

    @property
    def name(self) -> str:
        return "Mask R-CNN" if self.mask else "Faster R-CNN (no mask head)"

    def build(self, trunk: Trunk | None = None):
        return small_mask_rcnn(self.num_classes, self.mask, image_size=self.image_size,
                               trunk=trunk)


def training_targets(target: dict, *, mask: bool = True) -> dict:
    """The target torchvision's detectors train on: crowd regions dropped (as the COCO
    references of torchvision and Detectron2 do; COCOeval ignores them at test time)."""
    keep = target["iscrowd"] == 0
    out = {"boxes": target["boxes"][keep].float().reshape(-1, 4),
           "labels": target["labels"][keep].long()}
    if mask:
        out["masks"] = target["masks"][keep]
    return out


def _flip(image: Tensor, target: dict) -> tuple[Tensor, dict]:
    W = image.shape[-1]
    t = dict(target)
    b = target["boxes"]
    t["boxes"] = torch.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], 1)
    if "masks" in t:
        t["masks"] = target["masks"].flip(-1)
    return image.flip(-1), t


def train_detector(cfg: DetectorConfig, items=None, *, trunk: Trunk | None = None,
                   device=None, progress: bool = True):
    """Train the detector of ``cfg`` on ``items`` (default: the mini COCO train split).

    Returns ``(model, history)``; history rows hold ``step``, ``seconds`` and the mean of
    each loss since the previous row. Images without any (non-crowd) instance are fine:
    they only teach the RPN and the box classifier what background looks like. ``device``
    defaults to :func:`course_lib.device`.
    """
    from ..config import device as default_device

    if not isinstance(cfg, DetectorConfig):
        raise TypeError(f"cfg must be a DetectorConfig, got {type(cfg).__name__}")
    if items is None:
        _, items = instance_data("train")
    if len(items) == 0:
        raise ValueError("items is empty: nothing to train on")
    device = torch.device(device) if device is not None else default_device()
    if trunk is None and cfg.trunk is not None:
        trunk, _, _ = train_or_load_mask_heads(cfg.trunk, device=device, progress=progress)
        trunk = _copy_trunk(trunk)
    torch.manual_seed(cfg.seed)
    model = cfg.build(trunk).to(device)
    model.train()
    opt, sched = optimizer_for(model, cfg.lr, cfg.weight_decay, cfg.steps, cfg.warmup)
    g = torch.Generator().manual_seed(cfg.seed)
    from .trunk import _bar

    bar = _bar(progress, cfg.steps, f"training {cfg.name}")
    history, sums, seen, tic = [], {}, 0, time.perf_counter()
    order, pos = torch.randperm(len(items), generator=g), 0
    for step in range(cfg.steps):
        if pos + cfg.batch_size > len(order):
            order, pos = torch.randperm(len(items), generator=g), 0
        batch = [items[int(i)] for i in order[pos:pos + cfg.batch_size]]
        pos += cfg.batch_size
        flips = torch.rand(len(batch), generator=g) < 0.5 if cfg.flip else [False] * len(batch)
        images, targets = [], []
        for (image, target), f in zip(batch, flips):
            t = training_targets(target, mask=cfg.mask)
            if f:
                image, t = _flip(image, t)
            images.append(image.to(device))
            targets.append({k: v.to(device) for k, v in t.items()})
        losses = model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise FloatingPointError(f"the detector's loss became {loss.item()} at step {step} "
                                     f"({ {k: round(v.item(), 3) for k, v in losses.items()} })")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        for k, v in losses.items():
            sums[k] = sums.get(k, 0.0) + v.item()
        seen += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}")
        if (step + 1) % max(1, cfg.steps // 5) == 0 or step + 1 == cfg.steps:
            row = {"step": step + 1, "seconds": time.perf_counter() - tic}
            row.update({k: v / seen for k, v in sums.items()})
            history.append(row)
            sums, seen = {}, 0
    if bar is not None:
        bar.close()
    return model.eval(), history


def _copy_trunk(trunk: Trunk) -> Trunk:
    """A fresh copy (the cached trunk stays untouched by fine-tuning), without aux heads."""
    fresh = Trunk(last=trunk.names[-1], aux=())
    state = {k: v.cpu() for k, v in trunk.state_dict().items() if not k.startswith("aux.")}
    fresh.load_state_dict(state)
    return fresh


def train_or_load_detector(cfg: DetectorConfig, *, force: bool | None = None, device=None,
                           progress: bool = True):
    """The detector of ``cfg``: cached in ``model_cache_dir() / f"detector-{cfg.key()}.pt"``
    or trained now. Returns ``(model, history)``, the model in eval mode."""
    if not isinstance(cfg, DetectorConfig):
        raise TypeError(f"cfg must be a DetectorConfig, got {type(cfg).__name__}")
    from ..config import device as default_device

    device = torch.device(device) if device is not None else default_device()
    path = _cache.cache_path("detector", cfg)
    cached = None if _cache.retrain(force) else _cache.load_state(path, cfg)
    if cached is not None:
        torch.manual_seed(cfg.seed)
        model = cfg.build()
        model.load_state_dict(cached[0])
        return model.to(device).eval(), cached[1]
    model, history = train_detector(cfg, device=device, progress=progress)
    _cache.save_model(path, model, cfg, history)
    return model, history


# --------------------------------------------------------------------------- inference
@torch.no_grad()
def detect(model: nn.Module, images, *, batch_size: int = 20) -> list:
    """Run a detector in eval mode on ``images`` (Tensor[N, 3, H, W] or a list of
    Tensor[3, H, W] in [0, 1]). Returns one dict per image: ``boxes`` Tensor[K, 4],
    ``labels`` Tensor[K] (contiguous, 1..num_classes-1), ``scores`` Tensor[K], and
    ``masks`` Tensor[K, H, W] (probabilities) for a Mask R-CNN."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torchvision detector, got {type(model).__name__}")
    if isinstance(images, Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must be a Tensor[N, 3, H, W], got {tuple(images.shape)}")
        images = list(images)
    if not isinstance(images, (list, tuple)):
        raise TypeError(f"images must be a Tensor[N, 3, H, W] or a list of Tensor[3, H, W], "
                        f"got {type(images).__name__}")
    for i, im in enumerate(images):
        if not isinstance(im, Tensor) or im.ndim != 3 or im.shape[0] != 3:
            raise ValueError(f"images[{i}] must be a Tensor[3, H, W], got "
                             f"{getattr(im, 'shape', type(im).__name__)}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out = []
    for s in range(0, len(images), batch_size):
        for d in model([im.to(device) for im in images[s:s + batch_size]]):
            d = {k: v.cpu() for k, v in d.items()}
            if "masks" in d:
                d["masks"] = d["masks"][:, 0]
            out.append(d)
    model.train(was_training)
    return out


@dataclass
class DetectorEval:
    """Box and mask AP of a detector (see :func:`evaluate_detector`)."""

    box: dict                   # COCOeval bbox stats by name ("AP", "AP50", ...)
    segm: dict | None           # COCOeval segm stats, None without a mask head
    detections: list            # per image, labels as COCO category ids

    def row(self) -> str:
        text = f"box AP {self.box['AP']:.3f} (AP50 {self.box['AP50']:.3f})"
        if self.segm is not None:
            text += f"   mask AP {self.segm['AP']:.3f} (AP50 {self.segm['AP50']:.3f})"
        return text


def evaluate_detector(model: nn.Module, items=None, coco_gt=None, *,
                      category_ids=None) -> DetectorEval:
    """COCOeval box AP (and mask AP for a Mask R-CNN) of ``model`` on ``items``.

    ``items``, ``coco_gt`` and ``category_ids`` default to the mini COCO ``val`` split and
    its ground truth (crowd regions included, so detections on a flock are ignored, not
    counted as false positives).
    """
    from ..coco_eval import coco_evaluate

    if items is None or coco_gt is None:
        ds, val_items = instance_data("val")
        items = val_items if items is None else items
        coco_gt = ds.coco if coco_gt is None else coco_gt
        category_ids = ds.category_ids if category_ids is None else category_ids
    if category_ids is None:
        category_ids = sorted(coco_gt.getCatIds())
    raw = detect(model, [im for im, _ in items])
    detections = []
    for d, (_, t) in zip(raw, items):
        d = dict(d)
        d["labels"] = torch.tensor([category_ids[int(c) - 1] for c in d["labels"]],
                                   dtype=torch.long)
        d["image_id"] = int(t["image_id"])
        detections.append(d)
    img_ids = [int(t["image_id"]) for _, t in items]
    box = coco_evaluate(detections, coco_gt, "bbox", img_ids=img_ids)
    has_masks = all("masks" in d for d in detections) and len(detections) > 0
    segm = coco_evaluate(detections, coco_gt, "segm", img_ids=img_ids) if has_masks else None
    return DetectorEval(box=box, segm=segm, detections=detections)
