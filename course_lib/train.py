"""Training and evaluation of the course's segmentation networks.

==========================  =============================================================
:class:`TrainConfig`        everything that determines a trained model (model, data,
                            schedule, seed); its :meth:`~TrainConfig.key` names the cache
:func:`fit`                 the training loop: AdamW, warm-up + cosine schedule, void
                            ignored, progress bar, per-evaluation :class:`History`
:func:`evaluate`            pixel accuracy, mIoU, per-class IoU, boundary F on a dataset
:func:`train_or_load`       the model cache: load the model an earlier notebook trained
                            with the same configuration, or train it now
:func:`save_checkpoint`,    checkpoints that carry their configuration, loaded with
:func:`load_checkpoint`     ``weights_only=True``
``python -m course_lib.train``  the same training from the command line, and data-parallel
                            under ``torchrun`` (DistributedDataParallel)
==========================  =============================================================

Data-parallel training gives the same weights as one process on the same global batch:
each process takes every ``world_size``-th item of the global batch (a
``DistributedSampler``), augmentations are drawn per item from ``(seed, epoch, index)``,
batch-norm statistics are summed over the processes, and the loss is normalised by the
global count of non-void pixels (see ``tests/test_train.py``).

Examples
--------
>>> cfg = TrainConfig("fcn32s", steps=200)                     # doctest: +SKIP
>>> net, history = train_or_load(cfg)                           # doctest: +SKIP
>>> evaluate(net, validation_data()).miou                       # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import config as _config
from ._checks import check_choice, check_int, check_positive, check_real
from .data.classes import VOC_CLASSES, VOC_VOID

__all__ = ["TrainConfig", "History", "EvalResult", "TrainingDiverged", "fit", "evaluate",
           "predict", "train_or_load", "save_checkpoint", "load_checkpoint", "training_data",
           "validation_data", "model_cache_dir", "quick_config", "main"]

#: Bumped when a change to the library makes cached models stale. 2: the FCN-16s/8s that
#: today's code trains from a configuration differ from those that earlier code trained from
#: the same one (the notebooks' outputs are those of today's models).
CACHE_VERSION = 2


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite."""


