"""COCO evaluation of detections and instance masks with pycocotools' ``COCOeval``.

COCO scores a detector by **average precision** (AP): detections are sorted by score,
each is matched to an unmatched ground-truth object of its category if their IoU (of boxes
for ``"bbox"``, of masks for ``"segm"``) reaches a threshold, precision is averaged over
101 recall levels, and AP is the mean over the ten thresholds 0.50, 0.55, ..., 0.95 (AP50
and AP75 are single thresholds). Crowd regions (``iscrowd=1``, stored as RLE) are never
missed: a detection that overlaps one (IoU measured as intersection over the detection's
area) is neither a true nor a false positive, it is ignored.

:func:`coco_evaluate` takes predictions the way torchvision's detectors return them, one
dict per image, encodes masks as RLE, and returns COCOeval's twelve summary numbers by
name.

Examples
--------
>>> from course_lib.data.datasets import COCOInstancesDataset, pasture_coco_root
>>> ds = COCOInstancesDataset(pasture_coco_root(), "val")              # doctest: +SKIP
>>> perfect = [{"image_id": t["image_id"], "boxes": t["boxes"][t["iscrowd"] == 0],
...             "labels": t["labels"][t["iscrowd"] == 0],
...             "scores": torch.ones(int((t["iscrowd"] == 0).sum()))}
...            for _, t in ds]                                          # doctest: +SKIP
>>> coco_evaluate(perfect, ds.coco, "bbox")["AP"]                       # doctest: +SKIP
1.0
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np
import torch
from torch import Tensor

from ._checks import check_int

__all__ = ["coco_evaluate", "to_coco_results", "encode_masks", "coco_from_targets", "STAT_NAMES",
           "IOU_TYPES"]

#: the order of ``COCOeval.stats``
STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
              "ARl")
IOU_TYPES = ("bbox", "segm")


def encode_masks(masks: Tensor, threshold: float = 0.5) -> list:
    """COCO RLE (``pycocotools.mask.encode``) of ``masks (Tensor[K, H, W])``.

    Float masks are probabilities, binarised with ``> threshold``; bool or integer masks
    are taken as 0/1. ``counts`` are decoded to ``str`` so the result is JSON-ready.
    """
    from pycocotools import mask as mask_utils

    if not isinstance(masks, Tensor) or masks.ndim != 3:
        raise ValueError(f"masks must be a Tensor[K, H, W], got "
                         f"{getattr(masks, 'shape', type(masks).__name__)}")
    binary = masks > threshold if masks.is_floating_point() else masks != 0
    arr = np.asfortranarray(binary.detach().cpu().numpy().astype(np.uint8).transpose(1, 2, 0))
    rles = mask_utils.encode(arr) if len(masks) else []
    for r in rles:
        r["counts"] = r["counts"].decode("ascii")
    return list(rles)


def _tensor(value, name: str, i: int) -> Tensor:
    if not isinstance(value, (Tensor, np.ndarray, list, tuple)):
        raise TypeError(f"predictions[{i}][{name!r}] must be a tensor, got "
                        f"{type(value).__name__}")
    return torch.as_tensor(value)


def to_coco_results(predictions, iou_type: str = "segm") -> list:
    """COCO result records (``image_id``, ``category_id``, ``score`` and ``bbox`` in
    ``[x, y, w, h]`` or ``segmentation`` as RLE) from per-image prediction dicts.

    Parameters
    ----------
    predictions : list of dict
        One per image: ``image_id`` (int), ``boxes`` Tensor[K, 4] ``(x1, y1, x2, y2)``,
        ``scores`` Tensor[K], ``labels`` Tensor[K] (COCO category ids), and for ``"segm"``
        ``masks`` Tensor[K, H, W] or Tensor[K, 1, H, W] (probabilities or 0/1).
    iou_type : {"bbox", "segm"}
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    if not isinstance(predictions, (list, tuple)):
        raise TypeError(f"predictions must be a list of dicts (one per image), got "
                        f"{type(predictions).__name__}")
    results = []
    for i, p in enumerate(predictions):
        if not isinstance(p, dict):
            raise TypeError(f"predictions[{i}] must be a dict, got {type(p).__name__}")
        need = ("image_id", "boxes", "scores", "labels") + (("masks",) if iou_type == "segm" else ())
        missing = [k for k in need if k not in p]
        if missing:
            raise ValueError(f"predictions[{i}] lacks the keys {missing} (needed for "
                             f"iou_type={iou_type!r})")
        image_id = p["image_id"]
        if isinstance(image_id, Tensor):
            image_id = image_id.item()
        image_id = check_int(image_id, f"predictions[{i}]['image_id']")
        boxes = _tensor(p["boxes"], "boxes", i).float().reshape(-1, 4)
        scores = _tensor(p["scores"], "scores", i).float().reshape(-1)
        labels = _tensor(p["labels"], "labels", i).reshape(-1)
        K = boxes.shape[0]
        if scores.shape[0] != K or labels.shape[0] != K:
            raise ValueError(f"predictions[{i}]: boxes, scores and labels must have the same "
                             f"length, got {K}, {scores.shape[0]}, {labels.shape[0]}")
        if not torch.isfinite(scores).all():
            raise ValueError(f"predictions[{i}]['scores'] must be finite")
        if iou_type == "segm":
            masks = _tensor(p["masks"], "masks", i)
            if masks.ndim == 4 and masks.shape[1] == 1:
                masks = masks[:, 0]
            if masks.ndim != 3 or masks.shape[0] != K:
                raise ValueError(f"predictions[{i}]['masks'] must be Tensor[{K}, H, W], got "
                                 f"shape {tuple(masks.shape)}")
            rles = encode_masks(masks)
        xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], 1)
        for k in range(K):
            r = {"image_id": int(image_id), "category_id": int(labels[k]),
                 "score": float(scores[k])}
            if iou_type == "bbox":
                r["bbox"] = [round(float(v), 3) for v in xywh[k]]
            else:
                r["segmentation"] = rles[k]
            results.append(r)
    return results


