"""The trunk of notebook 10's models, the Pasture instance data, and shared training bits.

The mask heads of the RoIPool-vs-RoIAlign experiment and the small Mask R-CNN all crop the
features of one :class:`Trunk`: the first four stages of
:class:`~course_lib.models.SmallVGG` (``pool3`` at stride 8, ``pool4`` at stride 16), with a
1x1 per-pixel classifier on each of those stages for deep supervision (the six Pasture
labels background, person, dog, horse, sheep, cow). The course downloads no weights, so
the trunk is trained on Pasture itself: jointly with the four mask heads of the experiment
(:func:`~course_lib.models.mask_head.train_or_load_mask_heads`), and the detectors start
from it, as Mask R-CNN starts from an ImageNet-trained ResNet.

=============================  ==========================================================
:data:`IMAGE_MEAN`, ...        the normalisation of every model here (torchvision's
                               defaults, so that torchvision's ``MaskRCNN`` normalises
                               identically)
:func:`instance_data`          the mini COCO split as an in-memory list of
                               ``(image, target)``, read once per process
:func:`semantic_label`         an instance target painted into a label map
:class:`Trunk`                 truncated SmallVGG + the auxiliary classifiers
:func:`optimizer_for`          AdamW with warm-up and cosine decay (as course_lib.train)
=============================  ==========================================================
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_channels, check_choice
from .backbone import STAGE_NAMES, SmallVGG

__all__ = ["IMAGE_MEAN", "IMAGE_STD", "normalize", "instance_data", "semantic_label", "Trunk",
           "STRIDE_STAGE", "optimizer_for", "lr_factor"]

#: torchvision's detection defaults (``GeneralizedRCNNTransform``)
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
#: feature stride -> SmallVGG stage
STRIDE_STAGE = {2: "pool1", 4: "pool2", 8: "pool3", 16: "pool4", 32: "pool5"}


def normalize(images: Tensor) -> Tensor:
    """``(images - IMAGE_MEAN) / IMAGE_STD`` per channel, for ``Tensor[N, 3, H, W]`` in [0, 1]."""
    mean = images.new_tensor(IMAGE_MEAN)[:, None, None]
    std = images.new_tensor(IMAGE_STD)[:, None, None]
    return (images - mean) / std


# --------------------------------------------------------------------------- data
@functools.lru_cache(maxsize=4)
def _load(root: str, split: str):
    from ..data.datasets import COCOInstancesDataset

    ds = COCOInstancesDataset(root, split, contiguous_labels=True)
    items = []
    for i in range(len(ds)):
        image, t = ds[i]
        items.append((image, {k: t[k] for k in ("boxes", "labels", "masks", "iscrowd",
                                                "image_id")}))
    return ds, tuple(items)


def instance_data(split: str = "train", *, root=None):
    """The Pasture mini COCO ``split`` read once into memory (cached per process).

    Returns
    -------
    dataset : COCOInstancesDataset
        With ``contiguous_labels=True``; ``dataset.coco`` is the pycocotools ground truth
        (crowd regions included) and ``dataset.category_ids[label - 1]`` the COCO id of a
        contiguous label.
    items : tuple of (image Tensor[3, H, W], target dict)
        Targets hold ``boxes``, ``labels`` (1..5), ``masks`` (uint8), ``iscrowd`` and
        ``image_id``, crowd regions included (training code drops them, as COCO's do).
    """
    from ..data.datasets import pasture_coco_root

    check_choice(split, "split", ("train", "val"))
    return _load(str(root if root is not None else pasture_coco_root()), split)


def semantic_label(target: dict, size: tuple[int, int]) -> Tensor:
    """Label map ``Tensor[H, W]`` int64 of an instance target: each mask painted with its
    label, crowd regions included (they are sheep all the same), 0 elsewhere."""
    label = torch.zeros(size, dtype=torch.int64)
    for mask, lab in zip(target["masks"], target["labels"]):
        label[mask.bool()] = int(lab)
    return label


# --------------------------------------------------------------------------- the model
class Trunk(nn.Module):
    """SmallVGG's stages up to ``last`` and a 1x1 classifier on each of ``aux`` stages.

    ``forward(images)`` normalises ``images (Tensor[N, 3, H, W])`` in [0, 1] and returns the
    dict of stage outputs (``"pool1"`` ... ``last``); :meth:`segment` adds the auxiliary
    logits, upsampled to the image size.
    """

    def __init__(self, num_classes: int = 6, *, last: str = "pool4",
                 aux: tuple = ("pool3", "pool4"), channels=(16, 32, 64, 96, 128),
                 convs=(1, 1, 2, 2, 2)):
        super().__init__()
        num_classes = check_channels(num_classes, "num_classes")
        check_choice(last, "last", STAGE_NAMES)
        n = STAGE_NAMES.index(last) + 1
        for name in aux:
            if name not in STAGE_NAMES[:n]:
                raise ValueError(f"aux must name stages among {STAGE_NAMES[:n]} (up to last="
                                 f"{last!r}), got {name!r}")
        vgg = SmallVGG(channels, convs)
        self.stages = nn.ModuleList(vgg.stages[:n])
        self.names = STAGE_NAMES[:n]
        self.out_channels = {k: vgg.channels[i] for i, k in enumerate(self.names)}
        self.strides = {k: 2 ** (i + 1) for i, k in enumerate(self.names)}
        self.aux = nn.ModuleDict({k: nn.Conv2d(self.out_channels[k], num_classes, 1)
                                  for k in aux})

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        return self.forward_normalized(normalize(images))

    def forward_normalized(self, x: Tensor) -> dict[str, Tensor]:
        """Stage outputs of an already normalised batch (torchvision's detectors normalise
        inside their ``transform``)."""
        # channels-last convolutions are about twice as fast on CPUs (and fine on GPUs)
        x = x.contiguous(memory_format=torch.channels_last)
        features = {}
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            features[name] = x
        return features

    def segment(self, images: Tensor) -> dict[str, Tensor]:
        """Auxiliary logits ``{stage: Tensor[N, K, H, W]}`` at the image size."""
        return self.aux_logits(self(images), tuple(images.shape[-2:]))

    def aux_logits(self, features: dict, size: tuple[int, int]) -> dict[str, Tensor]:
        """The auxiliary classifiers on already computed ``features``, upsampled to ``size``."""
        return {k: F.interpolate(head(features[k]), size=size, mode="bilinear",
                                 align_corners=False) for k, head in self.aux.items()}


def lr_factor(step: int, steps: int, warmup: float) -> float:
    """Linear warm-up over ``warmup`` of the steps, then cosine decay (as course_lib.train)."""
    w = max(1, int(round(warmup * steps)))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, steps - w)))


def optimizer_for(net: nn.Module, lr: float, weight_decay: float, steps: int, warmup: float):
    """AdamW (no decay on biases and norms) with :func:`lr_factor`'s schedule."""
    params = [p for p in net.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, warmup))
    return opt, sched


def _bar(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from .._progress import progress_bar

    return progress_bar(total=total, desc=desc)