# --------------------------------------------------------------------------- configuration
@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model; equal configs give the same weights
    (on the same machine and thread count).

    Attributes
    ----------
    model : str
        Registry name in :data:`course_lib.models.REGISTRY` (``"fcn32s"``, ...).
    num_classes : int
        21 for Pasture/VOC labels.
    model_kwargs : tuple of (str, value)
        Extra constructor arguments, as sorted ``(name, value)`` pairs (hashable).
    train_scenes : int
        Number of rendered Pasture training scenes (seeds ``0 ..``).
    image_size : int
        Side of the rendered scenes (and of the validation images).
    crop_size : int
        Side of the training crops: a fully convolutional network trains on crops and
        predicts on whole images of any size; smaller crops make a step cheaper.
    augment : bool
        Joint random scale / crop / flip (:class:`~course_lib.data.augment.JointAugment`).
    scale : (float, float)
        Zoom range of the augmentation.
    steps, batch_size, lr, weight_decay, warmup :
        The schedule: AdamW, linear warm-up over ``warmup`` of the steps, then cosine decay
        to zero; ``batch_size`` is the *global* batch (all processes together).
    seed : int
        Seeds the weights, the data order and the augmentation.
    """

    model: str = "fcn32s"
    num_classes: int = 21
    model_kwargs: tuple = ()
    train_scenes: int = 2000
    image_size: int = 128
    crop_size: int = 96
    augment: bool = True
    scale: tuple = (0.75, 1.5)
    steps: int = 480
    batch_size: int = 16
    lr: float = 4e-3
    weight_decay: float = 1e-4
    warmup: float = 0.05
    seed: int = 0

    def __post_init__(self):
        from .models import REGISTRY
        from .models._cache import set_checked

        check_choice(self.model, "model", sorted(REGISTRY))
        for name in ("num_classes", "train_scenes", "image_size", "crop_size", "steps",
                     "batch_size"):
            set_checked(self, name, check_int, low=1)
        set_checked(self, "lr", check_positive)
        set_checked(self, "warmup", check_real, low=0.0, high=1.0, high_open=True)
        if isinstance(self.model_kwargs, dict):
            object.__setattr__(self, "model_kwargs", tuple(sorted(self.model_kwargs.items())))

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model_kwargs"] = [list(kv) for kv in self.model_kwargs]
        d["scale"] = list(self.scale)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        d["model_kwargs"] = tuple(tuple(kv) for kv in d.get("model_kwargs", ()))
        d["scale"] = tuple(d.get("scale", (0.75, 1.5)))
        return cls(**d)

    def key(self) -> str:
        """A short hash of the configuration and the library's cache version."""
        from . import __version__

        blob = json.dumps({"config": self.as_dict(), "cache": CACHE_VERSION,
                           "version": __version__}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def build_model(self) -> nn.Module:
        from .models import build

        return build(self.model, self.num_classes, **dict(self.model_kwargs))


def quick_config(model: str = "fcn32s", **overrides) -> TrainConfig:
    """The configuration the notebooks use for ``model`` in the active profile."""
    s = _config.settings()
    base = dict(model=model, image_size=s.image_size)
    if s.profile == "full":
        base.update(train_scenes=s.train_images, steps=s.train_steps, batch_size=16,
                    crop_size=min(256, s.image_size))
    base.update(overrides)
    return TrainConfig(**base)


# --------------------------------------------------------------------------- data
def training_data(cfg: TrainConfig, *, progress: bool = True):
    """The rendered Pasture training scenes of ``cfg`` (cached), with its augmentation."""
    from .data.augment import JointAugment
    from .data.rendered import pasture_segmentation

    aug = JointAugment(cfg.crop_size, scale=cfg.scale, seed=cfg.seed) if cfg.augment else None
    return pasture_segmentation(cfg.train_scenes, size=cfg.image_size, transforms=aug,
                                progress=progress)


def validation_data(profile: str | None = None):
    """The committed Pasture VOC ``val`` split (100 scenes at 128 px in the quick profile)."""
    from .data.datasets import VOCSegmentationDataset, pasture_voc_root

    return VOCSegmentationDataset(pasture_voc_root(profile or _config.profile()), "val")


# --------------------------------------------------------------------------- history
@dataclass
class History:
    """What :func:`fit` measured, one row per evaluation point.

    Each row: ``step``, ``seconds`` (training time so far), ``loss`` (mean training loss
    since the previous row), ``pixel_accuracy`` and ``miou`` (on the training batches
    since the previous row, void ignored), and ``val_pixel_accuracy`` / ``val_miou`` when
    validation data was given.
    """

    rows: list = field(default_factory=list)

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        return self.rows[i]

    def column(self, name: str) -> list:
        return [row.get(name, float("nan")) for row in self.rows]

    def table(self) -> str:
        keys = [k for k in ("step", "seconds", "loss", "pixel_accuracy", "miou",
                            "val_pixel_accuracy", "val_miou") if any(k in r for r in self.rows)]
        lines = ["".join(f"{k:>20s}" for k in keys)]
        for r in self.rows:
            lines.append("".join(f"{r[k]:>20d}" if k == "step" else f"{r.get(k, float('nan')):>20.3f}"
                                 for k in keys))
        return "\n".join(lines)

    def plot(self, axes=None, *, title: str | None = None):
        """Loss, and pixel accuracy / mIoU (train and validation), against the step."""
        import matplotlib.pyplot as plt

        if axes is None:
            _, axes = plt.subplots(1, 2, figsize=(10, 3.2))
        steps = self.column("step")
        axes[0].plot(steps, self.column("loss"), "o-", color="tab:red")
        axes[0].set(xlabel="step", ylabel="training loss (cross-entropy)", title="loss")
        for key, style, label in (("pixel_accuracy", "o--", "pixel accuracy (train)"),
                                  ("miou", "s--", "mIoU (train)"),
                                  ("val_pixel_accuracy", "o-", "pixel accuracy (val)"),
                                  ("val_miou", "s-", "mIoU (val)")):
            if any(key in r for r in self.rows):
                axes[1].plot(steps, self.column(key), style, label=label)
        axes[1].set(xlabel="step", ylabel="score", ylim=(0, 1), title="accuracy and mIoU")
        axes[1].legend(loc="lower right", fontsize=8)
        if title:
            axes[0].figure.suptitle(title)
        return axes

    def to_list(self) -> list:
        return [dict(r) for r in self.rows]


@dataclass
class EvalResult:
    """Scores of a model on a dataset (see :func:`evaluate`)."""

    pixel_accuracy: float
    mean_class_accuracy: float
    miou: float
    iou: Tensor                 # (K,) float64, NaN for classes in neither pred nor truth
    boundary_f: float           # mean boundary F over present classes
    boundary_f_per_class: Tensor
    confusion: Tensor
    predictions: Tensor | None = None     # (N, H, W) uint8 when asked for

    def table(self, names=VOC_CLASSES) -> str:
        rows = [f"pixel accuracy {self.pixel_accuracy:.3f}   mean class accuracy "
                f"{self.mean_class_accuracy:.3f}   mIoU {self.miou:.3f}   boundary F "
                f"{self.boundary_f:.3f}"]
        for c in torch.nonzero(~torch.isnan(self.iou)).flatten().tolist():
            rows.append(f"  {names[c]:<12s} IoU {float(self.iou[c]):.3f}   boundary F "
                        f"{float(self.boundary_f_per_class[c]):.3f}")
        return "\n".join(rows)


# --------------------------------------------------------------------------- distributed
def _dist():
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class _SyncBatchNorm2d(nn.BatchNorm2d):
    """Batch norm whose batch statistics are summed over all processes (any device).

    ``torch.nn.SyncBatchNorm`` only runs on GPUs; this equivalent uses the differentiable
    ``all_reduce`` of ``torch.distributed.nn`` so that gloo (CPU) works too.
    """

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return super().forward(x)
        import warnings

        from torch.distributed.nn.functional import all_reduce

        C = x.shape[1]
        count = x.new_full((1,), x.numel() // C)
        stats = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        with warnings.catch_warnings():   # deprecated in favour of a private API; still exact
            warnings.simplefilter("ignore", FutureWarning)
            stats = all_reduce(stats)
        n = stats[-1]
        mean = stats[:C] / n
        var = (stats[C:2 * C] / n - mean * mean).clamp(min=0)
        with torch.no_grad():
            self.num_batches_tracked += 1
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
            self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1).clamp(min=1), alpha=m)
        y = (x - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]


def _convert_sync_bn(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.BatchNorm2d) and not isinstance(module, _SyncBatchNorm2d):
        new = _SyncBatchNorm2d(module.num_features, module.eps, module.momentum, module.affine,
                               module.track_running_stats, device=module.weight.device,
                               dtype=module.weight.dtype)
        new.load_state_dict(module.state_dict())
        return new
    for name, child in module.named_children():
        setattr(module, name, _convert_sync_bn(child))
    return module


def _all_reduce_(t: Tensor) -> Tensor:
    import torch.distributed as dist

    if _dist()[1] > 1:
        dist.all_reduce(t)
    return t


# --------------------------------------------------------------------------- training
def _lr_factor(step: int, steps: int, warmup: float) -> float:
    w = max(1, int(round(warmup * steps)))
    if step < w:
        return (step + 1) / w
    return 0.5 * (1 + math.cos(math.pi * (step - w) / max(1, steps - w)))


def _batches(dataset, batch_size: int, seed: int, rank: int, world: int):
    """Endless local batches: epoch after epoch of a DistributedSampler's order."""
    from torch.utils.data import DataLoader, DistributedSampler

    sampler = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                 seed=seed, drop_last=True)
    loader = DataLoader(dataset, batch_size=batch_size // world, sampler=sampler,
                        drop_last=True, num_workers=0)
    epoch = 0
    while True:
        sampler.set_epoch(epoch)
        transforms = getattr(dataset, "transforms", None)
        if hasattr(transforms, "set_epoch"):
            transforms.set_epoch(epoch)
        yield from loader
        epoch += 1


def fit(net: nn.Module, dataset, *, steps: int, batch_size: int = 16, lr: float = 3e-3,
        weight_decay: float = 1e-4, warmup: float = 0.05, seed: int = 0, val=None,
        eval_every: int | None = None, num_classes: int = 21, device=None,
        progress: bool = True, channels_last: bool = True,
        class_weights: Tensor | None = None) -> History:
    """Train ``net`` on ``dataset`` for ``steps`` optimiser steps and return its history.

    Parameters
    ----------
    net : nn.Module
        Maps ``(N, 3, H, W)`` images to ``(N, K, H, W)`` logits.
    dataset : torch Dataset of (image Tensor[3, H, W], label Tensor[H, W] int64)
        Labels 0..K-1, 255 = void (ignored by the loss and the metrics).
    steps : int
        Optimiser steps.
    batch_size : int
        The global batch; under ``torchrun`` each of the ``W`` processes takes
        ``batch_size / W`` items of it (``batch_size`` must be divisible by ``W``).
    lr, weight_decay, warmup :
        AdamW with linear warm-up over a ``warmup`` fraction of the steps, then cosine decay.
    seed : int
        Seeds the data order (and, through the dataset's transforms, the augmentation).
    val : Dataset, optional
        Scored (pixel accuracy and mIoU) at every evaluation point.
    eval_every : int, optional
        Steps between history rows (default: 5 rows in all).
    device : torch.device, optional
        Default: the device of ``net``'s parameters.
    channels_last : bool
        Use the channels-last memory format (faster convolutions on CPUs and GPUs).

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        When the loss becomes NaN or infinite (the message names the step and the lr).
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"net must be a torch.nn.Module, got {type(net).__name__}")
    steps = check_int(steps, "steps", low=1)
    batch_size = check_int(batch_size, "batch_size", low=1)
    check_positive(lr, "lr")
    rank, world = _dist()
    if batch_size % world:
        raise ValueError(f"batch_size ({batch_size}) must be divisible by the number of "
                         f"processes ({world})")
    if len(dataset) < batch_size:
        raise ValueError(f"dataset has {len(dataset)} items, fewer than one batch of "
                         f"{batch_size}")
    eval_every = eval_every or max(1, steps // 5)
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.to(device)
    dtype = next(net.parameters()).dtype        # float64 nets train on float64 images
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    net.to(memory_format=memory_format)
    model = net
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        _convert_sync_bn(net)
        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda"
                                        else None, broadcast_buffers=False)
    decay = [p for n, p in net.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in net.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: _lr_factor(s, steps, warmup))
    history = History()
    batches = _batches(dataset, batch_size, seed, rank, world)
    bar = None
    if progress and rank == 0:
        from ._progress import progress_bar

        bar = progress_bar(total=steps,
                           desc=f"training {getattr(net, 'name', type(net).__name__)}")
    K = num_classes
    if class_weights is not None:
        class_weights = torch.as_tensor(class_weights, dtype=torch.float32, device=device)
        if class_weights.shape != (K,):
            raise ValueError(f"class_weights must have shape ({K},), got "
                             f"{tuple(class_weights.shape)}")
    running = torch.zeros(3, device=device, dtype=torch.float64)     # loss sum, batches, -
    cm = torch.zeros(K, K, dtype=torch.int64, device=device)
    tic, seconds = time.perf_counter(), 0.0
    net.train()
    for step in range(steps):
        images, labels = next(batches)
        images = images.to(device, dtype=dtype, non_blocking=True).contiguous(
            memory_format=memory_format)
        labels = labels.to(device, non_blocking=True)
        logits = model(images)
        valid = labels != VOC_VOID
        n_valid = valid.sum().to(torch.float64)
        n_valid = _all_reduce_(n_valid.clone())
        loss_sum = F.cross_entropy(logits, labels, weight=class_weights, ignore_index=VOC_VOID,
                                   reduction="sum")
        # normalised by the *global* count: W processes' gradients average to one process's
        loss = loss_sum * world / n_valid.clamp(min=1).to(loss_sum.dtype)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"the loss became {loss.item()} at step {step} (lr "
                                   f"{scheduler.get_last_lr()[0]:.3g}); lower lr, check the "
                                   "inputs for NaN, or the labels for values >= num_classes")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        with torch.no_grad():
            pred = logits.argmax(1)
            t, p = labels[valid], pred[valid]
            cm += torch.bincount(t * K + p, minlength=K * K).view(K, K)
            running[0] += loss.item() / world
            running[1] += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item() / world:.3f}")
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            seconds += time.perf_counter() - tic
            _all_reduce_(running)         # loss shares summed: the global loss per batch
            _all_reduce_(cm)
            batches_seen = running[1] / world
            row = {"step": step + 1, "seconds": seconds,
                   "loss": float(running[0] / batches_seen) if running[1] else float("nan")}
            row.update(_scores_from_cm(cm))
            if val is not None:
                r = evaluate(net, val, num_classes=K, boundary=False, progress=False)
                row.update(val_pixel_accuracy=r.pixel_accuracy, val_miou=r.miou)
                net.train()
            history.rows.append(row)
            running.zero_()
            cm.zero_()
            tic = time.perf_counter()
    if bar is not None:
        bar.close()
    net.eval()
    net.to(memory_format=torch.contiguous_format)
    return history


def _scores_from_cm(cm: Tensor) -> dict:
    from .metrics import scores

    s = scores(cm.cpu())
    return {"pixel_accuracy": float(s.pixel_accuracy), "miou": float(s.mean_iou)}


# --------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict(net: nn.Module, images: Tensor, *, batch_size: int = 32) -> Tensor:
    """Label maps ``Tensor[N, H, W]`` int64 (argmax of the logits) for ``images (Tensor[N,
    3, H, W])``, computed on ``net``'s device in eval mode."""
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (N, 3, H, W) tensor, got "
                         f"{tuple(getattr(images, 'shape', ()))}")
    p = next(net.parameters())
    net.eval()
    out = [net(images[i:i + batch_size].to(p.device, p.dtype)).argmax(1).cpu()
           for i in range(0, images.shape[0], batch_size)]
    return torch.cat(out) if out else images.new_zeros((0, *images.shape[2:]), dtype=torch.long)


