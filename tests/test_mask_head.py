"""course_lib.models.mask_head: shapes, crops, targets and pasting, the experiment's
training on tiny data, evaluation, and bad input."""

import numpy as np
import pytest
import torch
import torchvision.ops as tvo

from course_lib.coco_eval import coco_from_targets
from course_lib.models import _cache, mask_head
from course_lib.models.mask_head import (
    MaskExperimentConfig,
    MaskHead,
    MaskHeadModel,
    crop_features,
    mask_iou,
    mask_targets,
    paste_masks,
)
from course_lib.models.trunk import Trunk


def tiny_items(n=3, size=64, empty=(1,), crowd=()):
    """``n`` random 64 px images, each with a rectangle object (none for ``empty``)."""
    g = torch.Generator().manual_seed(0)
    items = []
    for i in range(n):
        image = torch.rand(3, size, size, generator=g)
        if i in empty:
            boxes, labels = torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)
            masks = torch.zeros(0, size, size, dtype=torch.uint8)
            iscrowd = torch.zeros(0, dtype=torch.long)
        else:
            x1, y1 = 5 + 3 * i, 8 + 2 * i
            boxes = torch.tensor([[x1, y1, x1 + 20, y1 + 14], [30.0, 30, 50, 60]])
            masks = torch.zeros(2, size, size, dtype=torch.uint8)
            masks[0, y1:y1 + 14, x1:x1 + 20] = 1
            masks[1, 30:60, 30:50] = 1
            image[:, y1:y1 + 14, x1:x1 + 20] = 0.9
            labels = torch.tensor([1, 2])
            iscrowd = torch.tensor([0, 1 if i in crowd else 0])
        items.append((image, {"boxes": boxes, "labels": labels, "masks": masks,
                              "iscrowd": iscrowd, "image_id": 100 + i}))
    return items


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("upsample, classes", [(False, 1), (True, 1), (False, 5)])
def test_mask_head_shapes(upsample, classes):
    head = MaskHead(16, channels=8, num_convs=2, num_classes=classes, upsample=upsample)
    out = head(torch.randn(3, 16, 7, 7))
    assert out.shape == (3, classes, 14 if upsample else 7, 14 if upsample else 7)


@pytest.mark.parametrize("stride", [8, 16])
@pytest.mark.parametrize("roi_op", ["pool", "align"])
def test_model_shapes_with_an_empty_image(stride, roi_op):
    net = MaskHeadModel(stride=stride, roi_op=roi_op, roi_size=7, head_channels=8)
    boxes = [torch.tensor([[4.0, 8, 30, 40], [0, 0, 64, 64]]), torch.zeros(0, 4)]
    logits = net(torch.rand(2, 3, 64, 64), boxes)
    assert logits.shape == (2, 1, 7, 7)
    assert net(torch.rand(1, 3, 64, 64), [torch.zeros(0, 4)]).shape == (0, 1, 7, 7)
    assert f"roi_op={roi_op!r}" in repr(net)


def test_per_class_head_picks_the_box_class():
    net = MaskHeadModel(stride=8, roi_size=5, head_channels=4, num_classes=3)
    x, boxes = torch.rand(1, 3, 64, 64), [torch.tensor([[4.0, 8, 30, 40], [10, 10, 50, 50]])]
    full = net.head(net.crop(net.features(x), boxes))
    picked = net(x, boxes, labels=torch.tensor([2, 0]))
    torch.testing.assert_close(picked[:, 0], torch.stack([full[0, 2], full[1, 0]]))
    with pytest.raises(ValueError, match="labels"):
        net(x, boxes)


@pytest.mark.parametrize("roi_op", ["pool", "align"])
def test_crop_matches_torchvision_and_course_lib(roi_op):
    g = torch.Generator().manual_seed(1)
    f = torch.randn(2, 4, 8, 8, generator=g)
    rois = torch.tensor([[0, 3.2, 5.7, 40.1, 33.3], [1, 0, 0, 64, 64], [1, 17.0, 9, 18, 30]])
    ours = crop_features(f, rois, 5, stride=8, roi_op=roi_op)
    ref = (tvo.roi_pool(f, rois, 5, 1 / 8) if roi_op == "pool"
           else tvo.roi_align(f, rois, 5, 1 / 8, 2, True))
    torch.testing.assert_close(ours, ref)
    pure = crop_features(f, rois, 5, stride=8, roi_op=roi_op, impl="course_lib")
    torch.testing.assert_close(pure, ref, atol=1e-5, rtol=1e-5)


