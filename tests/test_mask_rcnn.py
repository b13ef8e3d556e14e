"""course_lib.models.mask_rcnn and course_lib.coco_eval: the small detector's shapes, one
training step on an image without instances, crowd regions as COCO treats them, COCOeval
on perfect predictions, and bad input."""

import numpy as np
import pytest
import torch

from course_lib import coco_eval
from course_lib.coco_eval import coco_evaluate, coco_from_targets, to_coco_results
from course_lib.models import mask_rcnn
from course_lib.models.mask_rcnn import DetectorConfig, small_mask_rcnn, training_targets

CATEGORIES = {1: "person", 21: "cow"}


def scene(image_id, objects, size=64, crowd=()):
    """A target with rectangle objects ``(x1, y1, x2, y2, category)``."""
    masks = torch.zeros(len(objects), size, size, dtype=torch.uint8)
    for k, (x1, y1, x2, y2, _) in enumerate(objects):
        masks[k, y1:y2, x1:x2] = 1
    return {"image_id": image_id,
            "boxes": torch.tensor([o[:4] for o in objects], dtype=torch.float32).reshape(-1, 4),
            "labels": torch.tensor([o[4] for o in objects], dtype=torch.long),
            "masks": masks,
            "iscrowd": torch.tensor([int(k in crowd) for k in range(len(objects))])}


@pytest.fixture
def gt_targets():
    return [scene(1, [(5, 5, 25, 30, 21), (40, 10, 60, 50, 1)]),
            scene(2, [(10, 20, 30, 40, 1), (35, 35, 63, 45, 21)], crowd=(1,)),
            scene(3, [])]


def perfect(targets, *, drop_crowd=True):
    out = []
    for t in targets:
        keep = t["iscrowd"] == 0 if drop_crowd else torch.ones(len(t["labels"]), dtype=torch.bool)
        out.append({"image_id": t["image_id"], "boxes": t["boxes"][keep],
                    "labels": t["labels"][keep], "scores": torch.linspace(0.9, 0.5, int(keep.sum())),
                    "masks": t["masks"][keep].float()})
    return out


def contiguous(t):
    """COCO ids 1, 21 -> 1, 2 for the detector."""
    return dict(t, labels=torch.where(t["labels"] == 21, 2, 1))


# --------------------------------------------------------------------------- COCO evaluation
@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_perfect_predictions_give_ap_one(gt_targets, iou_type):
    gt = coco_from_targets(gt_targets, CATEGORIES)
    stats = coco_evaluate(perfect(gt_targets), gt, iou_type)
    assert stats["AP"] == pytest.approx(1.0) and stats["AP50"] == pytest.approx(1.0)
    assert set(stats) == set(coco_eval.STAT_NAMES)


def test_crowd_regions_are_ignored_as_coco_does(gt_targets):
    gt = coco_from_targets(gt_targets, CATEGORIES)
    # a detection of the crowd region itself: neither a hit nor a false positive
    on_crowd = perfect(gt_targets, drop_crowd=False)
    assert coco_evaluate(on_crowd, gt, "segm")["AP"] == pytest.approx(1.0)
    # the same detection on empty grass is a false positive with the highest score
    fp = perfect(gt_targets)
    fp[2] = {"image_id": 3, "boxes": torch.tensor([[35.0, 35, 63, 45]]),
             "labels": torch.tensor([21]), "scores": torch.tensor([0.99]),
             "masks": gt_targets[1]["masks"][1:].float()}
    assert coco_evaluate(fp, gt, "segm")["AP"] < 0.9
    # missing the crowd region costs nothing either
    assert coco_evaluate(perfect(gt_targets), gt, "bbox")["AR100"] == pytest.approx(1.0)