@torch.no_grad()
def evaluate(net: nn.Module, dataset, *, num_classes: int = 21, batch_size: int = 25,
             boundary: bool = True, tolerance: int = 2, keep_predictions: bool = False,
             progress: bool = False) -> EvalResult:
    """Score ``net`` on every item of ``dataset`` (void pixels ignored).

    Returns
    -------
    EvalResult
        Pixel accuracy, mean class accuracy, mIoU and per-class IoU from the confusion
        matrix summed over the dataset; the boundary F-score (``tolerance`` pixels) from the
        boundary counts summed over the dataset; the predictions when ``keep_predictions``.
    """
    from .metrics import ConfusionMatrix, boundary_f_score

    if len(dataset) == 0:
        raise ValueError("dataset is empty: nothing to evaluate")
    p = next(net.parameters())
    was_training = net.training
    net.eval()
    meter = ConfusionMatrix(num_classes)
    preds, targets = [], []
    indices = range(0, len(dataset), batch_size)
    if progress:
        from ._progress import progress_bar

        indices = progress_bar(indices, desc="evaluating")
    for start in indices:
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        images = torch.stack([im for im, _ in items]).to(p.device, p.dtype)
        labels = torch.stack([lb for _, lb in items])
        pred = net(images).argmax(1).cpu()
        meter.update(pred, labels)
        if boundary or keep_predictions:
            preds.append(pred.to(torch.uint8))
            targets.append(labels)
    net.train(was_training)
    s = meter.compute()
    if boundary:
        b = boundary_f_score(torch.cat(preds).long(), torch.cat(targets), num_classes,
                             tolerance=tolerance)
        bf, bf_c = float(b.mean_f_score), b.f_score
    else:
        bf, bf_c = float("nan"), torch.full((num_classes,), float("nan"), dtype=torch.float64)
    return EvalResult(pixel_accuracy=float(s.pixel_accuracy),
                      mean_class_accuracy=float(s.mean_class_accuracy), miou=float(s.mean_iou),
                      iou=s.iou, boundary_f=bf, boundary_f_per_class=bf_c,
                      confusion=meter.confusion,
                      predictions=torch.cat(preds) if keep_predictions else None)


# --------------------------------------------------------------------------- checkpoints
def save_checkpoint(path, net: nn.Module, cfg: TrainConfig, history: History | None = None,
                    **extra) -> Path:
    """Write ``net``'s weights with ``cfg`` and the history to ``path`` (atomically)."""
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"config": json.dumps(cfg.as_dict(), sort_keys=True), "key": cfg.key(),
               "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
               "history": json.dumps(history.to_list() if history else []),
               "extra": json.dumps(extra)}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path, cfg: TrainConfig | None = None, *, device=None):
    """Load a checkpoint written by :func:`save_checkpoint`: ``(net, cfg, history)``.

    Loads with ``torch.load(weights_only=True)`` (no pickled code runs). If ``cfg`` is
    given, the checkpoint must have been trained with exactly that configuration.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not such a checkpoint, or was trained with another configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        saved = TrainConfig.from_dict(json.loads(payload["config"]))
        state = payload["state_dict"]
        rows = json.loads(payload.get("history", "[]"))
    except Exception as err:
        raise ValueError(f"{path} is not a course_lib checkpoint ({type(err).__name__}: "
                         f"{err})") from err
    if cfg is not None and saved != cfg:
        diff = {k: (v, getattr(cfg, k)) for k, v in dataclasses.asdict(saved).items()
                if v != getattr(cfg, k)}
        raise ValueError(f"checkpoint {path} was trained with another configuration; "
                         f"differences (saved, asked): {diff}")
    net = saved.build_model()
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not fit model {saved.model!r}: {err}") from err
    net.eval()
    if device is not None:
        net.to(device)
    return net, saved, History(rows)


# --------------------------------------------------------------------------- model cache
def model_cache_dir() -> Path:
    """Where trained models are cached: ``<cache_dir>/models`` (``$COURSE_CACHE``)."""
    return _config.cache_dir() / "models"


def train_or_load(cfg: TrainConfig, *, force: bool | None = None, device=None,
                  progress: bool = True, val=None, eval_every: int | None = None):
    """The model trained with ``cfg``: from the cache if an earlier run trained it, else
    trained now (and cached). Returns ``(net, history)``; ``net`` is in eval mode.

    ``force=True`` (or the environment variable ``COURSE_RETRAIN=1``) trains again and
    overwrites the cached copy. The cache file is
    ``model_cache_dir() / f"{cfg.model}-{cfg.key()}.pt"``.
    """
    if not isinstance(cfg, TrainConfig):
        raise TypeError(f"cfg must be a TrainConfig, got {type(cfg).__name__}")
    if force is None:
        force = os.environ.get("COURSE_RETRAIN", "0").strip().lower() in ("1", "true", "yes")
    device = torch.device(device) if device is not None else _config.device()
    path = model_cache_dir() / f"{cfg.model}-{cfg.key()}.pt"
    if path.is_file() and not force:
        try:
            net, _, history = load_checkpoint(path, cfg, device=device)
            return net, history
        except ValueError:
            pass          # a stale or damaged file: train again and replace it
    data = training_data(cfg, progress=progress)
    torch.manual_seed(cfg.seed)
    net = cfg.build_model().to(device)
    history = fit(net, data, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                  weight_decay=cfg.weight_decay, warmup=cfg.warmup, seed=cfg.seed, val=val,
                  eval_every=eval_every, num_classes=cfg.num_classes, device=device,
                  progress=progress)
    if _dist()[0] == 0:
        save_checkpoint(path, net, cfg, history)
    return net, history


# --------------------------------------------------------------------------- command line
def main(argv=None) -> int:
    """``python -m course_lib.train --model fcn8s --steps 300 [--out ckpt.pt]``, also under
    ``torchrun --nproc_per_node=N`` (gloo on CPUs, NCCL on GPUs)."""
    parser = argparse.ArgumentParser(prog="python -m course_lib.train",
                                     description="Train a course model on rendered Pasture "
                                                 "scenes (data-parallel under torchrun).")
    defaults = quick_config()
    parser.add_argument("--model", default=defaults.model)
    parser.add_argument("--steps", type=int, default=defaults.steps)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size,
                        help="global batch, split over the processes")
    parser.add_argument("--lr", type=float, default=defaults.lr)
    parser.add_argument("--train-scenes", type=int, default=defaults.train_scenes)
    parser.add_argument("--image-size", type=int, default=defaults.image_size)
    parser.add_argument("--crop-size", type=int, default=defaults.crop_size)
    parser.add_argument("--no-augment", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    parser.add_argument("--out", default=None, help="checkpoint path (default: the model cache)")
    parser.add_argument("--evaluate", action="store_true", help="score on Pasture val after")
    parser.add_argument("--float64", action="store_true",
                        help="train in double precision (slow; for exactness checks)")
    args = parser.parse_args(argv)
    cfg = TrainConfig(model=args.model, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                      train_scenes=args.train_scenes, image_size=args.image_size,
                      crop_size=args.crop_size,
                      augment=not args.no_augment, seed=args.seed)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device:
        device = torch.device(args.device)
    else:
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        data = training_data(cfg, progress=rank == 0)
        torch.manual_seed(cfg.seed)
        net = cfg.build_model().to(device, torch.float64 if args.float64 else torch.float32)
        history = fit(net, data, steps=cfg.steps, batch_size=cfg.batch_size, lr=cfg.lr,
                      weight_decay=cfg.weight_decay, warmup=cfg.warmup, seed=cfg.seed,
                      num_classes=cfg.num_classes, device=device, progress=rank == 0)
        if rank == 0:
            out = Path(args.out) if args.out else model_cache_dir() / f"{cfg.model}-{cfg.key()}.pt"
            # a process-count-independent state: plain BatchNorm modules again
            save_checkpoint(out, net, cfg, history, world_size=world)
            print(history.table())
            print(f"saved {out}")
            if args.evaluate:
                print(evaluate(net, validation_data()).table())
    finally:
        if world > 1:
            import torch.distributed as dist

            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