def test_frozen_backbone_gets_no_gradient():
    net = MaskHeadModel(stride=16, roi_size=4, head_channels=4, freeze_backbone=True)
    net(torch.rand(1, 3, 64, 64), [torch.tensor([[4.0, 8, 30, 40]])]).sum().backward()
    assert all(p.grad is None for p in net.backbone.parameters())
    assert all(p.grad is not None for p in net.head.parameters())


# --------------------------------------------------------------------------- targets, pasting
def test_mask_targets_known_answers():
    masks = torch.zeros(2, 32, 32, dtype=torch.uint8)
    masks[0, 8:24, 8:24] = 1                 # fills its box
    masks[1, 0:16, 0:8] = 1                  # left half of the box (0, 0, 16, 16)
    boxes = torch.tensor([[8.0, 8, 24, 24], [0, 0, 16, 16]])
    t = mask_targets(masks, boxes, 4)
    assert t.shape == (2, 4, 4) and t.dtype == torch.float32
    torch.testing.assert_close(t[0], torch.ones(4, 4))
    torch.testing.assert_close(t[1], torch.tensor([[1.0, 1, 0, 0]] * 4))
    assert mask_targets(masks[:0], boxes[:0], 4).shape == (0, 4, 4)


def test_paste_inverts_mask_targets():
    masks = torch.zeros(3, 64, 64, dtype=torch.uint8)
    masks[0, 10:30, 5:45] = 1
    masks[1, 40:44, 50:53] = 1               # a tiny object
    masks[2, 20:50, 20:50] = 1
    masks[2, 30:40, 30:40] = 0               # a hole
    boxes = torch.tensor([[5.0, 10, 45, 30], [50, 40, 53, 44], [20, 20, 50, 50]])
    pasted = paste_masks(mask_targets(masks, boxes, 28), boxes, (64, 64))
    assert pasted.shape == (3, 64, 64)
    assert (pasted[:, :, :2] == 0).all() and (pasted[0, 31:] == 0).all(), "zero outside the box"
    iou = mask_iou(pasted > 0.5, masks)
    assert iou[0] == 1 and iou[1] == 1, iou
    assert iou[2] > 0.95, iou


def test_paste_of_a_constant_mask_fills_the_box():
    boxes = torch.tensor([[3.0, 4, 13, 10]])
    out = paste_masks(torch.ones(1, 1, 14, 14), boxes, (16, 20))
    expected = torch.zeros(16, 20, dtype=torch.bool)
    expected[4:10, 3:13] = True
    assert torch.equal(out[0] > 0.5, expected)


def test_mask_iou():
    a = torch.zeros(2, 4, 4, dtype=torch.bool)
    b = a.clone()
    a[0, :2] = True
    b[0, :, :2] = True
    torch.testing.assert_close(mask_iou(a, b), torch.tensor([4 / 12, 1.0], dtype=torch.float64))


# --------------------------------------------------------------------------- the experiment
def test_experiment_trains_on_tiny_data_with_an_empty_image():
    items = tiny_items(3, empty=(1,), crowd=(2,))
    cfg = MaskExperimentConfig(steps=2, batch_size=3, head_channels=4, roi_size=7)
    trunk, models, history = mask_head.train_mask_heads(cfg, items, progress=False)
    assert set(models) == {("pool", 8), ("align", 8), ("pool", 16), ("align", 16)}
    assert all(m.backbone is trunk for m in models.values()), "one shared trunk"
    assert history[-1]["step"] == 2 and "RoiAlign stride 16" in history[-1]
    gt = coco_from_targets([t for _, t in items], {1: "a", 2: "b"})
    ev = mask_head.evaluate_mask_head(models[("align", 8)], items, gt, category_ids=[1, 2])
    # 3 non-crowd objects (image 1 has none, the crowd region of image 2 is left out)
    assert ev.ious.shape == (3,) and ev.probs.shape == (3, 64, 64)
    assert 0 <= ev.mask_iou <= 1 and 0 <= ev.mask_ap <= 1 and 0 <= ev.boundary_f <= 1