def test_no_detection_scores_zero_and_ground_truth_is_untouched(gt_targets):
    gt = coco_from_targets(gt_targets, CATEGORIES)
    before = [dict(a) for a in gt.dataset["annotations"]]
    assert coco_evaluate([], gt, "segm")["AP"] == 0.0
    coco_evaluate(perfect(gt_targets), gt, "segm")
    assert gt.dataset["annotations"] == before
    assert coco_evaluate([], gt, "bbox", img_ids=[3])["AP"] == -1.0   # nothing to find


def test_results_are_rle_and_xywh(gt_targets):
    res = to_coco_results(perfect(gt_targets[:1]), "segm")
    assert res[0]["segmentation"]["size"] == [64, 64]
    assert isinstance(res[0]["segmentation"]["counts"], str)
    box = to_coco_results(perfect(gt_targets[:1]), "bbox")[0]["bbox"]
    assert box == [5.0, 5.0, 20.0, 25.0]


def test_coco_eval_bad_input(gt_targets):
    gt = coco_from_targets(gt_targets, CATEGORIES)
    with pytest.raises(ValueError, match="iou_type"):
        coco_evaluate([], gt, "keypoints")
    with pytest.raises(TypeError, match="coco_gt"):
        coco_evaluate([], {"images": []})
    with pytest.raises(ValueError, match=r"predictions\[0\] lacks .*masks"):
        coco_evaluate([{"image_id": 1, "boxes": torch.zeros(0, 4), "scores": torch.zeros(0),
                        "labels": torch.zeros(0)}], gt, "segm")
    with pytest.raises(ValueError, match="same length"):
        coco_evaluate([{"image_id": 1, "boxes": torch.zeros(2, 4), "scores": torch.zeros(1),
                        "labels": torch.zeros(2)}], gt, "bbox")
    with pytest.raises(ValueError, match="img_ids"):
        coco_evaluate([], gt, "bbox", img_ids=[99])
    with pytest.raises(TypeError, match="predictions"):
        coco_evaluate({"image_id": 1}, gt, "bbox")


# --------------------------------------------------------------------------- the detector
def test_shared_modules_start_identical_with_and_without_mask():
    torch.manual_seed(0)
    with_mask = small_mask_rcnn(3, True, image_size=64).state_dict()
    torch.manual_seed(0)
    without = small_mask_rcnn(3, False, image_size=64).state_dict()
    assert set(without) < set(with_mask)
    assert any(k.startswith("roi_heads.mask") for k in set(with_mask) - set(without))
    for k, v in without.items():
        assert torch.equal(v, with_mask[k]), k


def test_shapes_train_and_eval(gt_targets):
    torch.manual_seed(0)
    model = small_mask_rcnn(3, True, image_size=64)
    images = [torch.rand(3, 64, 64) for _ in range(2)]
    targets = [training_targets(contiguous(t)) for t in gt_targets[:2]]
    losses = model.train()(images, targets)
    assert set(losses) == {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                           "loss_rpn_box_reg"}
    out = mask_rcnn.detect(model, torch.stack(images))
    assert len(out) == 2 and out[0]["masks"].shape[1:] == (64, 64)
    assert out[0]["boxes"].shape[1] == 4 and len(out[0]["boxes"]) <= 30


def test_training_targets_drop_crowd_regions(gt_targets):
    t = training_targets(gt_targets[1])
    assert t["boxes"].shape == (1, 4) and t["masks"].shape == (1, 64, 64)
    assert "masks" not in training_targets(gt_targets[1], mask=False)


def test_image_without_instances_trains_and_evaluates(gt_targets):
    items = [(torch.rand(3, 64, 64), contiguous(t)) for t in gt_targets]
    items = [items[2], items[2]] + items[:2]             # the first batch has no object
    cfg = DetectorConfig(steps=1, batch_size=2, image_size=64, num_classes=3, trunk=None,
                         flip=False)
    model, history = mask_rcnn.train_detector(cfg, items[:2], progress=False)
    assert history[-1]["step"] == 1 and history[-1]["loss_mask"] == 0
    gt = coco_from_targets(gt_targets, CATEGORIES)
    ev = mask_rcnn.evaluate_detector(model, [items[0]], gt, category_ids=[1, 21])
    assert -1 <= ev.box["AP"] <= 1 and ev.segm is not None
    ev = mask_rcnn.evaluate_detector(model, items, gt, category_ids=[1, 21])
    assert 0 <= ev.box["AP"] <= 1 and "box AP" in ev.row()


