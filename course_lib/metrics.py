"""Segmentation metrics: the confusion matrix and everything computed from it.

Every region metric of semantic segmentation is a function of one table, the
**confusion matrix** ``cm`` of shape ``(K, K)``: ``cm[i, j]`` counts the pixels whose
ground truth is class ``i`` (row) and whose prediction is class ``j`` (column),
over the *valid* pixels only (those whose target is not ``ignore_index``, VOC's
void 255). From it:

============================  ===============================================
metric                        formula (``TP_c = cm[c, c]``)
============================  ===============================================
pixel accuracy                ``sum_c TP_c / sum(cm)``
class accuracy (recall) of c  ``TP_c / sum(cm[c, :])``  (NaN if c has no pixel)
mean class accuracy           mean of the defined class accuracies
IoU of c                      ``TP_c / (sum(cm[c, :]) + sum(cm[:, c]) - TP_c)``
mean IoU (mIoU)               mean of the defined IoUs: a class absent from both
                              prediction and truth has IoU 0/0 = NaN and is left out
frequency-weighted IoU        ``sum_c freq_c * IoU_c`` with ``freq_c = sum(cm[c, :]) / sum(cm)``
============================  ===============================================

The API has three layers:

* :func:`confusion_matrix` (one ``torch.bincount`` pass) and :func:`scores`
  (all metrics of a confusion matrix, as a :class:`SegmentationScores`);
* convenience wrappers with the signature of the rest of the library,
  ``f(pred, target, num_classes, *, ignore_index=255)``: :func:`pixel_accuracy`,
  :func:`mean_class_accuracy`, :func:`iou_per_class`, :func:`mean_iou`,
  :func:`frequency_weighted_iou`;
* :class:`ConfusionMatrix`, a streaming accumulator for evaluation loops.

Region metrics barely notice a missing thin part (a cow without its legs still
scores a high IoU), so the module also has **boundary** metrics:
:func:`boundary_f_score` (Csurka et al. 2013; Perazzi et al. 2016) and
:func:`trimap_accuracy` (Kohli et al. 2009), built on :func:`boundaries`.

Everything computes on the device of its inputs (CPU or CUDA).

Examples
--------
>>> import torch
>>> from course_lib import metrics
>>> target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 255, 255]])
>>> pred = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1], [2, 1, 0, 0]])
>>> cm = metrics.confusion_matrix(pred, target, num_classes=3)
>>> cm
tensor([[4, 0, 0],
        [1, 3, 0],
        [0, 1, 1]])
>>> s = metrics.scores(cm)
>>> round(float(s.pixel_accuracy), 4), round(float(s.mean_iou), 4)
(0.8, 0.6333)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from ._boundary import label_boundaries
from ._checks import (
    as_tensor,
    check_choice,
    check_finite,
    check_ignore_index,
    check_int,
    check_num_classes,
    check_same_device,
    label_tensor,
    valid_mask,
)

__all__ = [
    "confusion_matrix",
    "scores",
    "SegmentationScores",
    "pixel_accuracy",
    "class_accuracy",
    "mean_class_accuracy",
    "iou_per_class",
    "mean_iou",
    "frequency_weighted_iou",
    "ConfusionMatrix",
    "boundaries",
    "boundary_f_score",
    "BoundaryScores",
    "trimap_accuracy",
]


# --------------------------------------------------------------------------- validation
def _prepare(pred, target, num_classes, ignore_index, *, check_range: bool = True):
    """Validate inputs; return ``(pred, target, valid)``: integer tensors of one shape.

    ``valid`` is a bool tensor (target != ignore_index) or None when nothing is ignored
    (``ignore_index`` None or a value the target's dtype cannot hold).
    With ``check_range``, raises if a valid pixel holds a label outside ``[0, num_classes)``.
    """
    pred = as_tensor(pred, "pred")
    target = label_tensor(target, "target")
    num_classes = check_num_classes(num_classes)
    ignore_index = check_ignore_index(ignore_index)
    check_same_device(pred, target, "pred", "target")
    if (pred.is_floating_point() and pred.ndim == target.ndim + 1
            and pred.ndim >= 2):
        # scores / logits (N, C, ...) -> labels (N, ...)
        if pred.shape[1] != num_classes or pred.shape[:1] + pred.shape[2:] != target.shape:
            raise ValueError(
                f"pred looks like scores of shape (N, C, ...) = {tuple(pred.shape)}; expected "
                f"C = num_classes = {num_classes} and the other dimensions equal to target's "
                f"{tuple(target.shape)}")
        check_finite(pred, "pred")
        pred = pred.argmax(dim=1)
    if pred.is_floating_point() or pred.is_complex():
        raise TypeError(
            f"pred must hold integer class labels, got dtype {pred.dtype} with shape "
            f"{tuple(pred.shape)}; take scores.argmax(dim=1) first (or pass scores of shape "
            f"(N, C, ...) with target (N, ...))")
    pred = label_tensor(pred, "pred")
    if pred.shape != target.shape:
        raise ValueError(f"pred and target must have the same shape, got pred "
                         f"{tuple(pred.shape)} and target {tuple(target.shape)}")
    valid = valid_mask(target, ignore_index)
    if check_range:
        _check_range(pred, target, valid, num_classes, ignore_index)
    return pred, target, valid


def _check_range(pred, target, valid, num_classes, ignore_index):
    """Raise if a valid pixel is out of range; return ``(pred, target)`` with void set to 0."""
    if target.numel() == 0:
        return pred, target
    # Range of each input over the valid pixels (void pixels replaced by 0, always legal).
    t = target if valid is None else torch.where(valid, target, 0)
    p = pred if valid is None else torch.where(valid, pred, 0)
    bounds = torch.stack([x.long() for x in (*torch.aminmax(t.reshape(-1)),
                                             *torch.aminmax(p.reshape(-1)))])
    t_lo, t_hi, p_lo, p_hi = bounds.tolist()                     # one device sync
    for name, lo, hi, x in (("target", t_lo, t_hi, t), ("pred", p_lo, p_hi, p)):
        if lo < 0 or hi >= num_classes:
            bad = x[(x < 0) | (x >= num_classes)]
            values = torch.unique(bad)[:5].tolist()
            where = "" if name == "target" else f" at pixels where target != {ignore_index}"
            raise ValueError(
                f"{name} holds labels outside [0, num_classes={num_classes}){where}: found "
                f"{values} ({bad.numel()} pixels); only target may hold "
                f"ignore_index={ignore_index} outside that range")
    return p, t


def _code_dtype(largest: int) -> torch.dtype:
    # bincount reads narrow integers much faster than int64 (memory traffic)
    for dtype in (torch.int16, torch.int32):
        if largest <= torch.iinfo(dtype).max:
            return dtype
    return torch.int64


# --------------------------------------------------------------------------- confusion matrix
def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = 255) -> Tensor:
    """Count (ground truth, prediction) pairs over the valid pixels.

    Parameters
    ----------
    pred : Tensor[...] (integer) or Tensor[N, C, ...] (float scores)
        Predicted labels, same shape as ``target`` (``(H, W)``, ``(N, H, W)``, ...). Scores or
        logits with one more dimension (classes on dim 1) are reduced with ``argmax(dim=1)``.
        Bool masks count as labels 0/1. Numpy arrays are accepted.
    target : Tensor[...] (integer)
        Ground-truth labels in ``[0, num_classes)``, or ``ignore_index``.
    num_classes : int
        ``K``, the number of classes (>= 1).
    ignore_index : int or None, default 255
        Target value of pixels that are left out (VOC's void). ``pred`` may hold anything
        at those pixels. ``None`` ignores nothing.

    Returns
    -------
    cm : Tensor[K, K] (int64, on the inputs' device)
        ``cm[i, j]`` = number of valid pixels with truth ``i`` and prediction ``j``
        (rows = ground truth, columns = prediction, as in ``sklearn.metrics.confusion_matrix``).

    Raises
    ------
    TypeError
        Non-tensor inputs, float labels, non-int ``num_classes`` / ``ignore_index``.
    ValueError
        Shape or device mismatch, ``num_classes < 1``, a valid pixel whose label is negative
        or ``>= num_classes`` (in ``target`` or ``pred``).

    Notes
    -----
    One ``torch.bincount`` of ``K * target + pred``: each pair ``(i, j)`` gets its own bin
    ``K i + j``, and reshaping the ``K^2`` counts gives the table. (In the code every bin is
    shifted by one, so that ignored pixels can all go to bin 0, which is dropped: cheaper
    than gathering the valid pixels. The codes are stored in the narrowest integer type that
    holds them, which is what makes the count fast.)

    Examples
    --------
    >>> confusion_matrix(torch.tensor([0, 1, 1, 0]), torch.tensor([0, 1, 0, 255]), 2)
    tensor([[1, 1],
            [0, 1]])
    """
    pred, target, valid = _prepare(pred, target, num_classes, ignore_index, check_range=False)
    K = int(num_classes)
    if target.numel() == 0:
        return torch.zeros(K, K, dtype=torch.int64, device=target.device)
    # Fast path: one sync for the raw ranges; the bincount itself catches valid targets >= K.
    bounds = torch.stack([x.long() for x in (*torch.aminmax(target.reshape(-1)),
                                             *torch.aminmax(pred.reshape(-1)))])
    t_lo, t_hi, p_lo, p_hi = bounds.tolist()
    if t_lo < 0 or p_lo < 0 or p_hi >= K or t_hi * K + K > max(K * K + 1, 1 << 20):
        # Out-of-range values somewhere (legal only at ignored pixels), or target values so
        # large that their bins would not fit in memory: check, and zero the ignored pixels.
        pred, target = _check_range(pred, target, valid, K, ignore_index)
        t_hi = K - 1
    dtype = _code_dtype(t_hi * K + K)
    code = torch.add(pred.to(dtype), target.to(dtype), alpha=K).add_(1)   # (i, j) -> K i + j + 1
    if valid is not None:
        code = torch.where(valid, code, 0)                              # ignored -> bin 0
    bins = torch.bincount(code.reshape(-1), minlength=K * K + 1)
    if bins.numel() > K * K + 1:                    # a valid target >= K
        _check_range(pred, target, valid, K, ignore_index)
        raise AssertionError("unreachable: _check_range must have raised")
    return bins[1:].reshape(K, K)


def _check_confusion(cm) -> Tensor:
    cm = as_tensor(cm, "cm")
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] < 1:
        raise ValueError(f"cm must be a square (K, K) matrix with K >= 1, got shape "
                         f"{tuple(cm.shape)}")
    if cm.is_complex() or cm.dtype == torch.bool:
        raise TypeError(f"cm must hold real counts, got dtype {cm.dtype}")
    check_finite(cm, "cm")
    if bool((cm < 0).any()):
        raise ValueError("cm must hold non-negative counts, found negative entries")
    return cm


@dataclass(frozen=True)
class SegmentationScores:
    """All region metrics of one confusion matrix (tensors on the matrix's device, float64).

    Attributes
    ----------
    confusion : Tensor[K, K]
        The confusion matrix (rows = ground truth, columns = prediction): int64 counts, or
        float64 when the matrix given to :func:`scores` was floating point (weighted counts).
    pixel_accuracy : Tensor[]
        Correct valid pixels / valid pixels (NaN if there are no valid pixels).
    class_accuracy : Tensor[K]
        Per-class recall ``TP / (TP + FN)``; NaN for classes with no ground-truth pixel.
    mean_class_accuracy : Tensor[]
        NaN-mean of ``class_accuracy``.
    iou : Tensor[K]
        Per-class ``TP / (TP + FP + FN)``; NaN for classes absent from prediction and truth.
    mean_iou : Tensor[]
        NaN-mean of ``iou`` (absent classes excluded).
    frequency_weighted_iou : Tensor[]
        ``sum_c freq_c IoU_c`` with ``freq_c`` the share of valid pixels whose truth is ``c``.
    """

    confusion: Tensor
    pixel_accuracy: Tensor
    class_accuracy: Tensor
    mean_class_accuracy: Tensor
    iou: Tensor
    mean_iou: Tensor
    frequency_weighted_iou: Tensor

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    def as_dict(self) -> dict:
        """The scalar metrics as Python floats (NaN stays NaN)."""
        return {
            "pixel_accuracy": float(self.pixel_accuracy),
            "mean_class_accuracy": float(self.mean_class_accuracy),
            "mean_iou": float(self.mean_iou),
            "frequency_weighted_iou": float(self.frequency_weighted_iou),
        }

    def table(self, names=None, *, digits: int = 3, absent: bool = False) -> str:
        """A text table: one row per class (IoU, class accuracy, truth pixels), then the means.

        ``names`` (sequence of K str) labels the rows. Classes absent from both prediction
        and truth are skipped unless ``absent=True`` (then shown with ``-``).
        """
        K = self.num_classes
        names = [str(i) for i in range(K)] if names is None else [str(n) for n in names]
        if len(names) != K:
            raise ValueError(f"names must have num_classes={K} entries, got {len(names)}")
        summary = self.as_dict()
        width = max(len(n) for n in [*names, *summary])
        gt = self.confusion.sum(1).tolist()

        def fmt(x):
            return "-" if x != x else f"{x:.{digits}f}"

        lines = [f"{'class':<{width}}  {'IoU':>7}  {'acc':>7}  {'pixels':>9}"]
        for n, iou, acc, px in zip(names, self.iou.tolist(), self.class_accuracy.tolist(), gt,
                                   strict=True):
            if absent or iou == iou:
                lines.append(f"{n:<{width}}  {fmt(iou):>7}  {fmt(acc):>7}  {int(px):>9}")
        for key, value in summary.items():
            lines.append(f"{key:<{width}}  {fmt(value):>7}")
        return "\n".join(lines)


def _nanmean(x: Tensor) -> Tensor:
    keep = ~torch.isnan(x)
    if not bool(keep.any()):
        return x.new_tensor(float("nan"))
    return x[keep].mean()


def scores(cm: Tensor) -> SegmentationScores:
    """Compute every region metric from a confusion matrix.

    Parameters
    ----------
    cm : Tensor[K, K]
        Counts with rows = ground truth and columns = prediction, as returned by
        :func:`confusion_matrix` or :meth:`ConfusionMatrix.confusion`.

    Returns
    -------
    SegmentationScores
        Pixel accuracy, per-class and mean class accuracy, per-class IoU, mIoU and
        frequency-weighted IoU, as float64 tensors on ``cm``'s device.

    Notes
    -----
    Undefined ratios (0/0) are NaN and are *left out* of the means, never counted as 0 or 1:
    a class that is in neither the prediction nor the truth of the evaluated pixels says
    nothing about the model. A class that is only predicted (false positives, no truth)
    has IoU 0 and pulls mIoU down; its class accuracy is undefined.

    Examples
    --------
    Class 2 appears nowhere (NaN, left out); class 1 is only predicted (IoU 0, counted):

    >>> s = scores(torch.tensor([[3, 1, 0], [0, 0, 0], [0, 0, 0]]))
    >>> s.iou, float(s.mean_iou)
    (tensor([0.7500, 0.0000,    nan], dtype=torch.float64), 0.375)
    """
    counts = _check_confusion(cm)
    counts = counts.to(torch.float64 if counts.is_floating_point() else torch.int64)
    cm = counts.to(torch.float64)
    tp = cm.diagonal()                         # (K,)
    gt = cm.sum(dim=1)                         # (K,) truth pixels per class (TP + FN)
    pr = cm.sum(dim=0)                         # (K,) predicted pixels per class (TP + FP)
    total = cm.sum()
    nan = cm.new_tensor(float("nan"))
    pixel_acc = tp.sum() / total if total > 0 else nan
    class_acc = torch.where(gt > 0, tp / gt.clamp(min=1), nan)
    union = gt + pr - tp
    iou = torch.where(union > 0, tp / union.clamp(min=1), nan)
    if total > 0:
        freq = gt / total
        fw_iou = (freq[gt > 0] * iou[gt > 0]).sum()
    else:
        fw_iou = nan
    return SegmentationScores(
        confusion=counts,
        pixel_accuracy=pixel_acc,
        class_accuracy=class_acc,
        mean_class_accuracy=_nanmean(class_acc),
        iou=iou,
        mean_iou=_nanmean(iou),
        frequency_weighted_iou=fw_iou,
    )


# --------------------------------------------------------------------------- wrappers
def _wrapper(field: str, summary: str):
    def metric(pred: Tensor, target: Tensor, num_classes: int, *, ignore_index: int | None = 255) -> Tensor:
        cm = confusion_matrix(pred, target, num_classes, ignore_index=ignore_index)
        return getattr(scores(cm), field)

    metric.__name__ = metric.__qualname__ = field if field != "iou" else "iou_per_class"
    metric.__doc__ = f"""{summary}

    Shorthand for ``scores(confusion_matrix(pred, target, num_classes,
    ignore_index=ignore_index)).{field}``; see :func:`confusion_matrix` for the
    arguments (shapes, void handling, errors) and :func:`scores` for the definition.
    """
    return metric


pixel_accuracy = _wrapper("pixel_accuracy", "Share of valid pixels labelled correctly: Tensor[].")
class_accuracy = _wrapper("class_accuracy",
                          "Per-class accuracy (recall), NaN for classes without truth: Tensor[K].")
mean_class_accuracy = _wrapper("mean_class_accuracy",
                               "Mean of the per-class accuracies (void ignored): Tensor[].")
iou_per_class = _wrapper("iou", "Per-class IoU, NaN for classes absent from both: Tensor[K].")
mean_iou = _wrapper("mean_iou", "Mean IoU over the classes present in pred or target: Tensor[].")
frequency_weighted_iou = _wrapper("frequency_weighted_iou",
                                  "IoU averaged with weights = class share of truth: Tensor[].")


# --------------------------------------------------------------------------- accumulator
class ConfusionMatrix:
    """Streaming confusion matrix for evaluation loops.

    Parameters
    ----------
    num_classes : int
        ``K``.
    ignore_index : int or None, default 255
        Target value to leave out (VOC void).

    Examples
    --------
    >>> meter = ConfusionMatrix(3)
    >>> meter.update(torch.tensor([[0, 1], [2, 2]]), torch.tensor([[0, 1], [2, 255]]))
    >>> meter.update(torch.tensor([[1, 1]]), torch.tensor([[1, 0]]))
    >>> round(float(meter.compute().pixel_accuracy), 4)
    0.8
    >>> meter.reset(); meter.confusion.sum().item()
    0

    The matrix lives on the device of the first batch; later batches must be on it too.
    """

    def __init__(self, num_classes: int, *, ignore_index: int | None = 255):
        self.num_classes = check_num_classes(num_classes)
        self.ignore_index = check_ignore_index(ignore_index)
        self._cm: Tensor | None = None

    def update(self, pred: Tensor, target: Tensor) -> None:
        """Add one batch: ``pred``, ``target`` as in :func:`confusion_matrix`."""
        cm = confusion_matrix(pred, target, self.num_classes, ignore_index=self.ignore_index)
        if self._cm is None:
            self._cm = cm
        elif self._cm.device != cm.device:
            raise ValueError(f"pred and target are on {cm.device} but this ConfusionMatrix "
                             f"accumulates on {self._cm.device} (from the first update)")
        else:
            self._cm += cm

    @property
    def confusion(self) -> Tensor:
        """Tensor[K, K] int64: the counts so far (zeros on the CPU before any update)."""
        if self._cm is None:
            return torch.zeros(self.num_classes, self.num_classes, dtype=torch.int64)
        return self._cm.clone()

    def compute(self) -> SegmentationScores:
        """All metrics of the counts so far (see :func:`scores`)."""
        return scores(self.confusion)

    def reset(self) -> None:
        """Forget all counts (the next update chooses the device again)."""
        self._cm = None

    def __repr__(self) -> str:
        n = 0 if self._cm is None else int(self._cm.sum())
        return (f"{type(self).__name__}(num_classes={self.num_classes}, "
                f"ignore_index={self.ignore_index}, pixels={n})")


# --------------------------------------------------------------------------- boundaries
def _pool_dtype(device: torch.device) -> torch.dtype:
    # max_pool2d has no bool kernel; uint8 is cheapest on the CPU, float16 on a GPU.
    return torch.uint8 if device.type == "cpu" else torch.float16


def _dilate(mask: Tensor, radius: int) -> Tensor:
    """Bool (N, H, W) -> pixels within Chebyshev distance ``radius`` of a True pixel."""
    radius = min(radius, max(mask.shape[-2:], default=0))  # no two pixels are farther apart
    if radius == 0:
        return mask
    x = mask.to(_pool_dtype(mask.device)).unsqueeze(1)           # (N, 1, H, W)
    return F.max_pool2d(x, 2 * radius + 1, stride=1, padding=radius).squeeze(1) > 0


def _inner_boundary(mask: Tensor) -> Tensor:
    """Bool (N, H, W): pixels of ``mask`` with an 8-neighbour outside it (image edge excluded)."""
    return mask & label_boundaries(mask, connectivity=8)


def _flatten_images(x: Tensor) -> Tensor:
    """(..., H, W) -> (N, H, W); also for empty inputs."""
    return x.reshape(math.prod(x.shape[:-2]), *x.shape[-2:])


def _check_images(x: Tensor, name: str) -> None:
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (..., H, W) with at least 2 dimensions, got "
                         f"{tuple(x.shape)}")


def boundaries(label: Tensor, *, connectivity: int = 8,
               ignore_index: int | None = None) -> Tensor:
    """Pixels on a boundary of a label map: some neighbour carries a different label.

    Parameters
    ----------
    label : Tensor[..., H, W] (integer or bool)
        Label map(s). Pixels beyond the image edge do not create boundaries. Labels are
        compared exactly (any integer dtype, any value).
    connectivity : {8, 4}
        Neighbours compared: the 8 around a pixel (default) or the 4 sharing a side.
    ignore_index : int or None, default None
        If given, the boundary pixels *at* ``ignore_index`` pixels are dropped (a void band
        then leaves the boundary on the two labelled sides of it).

    Returns
    -------
    Tensor[..., H, W] (bool)
        True on both sides of every label change.

    Examples
    --------
    >>> boundaries(torch.tensor([[0, 0, 1, 1]])).int()
    tensor([[0, 1, 1, 0]], dtype=torch.int32)
    """
    label = label_tensor(label, "label")
    _check_images(label, "label")
    connectivity = check_choice(check_int(connectivity, "connectivity"), "connectivity", (4, 8))
    ignore_index = check_ignore_index(ignore_index)
    return label_boundaries(label, connectivity=connectivity, ignore_index=ignore_index)


@dataclass(frozen=True)
class BoundaryScores:
    """Per-class boundary precision, recall and F-score (float64 tensors).

    Attributes
    ----------
    precision : Tensor[K]
        Share of predicted boundary pixels within the tolerance of a true boundary.
    recall : Tensor[K]
        Share of true boundary pixels within the tolerance of a predicted boundary.
    f_score : Tensor[K]
        ``2 P R / (P + R)``; NaN for classes absent from both prediction and truth.
    mean_f_score : Tensor[]
        NaN-mean of ``f_score``.
    """

    precision: Tensor
    recall: Tensor
    f_score: Tensor
    mean_f_score: Tensor


def boundary_f_score(pred: Tensor, target: Tensor, num_classes: int, *, tolerance: int = 2,
                     ignore_index: int | None = 255) -> BoundaryScores:
    """Boundary F-score (BF) per class, with a tolerance in pixels.

    For each class ``c``, the boundary of a mask is its pixels that touch (8-neighbourhood)
    a pixel outside it. A predicted boundary pixel is *matched* if a true boundary pixel of
    ``c`` lies within ``tolerance`` pixels (Chebyshev distance: a square window, computed by
    max-pool dilation), and vice versa. Precision = matched predicted / predicted boundary
    pixels, recall = matched true / true boundary pixels, F = their harmonic mean.

    Parameters
    ----------
    pred, target : Tensor[..., H, W] (integer)
        Labels as in :func:`confusion_matrix` (a batch ``(N, H, W)`` is several images;
        boundaries never cross from one image to the next).
    num_classes : int
        ``K``.
    tolerance : int, default 2
        Distance in pixels within which a boundary counts as found (DAVIS uses 0.8% of the
        image diagonal, about 1-2 px at 128 px).
    ignore_index : int or None, default 255
        Void target value. Void pixels are never class ``c`` in the truth, so the true
        boundary of an object ringed by VOC's void band runs along its inner edge. Predicted
        boundary pixels *inside* void are not judged (they are left out of the precision)
        but they can match true boundary pixels (recall).

    Returns
    -------
    BoundaryScores
        Per-class precision, recall, F-score, and the mean F-score over the classes present
        in prediction or truth. Counts are summed over all images of the batch before the
        ratios are taken (for one image this is the usual per-image score).

    Notes
    -----
    Empty boundaries follow DAVIS: a ratio with nothing to count is 1. If neither mask of a
    present class has a boundary (e.g. both fill the image), P = R = 1 and F = 1; if only one
    has, the other side's ratio is 0 and F = 0.

    References
    ----------
    .. [1] G. Csurka, D. Larlus, F. Perronnin. "What is a good evaluation measure for semantic
       segmentation?" BMVC 2013. :doi:`10.5244/C.27.32`
    .. [2] F. Perazzi et al. "A Benchmark Dataset and Evaluation Methodology for Video Object
       Segmentation" (DAVIS), CVPR 2016. :doi:`10.1109/CVPR.2016.85`

    Examples
    --------
    >>> t = torch.zeros(8, 8, dtype=torch.long); t[2:6, 2:6] = 1
    >>> float(boundary_f_score(t, t, 2).mean_f_score)
    1.0
    """
    tolerance = check_int(tolerance, "tolerance", low=0)
    pred, target, valid = _prepare(pred, target, num_classes, ignore_index)
    _check_images(pred, "pred")
    pred = _flatten_images(pred)                          # (N, H, W)
    target = _flatten_images(target)
    valid = torch.ones_like(target, dtype=torch.bool) if valid is None else \
        _flatten_images(valid)
    K = int(num_classes)
    # counts[:, c] = matched pred, pred, matched truth, truth boundary pixels, present flag
    counts = torch.zeros(5, K, dtype=torch.float64, device=target.device)
    present = torch.bincount(target[valid], minlength=K) + torch.bincount(pred[valid], minlength=K)
    for c in torch.nonzero(present[:K]).flatten().tolist():
        g = (target == c) & valid
        p = pred == c
        bg = _inner_boundary(g)
        bp_all = _inner_boundary(p)
        bp = bp_all & valid                    # predicted edges inside void are not judged...
        counts[0, c] = (bp & _dilate(bg, tolerance)).sum()
        counts[1, c] = bp.sum()
        counts[2, c] = (bg & _dilate(bp_all, tolerance)).sum()   # ...but may find true edges
        counts[3, c] = bg.sum()
        counts[4, c] = 1
    matched_p, n_p, matched_g, n_g, is_present = counts
    # An empty denominator gives 1 (nothing to get wrong), as in DAVIS.
    precision = torch.where(n_p > 0, matched_p / n_p.clamp(min=1), 1.0)
    recall = torch.where(n_g > 0, matched_g / n_g.clamp(min=1), 1.0)
    denom = precision + recall
    f = torch.where(denom > 0, 2 * precision * recall / denom.clamp(min=1e-300),
                    torch.zeros_like(denom))
    nan = torch.full_like(f, float("nan"))
    absent = is_present == 0
    precision, recall, f = (torch.where(absent, nan, x) for x in (precision, recall, f))
    return BoundaryScores(precision, recall, f, _nanmean(f))


def trimap_accuracy(pred: Tensor, target: Tensor, num_classes: int, *, width: int = 4,
                    ignore_index: int | None = 255) -> Tensor:
    """Pixel accuracy inside a band of ``width`` pixels around the true boundaries.

    The "trimap" evaluation of Kohli et al. (2009), used by Krähenbühl & Koltun (2011) to
    show what a CRF gains: accuracy far from boundaries says little, most errors live near
    them. The band is every pixel within Chebyshev distance ``width`` of a pixel where the
    target label changes (:func:`boundaries`); void pixels are excluded.

    Parameters
    ----------
    pred, target : Tensor[..., H, W] (integer)
        As in :func:`confusion_matrix`.
    num_classes : int
        ``K``.
    width : int, default 4
        Half-width of the band in pixels (0: only the boundary pixels themselves).
    ignore_index : int or None, default 255
        Void target value.

    Returns
    -------
    Tensor[] (float64)
        Correct / valid pixels in the band (NaN if the band has no valid pixel).

    References
    ----------
    .. [1] P. Kohli, L. Ladický, P. Torr. "Robust Higher Order Potentials for Enforcing Label
       Consistency", IJCV 2009. :doi:`10.1007/s11263-008-0202-0`
    """
    width = check_int(width, "width", low=0)
    pred, target, valid = _prepare(pred, target, num_classes, ignore_index)
    _check_images(pred, "pred")
    if target.numel() == 0:
        return torch.tensor(float("nan"), dtype=torch.float64, device=target.device)
    pred = _flatten_images(pred)
    target = _flatten_images(target)
    band = _dilate(label_boundaries(target), width)                # (N, H, W)
    if valid is not None:
        band &= _flatten_images(valid)
    n = band.sum()
    if int(n) == 0:
        return torch.tensor(float("nan"), dtype=torch.float64, device=target.device)
    return ((pred == target) & band).sum().to(torch.float64) / n