def test_experiment_with_only_empty_images_trains_the_classifier():
    items = tiny_items(2, empty=(0, 1))
    cfg = MaskExperimentConfig(steps=1, batch_size=2, head_channels=4, roi_size=5,
                               strides=(8,), roi_ops=("align",))
    _, _, history = mask_head.train_mask_heads(cfg, items, progress=False)
    assert set(history[-1]) == {"step", "seconds", "aux"}


def test_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    cfg = MaskExperimentConfig(steps=1, head_channels=4)
    trunk, models = cfg.build()
    path = _cache.cache_path("maskheads", cfg)
    assert path.parent == tmp_path / "models" and cfg.key() in path.name
    _cache.save_model(path, mask_head._Experiment(trunk, models), cfg, [{"step": 1}])
    state, history, _ = _cache.load_state(path, cfg)
    assert history == [{"step": 1}] and "trunk.stages.0.0.0.weight" in state
    assert _cache.load_state(path, MaskExperimentConfig(steps=2, head_channels=4)) is None
    assert cfg.key() != MaskExperimentConfig(steps=1, head_channels=4, seed=1).key()


def test_crop_item_cuts_a_window_around_an_object_and_recomputes_boxes():
    image = torch.rand(3, 128, 128)
    masks = torch.zeros(3, 128, 128, dtype=torch.uint8)
    masks[0, 40:60, 70:100] = 1                      # inside any 64 px window around it
    masks[1, 0:128, 0:2] = 1                         # a sliver on the left edge
    masks[2, 100:128, 100:128] = 1                   # a crowd region, never chosen
    target = {"boxes": torch.tensor([[70.0, 40, 100, 60], [0, 0, 2, 128], [100, 100, 128, 128]]),
              "labels": torch.tensor([1, 2, 3]), "masks": masks,
              "iscrowd": torch.tensor([0, 0, 1]), "image_id": 7}
    for seed in range(20):
        g = torch.Generator().manual_seed(seed)
        crop, t = mask_head._crop_item(image, target, 64, g)
        assert crop.shape == (3, 64, 64)
        assert len(t["boxes"]) == len(t["masks"]) == len(t["labels"]) == len(t["iscrowd"])
        assert (t["masks"].flatten(1).sum(1) >= 4).all(), "objects under 4 pixels are dropped"
        for b, m in zip(t["boxes"], t["masks"]):     # boxes are the extent of the cut masks
            ys, xs = m.nonzero(as_tuple=True)
            assert b.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
        # the window is a piece of the image
        found = [(y, x) for y in range(65) for x in range(65)
                 if torch.equal(image[:, y:y + 64, x:x + 64], crop)]
        assert len(found) == 1
    # images no larger than the window are left alone
    small, t = mask_head._crop_item(image[:, :64, :64], target, 64, torch.Generator())
    assert small.shape == (3, 64, 64) and t is target


def test_crop_item_without_objects_cuts_anywhere():
    target = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long),
              "masks": torch.zeros(0, 128, 96, dtype=torch.uint8),
              "iscrowd": torch.zeros(0, dtype=torch.long), "image_id": 1}
    crop, t = mask_head._crop_item(torch.rand(3, 128, 96), target, 64,
                                   torch.Generator().manual_seed(0))
    assert crop.shape == (3, 64, 64) and t["boxes"].shape == (0, 4) and t["masks"].shape[0] == 0


def test_experiment_crops_windows_from_larger_images():
    items = tiny_items(2, size=96, empty=())
    cfg = MaskExperimentConfig(steps=2, batch_size=2, head_channels=4, roi_size=5, crop_size=48,
                               strides=(8,))
    _, models, history = mask_head.train_mask_heads(cfg, items, progress=False)
    assert history[-1]["step"] == 2 and "RoiPool stride 8" in history[-1]


def test_upsampling_head_gives_twice_the_mask_size():
    net = MaskHeadModel(stride=8, roi_size=7, head_channels=4, upsample=True)
    assert net.mask_size == 14
    out = net(torch.rand(1, 3, 64, 64), [torch.tensor([[4.0, 8, 30, 40], [0, 0, 64, 64]])])
    assert out.shape == (2, 1, 14, 14)
    cfg = MaskExperimentConfig(steps=1, batch_size=3, head_channels=4, roi_size=5, upsample=True,
                               strides=(16,), roi_ops=("align",))
    _, models, history = mask_head.train_mask_heads(cfg, tiny_items(3), progress=False)
    assert models[("align", 16)].mask_size == 10 and "RoiAlign stride 16" in history[-1]


def test_for_profile_quick_is_the_default_and_full_trains_longer():
    assert MaskExperimentConfig.for_profile("quick") == MaskExperimentConfig()
    full = MaskExperimentConfig.for_profile("full")
    assert full.steps == 10 * MaskExperimentConfig().steps and full.batch_size == 32
    assert MaskExperimentConfig.for_profile("full", steps=7).steps == 7
    assert MaskExperimentConfig.for_profile("quick", seed=3).seed == 3


def _train_on(device):
    items = tiny_items(2)
    cfg = MaskExperimentConfig(steps=1, batch_size=2, head_channels=4, roi_size=5, strides=(8,))
    trunk, models, _ = mask_head.train_mask_heads(cfg, items, device=device, progress=False)
    assert all(p.device.type == torch.device(device).type for p in trunk.parameters())
    gt = coco_from_targets([t for _, t in items], {1: "a", 2: "b"})
    ev = mask_head.evaluate_mask_head(models[("align", 8)], items, gt, category_ids=[1, 2])
    assert ev.probs.device.type == "cpu" and 0 <= ev.mask_iou <= 1


def test_device_argument_on_cpu():
    _train_on("cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_device_argument_on_cuda():
    _train_on("cuda")


def test_train_or_load_puts_the_cached_models_on_the_device(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    cfg = MaskExperimentConfig(steps=1, head_channels=4)
    trunk, models = cfg.build()
    _cache.save_model(_cache.cache_path("maskheads", cfg), mask_head._Experiment(trunk, models),
                      cfg, [{"step": 1}])
    trunk, models, history = mask_head.train_or_load_mask_heads(cfg, device="cpu")
    assert history == [{"step": 1}] and not trunk.training
    assert all(m.backbone is trunk and not m.training for m in models.values())


# --------------------------------------------------------------------------- bad input
def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="stride"):
        MaskHeadModel(stride=5)
    with pytest.raises(ValueError, match="roi_op"):
        MaskHeadModel(roi_op="max")
    with pytest.raises(ValueError, match="impl"):
        MaskHeadModel(impl="numpy")
    with pytest.raises(ValueError, match="backbone"):
        MaskHeadModel(Trunk(last="pool3", aux=()), stride=16)
    net = MaskHeadModel(stride=8, roi_size=4, head_channels=4)
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match=r"boxes\[0\]"):
        net(x, [torch.tensor([[30.0, 8, 4, 40]])])                 # x2 < x1
    with pytest.raises(ValueError, match="one Tensor"):
        net(x, [torch.zeros(0, 4), torch.zeros(0, 4)])
    with pytest.raises(ValueError, match="batch indices"):
        net(x, torch.tensor([[1.0, 0, 0, 8, 8]]))
    with pytest.raises(ValueError, match="images"):
        net(torch.rand(3, 64, 64), [torch.zeros(0, 4)])
    with pytest.raises(TypeError, match="masks"):
        paste_masks(torch.ones(1, 4, 4, dtype=torch.long), torch.tensor([[0.0, 0, 4, 4]]), (8, 8))
    with pytest.raises(ValueError, match="boxes"):
        paste_masks(torch.ones(1, 4, 4), torch.tensor([[0.0, float("nan"), 4, 4]]), (8, 8))
    with pytest.raises(ValueError, match="image_size"):
        paste_masks(torch.ones(1, 4, 4), torch.tensor([[0.0, 0, 4, 4]]), (8, 0))
    with pytest.raises(ValueError, match="boxes must have one row per mask"):
        mask_targets(torch.ones(2, 8, 8), torch.tensor([[0.0, 0, 4, 4]]), 4)
    with pytest.raises(ValueError, match="same shape"):
        mask_iou(torch.ones(1, 4, 4), torch.ones(1, 4, 5))
    with pytest.raises(ValueError, match="strides"):
        MaskExperimentConfig(strides=(32,))
    with pytest.raises(ValueError, match="jitter"):
        MaskExperimentConfig(jitter=1.5)
    with pytest.raises(ValueError, match="steps"):
        MaskExperimentConfig(steps=0)
    with pytest.raises(ValueError, match="crop_size"):
        MaskExperimentConfig(crop_size=16)
    with pytest.raises(ValueError, match="background_weight"):
        MaskExperimentConfig(background_weight=-1.0)
    with pytest.raises(ValueError, match="aux_weight"):
        MaskExperimentConfig(aux_weight=float("nan"))
    with pytest.raises(TypeError, match="cfg"):
        mask_head.train_mask_heads({"steps": 1})


# --------------------------------------------------------------------------- issue 13 findings
# The shared checks of course_lib._checks: a wrong type (bool, float, str where an int is
# expected) is a TypeError, an out-of-range value a ValueError, both naming the argument;
# NumPy integers are integers.
_BOX = torch.tensor([[0.0, 0, 4, 4]])
_WRONG_INTS = [True, 2.0, "2"]


@pytest.mark.parametrize("bad", _WRONG_INTS)
@pytest.mark.parametrize("name", ["in_channels", "channels", "num_classes", "num_convs"])
def test_mask_head_int_of_a_wrong_type_is_a_type_error(name, bad):
    kwargs = {"in_channels": 4, name: bad}
    with pytest.raises(TypeError, match=rf"^{name} must be an integer, got"):
        MaskHead(**kwargs)


@pytest.mark.parametrize("name, value, expected", [
    ("in_channels", 0, ">= 1"), ("channels", 0, ">= 1"), ("num_classes", -1, ">= 1"),
    ("num_convs", -1, ">= 0")])
def test_mask_head_int_out_of_range_is_a_value_error(name, value, expected):
    with pytest.raises(ValueError, match=rf"^{name} must be an integer {expected}, got {value}"):
        MaskHead(**{"in_channels": 4, name: value})


def test_mask_head_accepts_numpy_integers():
    head = MaskHead(np.int64(4), channels=np.int32(3), num_convs=np.int64(0),
                    num_classes=np.int16(2))
    assert head(torch.rand(1, 4, 5, 5)).shape == (1, 2, 5, 5)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"stride": True}, TypeError, r"^stride must be an integer, got bool"),
    ({"stride": 8.0}, TypeError, r"^stride must be an integer, got float"),
    ({"stride": "8"}, TypeError, r"^stride must be an integer, got str"),
    ({"stride": 5}, ValueError, r"^stride must be one of \[2, 4, 8, 16, 32\], got 5"),
    ({"roi_size": False}, TypeError, r"^roi_size must be an integer, got bool"),
    ({"roi_size": 7.0}, TypeError, r"^roi_size must be an integer, got float"),
    ({"roi_size": "7"}, TypeError, r"^roi_size must be an integer, got str"),
    ({"roi_size": 0}, ValueError, r"^roi_size must be an integer >= 1, got 0"),
    ({"sampling_ratio": True}, TypeError, r"^sampling_ratio must be an integer, got bool"),
    ({"sampling_ratio": 2.0}, TypeError, r"^sampling_ratio must be an integer, got float"),
    ({"sampling_ratio": "2"}, TypeError, r"^sampling_ratio must be an integer, got str"),
    ({"aligned": 1}, TypeError, r"^aligned must be True or False, got int"),
    ({"head_channels": 4.0}, TypeError, r"^channels must be an integer, got float"),
    ({"head_convs": -1}, ValueError, r"^num_convs must be an integer >= 0, got -1"),
    ({"roi_op": 1}, ValueError, r"^roi_op must be one of \('pool', 'align'\), got int"),
])
def test_mask_head_model_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        MaskHeadModel(**kwargs)


def test_mask_head_model_accepts_numpy_integers_and_adaptive_sampling():
    net = MaskHeadModel(stride=np.int64(16), roi_size=np.int32(4), sampling_ratio=np.int64(-1),
                        head_channels=np.int64(4), aligned=np.bool_(True))
    assert (net.stride, net.roi_size, net.sampling_ratio, net.aligned) == (16, 4, -1, True)
    assert type(net.stride) is int and type(net.roi_size) is int and type(net.aligned) is bool
    out = net(torch.rand(1, 3, 64, 64), [torch.tensor([[4.0, 8, 30, 40]])])
    assert out.shape == (1, 1, 4, 4)


@pytest.mark.parametrize("size, error, match", [
    (True, TypeError, r"^size must be an integer, got bool"),
    (4.0, TypeError, r"^size must be an integer, got float"),
    ("4", TypeError, r"^size must be an integer, got str"),
    (0, ValueError, r"^size must be an integer >= 1, got 0"),
])
def test_mask_targets_bad_size(size, error, match):
    with pytest.raises(error, match=match):
        mask_targets(torch.ones(1, 8, 8), _BOX, size)


def test_mask_targets_accepts_a_numpy_size():
    assert mask_targets(torch.ones(1, 8, 8), _BOX, np.int64(4)).shape == (1, 4, 4)


@pytest.mark.parametrize("image_size, error, match", [
    ((8, True), TypeError, r"^image_size\[1\] must be an integer, got bool"),
    ((8.0, 8), TypeError, r"^image_size\[0\] must be an integer, got float"),
    (("8", 8), TypeError, r"^image_size\[0\] must be an integer, got str"),
    ("88", TypeError, r"^image_size must be a pair \(H, W\) of ints, got str"),
    (8, TypeError, r"^image_size must be a pair \(H, W\) of ints, got int"),
    ((8, 8, 8), ValueError, r"^image_size must be a pair \(H, W\), got 3 values"),
    ((8, 0), ValueError, r"^image_size\[1\] must be an integer >= 1, got 0"),
])
def test_paste_masks_bad_image_size(image_size, error, match):
    with pytest.raises(error, match=match):
        paste_masks(torch.ones(1, 4, 4), _BOX, image_size)


def test_paste_masks_accepts_numpy_image_size():
    out = paste_masks(torch.ones(1, 4, 4), _BOX, (np.int64(8), np.int32(6)))
    assert out.shape == (1, 8, 6)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"steps": True}, TypeError, r"^steps must be an integer, got bool"),
    ({"steps": 10.0}, TypeError, r"^steps must be an integer, got float"),
    ({"batch_size": "8"}, TypeError, r"^batch_size must be an integer, got str"),
    ({"roi_size": 0}, ValueError, r"^roi_size must be an integer >= 1, got 0"),
    ({"head_channels": -2}, ValueError, r"^head_channels must be an integer >= 1, got -2"),
    ({"crop_size": 64.0}, TypeError, r"^crop_size must be an integer, got float"),
    ({"crop_size": 31}, ValueError, r"^crop_size must be an integer >= 32, got 31"),
    ({"strides": (8, True)}, TypeError, r"^strides\[1\] must be an integer, got bool"),
    ({"strides": (8.0,)}, TypeError, r"^strides\[0\] must be an integer, got float"),
    ({"strides": (32,)}, ValueError, r"^strides must be among \(2, 4, 8, 16\)"),
    ({"lr": True}, TypeError, r"^lr must be a real number, got bool"),
    ({"lr": "3e-3"}, TypeError, r"^lr must be a real number, got str"),
    ({"lr": 0.0}, ValueError, r"^lr must be > 0, got 0"),
    ({"lr": float("inf")}, ValueError, r"^lr must be finite, got inf"),
    ({"jitter": True}, TypeError, r"^jitter must be a real number, got bool"),
    ({"jitter": 1.0}, ValueError, r"^jitter must be >= 0 and < 1, got 1"),
    ({"aux_weight": "1"}, TypeError, r"^aux_weight must be a real number, got str"),
    ({"background_weight": -1.0}, ValueError, r"^background_weight must be >= 0, got -1"),
    ({"roi_ops": ("max",)}, ValueError, r"^roi_ops must be one of \('pool', 'align'\)"),
])
def test_experiment_config_bad_fields(kwargs, error, match):
    with pytest.raises(error, match=match):
        MaskExperimentConfig(**kwargs)


def test_experiment_config_numpy_scalars_are_stored_as_python_numbers():
    # so that key() can hash them, to the same key as the equal Python numbers
    cfg = MaskExperimentConfig(steps=np.int64(300), roi_size=np.int32(14), crop_size=np.int64(64),
                               strides=(np.int64(8), np.int64(16)), lr=np.float64(3e-3),
                               jitter=np.float64(0.1), aux_weight=np.int64(1))
    assert cfg == MaskExperimentConfig() and cfg.key() == MaskExperimentConfig().key()
    assert type(cfg.steps) is int and type(cfg.crop_size) is int and type(cfg.lr) is float
    assert all(type(s) is int for s in cfg.strides)


def test_experiment_config_keeps_ordinary_values_and_their_key():
    cfg = MaskExperimentConfig(lr=1, aux_weight=2)            # ints where floats are expected
    assert type(cfg.lr) is int and type(cfg.aux_weight) is int
    assert MaskExperimentConfig().key() == _cache.config_key(MaskExperimentConfig())