def test_for_profile_configs():
    quick = DetectorConfig.for_profile(mask=False, profile="quick")
    assert quick == DetectorConfig(mask=False)
    assert quick.trunk == mask_rcnn.MaskExperimentConfig.for_profile("quick")
    full = DetectorConfig.for_profile(profile="full")
    assert full.mask and full.steps == 10 * quick.steps and full.batch_size == 8
    assert full.trunk == mask_rcnn.MaskExperimentConfig.for_profile("full")
    assert DetectorConfig.for_profile(profile="full", steps=3).steps == 3


def test_detect_and_train_on_an_explicit_device(gt_targets):
    items = [(torch.rand(3, 64, 64), contiguous(t)) for t in gt_targets]
    cfg = DetectorConfig(steps=1, batch_size=3, image_size=64, num_classes=3, trunk=None)
    model, _ = mask_rcnn.train_detector(cfg, items, device="cpu", progress=False)
    out = mask_rcnn.detect(model, torch.rand(2, 3, 64, 64))
    assert len(out) == 2 and all(v.device.type == "cpu" for d in out for v in d.values())
    assert all(d["masks"].shape[1:] == (64, 64) for d in out)


def test_detector_bad_input():
    with pytest.raises(ValueError, match="num_classes"):
        small_mask_rcnn(1)
    with pytest.raises(ValueError, match="image_size"):
        small_mask_rcnn(3, image_size=16)
    with pytest.raises(TypeError, match="mask"):
        small_mask_rcnn(3, mask="yes")
    with pytest.raises(ValueError, match="anchor_sizes"):
        small_mask_rcnn(3, anchor_sizes=((8,), (16, 32)))
    with pytest.raises(ValueError, match="steps"):
        DetectorConfig(steps=0)
    with pytest.raises(TypeError, match="trunk"):
        DetectorConfig(trunk="pretrained")
    model = small_mask_rcnn(3, image_size=64)
    with pytest.raises(ValueError, match=r"images\[0\]"):
        mask_rcnn.detect(model, [torch.rand(64, 64)])
    with pytest.raises(ValueError, match="items"):
        mask_rcnn.train_detector(DetectorConfig(steps=1, trunk=None), [], progress=False)


# --------------------------------------------------------------------------- issue 13 findings
# Shared checks: wrong type -> TypeError, out of range -> ValueError, NumPy integers accepted.
@pytest.mark.parametrize("kwargs, error, match", [
    ({"image_size": 64.0}, TypeError, r"^image_size must be an integer, got float"),
    ({"image_size": True}, TypeError, r"^image_size must be an integer, got bool"),
    ({"fpn_channels": "64"}, TypeError, r"^fpn_channels must be an integer, got str"),
    ({"detections_per_img": 0}, ValueError, r"^detections_per_img must be an integer >= 1, got 0"),
    ({"rpn_pre_nms_top_n": 1.5}, TypeError, r"^rpn_pre_nms_top_n must be an integer, got float"),
    ({"mask_roi_size": -7}, ValueError, r"^mask_roi_size must be an integer >= 1, got -7"),
    ({"num_classes": False}, TypeError, r"^num_classes must be an integer, got bool"),
    ({"num_classes": 1}, ValueError, r"^num_classes must count the background too"),
    ({"mask": 1}, TypeError, r"^mask must be True or False, got int"),
    ({"mask_convs": 1.5}, TypeError, r"^mask_convs must be an integer, got float"),
    ({"mask_convs": -1}, ValueError, r"^mask_convs must be an integer >= 0, got -1"),
])
def test_small_mask_rcnn_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        small_mask_rcnn(**{"num_classes": 3, **kwargs})


@pytest.mark.parametrize("bad, error, match", [
    (True, TypeError, r"^out_channels must be an integer, got bool"),
    (8.0, TypeError, r"^out_channels must be an integer, got float"),
    ("8", TypeError, r"^out_channels must be an integer, got str"),
    (0, ValueError, r"^out_channels must be an integer >= 1, got 0"),
])
def test_fpn_bad_out_channels(bad, error, match):
    with pytest.raises(error, match=match):
        mask_rcnn.SmallVGGFPN(out_channels=bad)


def test_small_mask_rcnn_accepts_numpy_integers():
    model = small_mask_rcnn(np.int64(3), np.bool_(False), image_size=np.int64(64),
                            fpn_channels=np.int32(8), detections_per_img=np.int64(5))
    assert model.backbone.out_channels == 8 and type(model.backbone.out_channels) is int
    assert model.transform.min_size == (64,) and model.roi_heads.detections_per_img == 5


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": True}, TypeError, r"^steps must be an integer, got bool"),
    ({"steps": 2.5}, TypeError, r"^steps must be an integer, got float"),
    ({"batch_size": "4"}, TypeError, r"^batch_size must be an integer, got str"),
    ({"batch_size": 0}, ValueError, r"^batch_size must be an integer >= 1, got 0"),
    ({"image_size": -1}, ValueError, r"^image_size must be an integer >= 1, got -1"),
    ({"lr": True}, TypeError, r"^lr must be a real number, got bool"),
    ({"lr": "1e-3"}, TypeError, r"^lr must be a real number, got str"),
    ({"lr": -1e-3}, ValueError, r"^lr must be > 0, got -0.001"),
    ({"lr": float("nan")}, ValueError, r"^lr must be finite, got nan"),
    ({"mask": 1}, TypeError, r"^mask must be True or False, got int"),
])
def test_detector_config_bad_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        DetectorConfig(**kwargs)


def test_detector_config_numpy_scalars_give_the_key_of_python_numbers():
    cfg = DetectorConfig(mask=np.bool_(True), steps=np.int64(300), batch_size=np.int32(4),
                         num_classes=np.int64(6), image_size=np.int64(128), lr=np.float64(1e-3))
    assert cfg == DetectorConfig() and cfg.key() == DetectorConfig().key()
    assert type(cfg.mask) is bool and type(cfg.steps) is int and type(cfg.lr) is float
    ordinary = DetectorConfig(lr=1)
    assert type(ordinary.lr) is int                   # stored as given: its key is unchanged


@pytest.mark.parametrize("image_id, match", [
    (True, r"predictions\[0\]\['image_id'\] must be an integer, got bool"),
    (1.0, r"predictions\[0\]\['image_id'\] must be an integer, got float"),
    ("1", r"predictions\[0\]\['image_id'\] must be an integer, got str"),
])
def test_coco_results_image_id_of_a_wrong_type(image_id, match):
    with pytest.raises(TypeError, match=match):
        to_coco_results([{"image_id": image_id, "boxes": torch.zeros(0, 4),
                          "scores": torch.zeros(0), "labels": torch.zeros(0)}], "bbox")


def test_coco_results_accept_numpy_and_tensor_image_ids():
    p = {"boxes": torch.tensor([[0.0, 0, 4, 4]]), "scores": torch.ones(1),
         "labels": torch.ones(1, dtype=torch.long)}
    out = to_coco_results([dict(p, image_id=np.int64(7)), dict(p, image_id=torch.tensor(8))],
                          "bbox")
    assert [r["image_id"] for r in out] == [7, 8] and all(type(r["image_id"]) is int for r in out)