def coco_evaluate(predictions, coco_gt, iou_type: str = "segm", *, img_ids=None,
                  verbose: bool = False) -> dict:
    """COCO AP and AR of ``predictions`` against the ground truth ``coco_gt``.

    Parameters
    ----------
    predictions : list of dict
        As :func:`to_coco_results` (one dict per image; images without detections may
        have empty tensors or be left out).
    coco_gt : pycocotools.coco.COCO
        The ground truth (e.g. ``COCOInstancesDataset(...).coco``), crowd regions included:
        COCOeval ignores detections on them, as on the real COCO.
    iou_type : {"bbox", "segm"}
        Box AP or mask AP.
    img_ids : list of int, optional
        Images to evaluate (default: every image of ``coco_gt``). An image without
        detections counts: its objects are missed.
    verbose : bool
        Print COCOeval's usual summary.

    Returns
    -------
    dict
        The twelve numbers of ``COCOeval.stats`` under :data:`STAT_NAMES` (``"AP"`` is AP
        at IoU 0.50:0.95, ``"AP50"``, ``"AP75"``, ``"APs"`` small objects, ...). With no
        detection at all every AP and AR is 0.0 (-1.0 where no ground truth exists, as
        COCOeval reports).
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not isinstance(coco_gt, COCO):
        raise TypeError(f"coco_gt must be a pycocotools.coco.COCO, got {type(coco_gt).__name__}")
    results = to_coco_results(predictions, iou_type)
    if img_ids is None:
        img_ids = sorted(coco_gt.getImgIds())
    img_ids = [int(i) for i in img_ids]
    unknown = sorted(set(img_ids) - set(coco_gt.getImgIds()))
    if unknown:
        raise ValueError(f"img_ids has images that coco_gt does not know: {unknown[:5]}")
    strays = sorted({r["image_id"] for r in results} - set(coco_gt.getImgIds()))
    if strays:
        raise ValueError(f"predictions name images that coco_gt does not know: {strays[:5]}")
    if not results:                       # loadRes cannot take an empty list
        has_gt = len(coco_gt.getAnnIds(imgIds=img_ids, iscrowd=False)) > 0
        value = 0.0 if has_gt else -1.0
        return dict.fromkeys(STAT_NAMES, value)
    sink = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with sink:
        # COCOeval rewrites the ground truth's polygons as RLE in place: work on a copy
        gt = COCO()
        gt.dataset = copy.deepcopy(coco_gt.dataset)
        gt.createIndex()
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(STAT_NAMES, ev.stats)}


def coco_from_targets(targets, categories, *, image_size=None):
    """A pycocotools ``COCO`` ground truth made from instance targets (for tests and for
    scoring data that has no annotation file).

    Parameters
    ----------
    targets : list of dict
        One per image: ``image_id`` (int), ``boxes`` Tensor[K, 4] ``(x1, y1, x2, y2)``,
        ``labels`` Tensor[K] (category ids), ``masks`` Tensor[K, H, W] (0/1), and
        optionally ``iscrowd`` Tensor[K] (crowd regions are stored as RLE, as in COCO).
    categories : dict
        ``{category_id: name}``.
    image_size : (int, int), optional
        ``(H, W)`` of images whose target has no mask to take it from (default 128 x 128).
    """
    from pycocotools import mask as mask_utils
    from pycocotools.coco import COCO

    if not isinstance(targets, (list, tuple)):
        raise TypeError(f"targets must be a list of dicts, got {type(targets).__name__}")
    if not isinstance(categories, dict) or not categories:
        raise ValueError(f"categories must be a non-empty dict {{id: name}}, got {categories!r}")
    images, annotations = [], []
    for i, t in enumerate(targets):
        if not isinstance(t, dict) or "image_id" not in t or "masks" not in t:
            raise ValueError(f"targets[{i}] must be a dict with image_id, boxes, labels, masks")
        masks = torch.as_tensor(t["masks"])
        H, W = masks.shape[-2:] if masks.ndim == 3 else (image_size or (128, 128))
        images.append({"id": int(t["image_id"]), "height": int(H), "width": int(W),
                       "file_name": f"{int(t['image_id']):012d}.jpg"})
        crowd = t.get("iscrowd", torch.zeros(len(masks), dtype=torch.long))
        rles = encode_masks(masks) if len(masks) else []
        for k, rle in enumerate(rles):
            x1, y1, x2, y2 = (float(v) for v in torch.as_tensor(t["boxes"][k]))
            annotations.append({"id": len(annotations) + 1, "image_id": int(t["image_id"]),
                                "category_id": int(t["labels"][k]), "segmentation": rle,
                                "area": float(mask_utils.area(rle)),
                                "bbox": [x1, y1, x2 - x1, y2 - y1],
                                "iscrowd": int(crowd[k])})
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": int(c), "name": str(n)} for c, n in categories.items()]}
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt
