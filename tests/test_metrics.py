"""Tests of course_lib.metrics against scikit-learn, torchmetrics and hand-worked answers.

Agreement with the references (all exact, integer counts; float metrics to 1e-12):

* ``confusion_matrix`` == ``sklearn.metrics.confusion_matrix(t[valid], p[valid], labels=range(K))``
  == ``torchmetrics`` ``MulticlassConfusionMatrix(K, ignore_index=255)``.
* ``scores(cm).mean_iou`` == ``MulticlassJaccardIndex(K, average="macro", ignore_index=255)``:
  torchmetrics gives weight 0 to classes absent from prediction and truth, i.e. the same
  NaN-excluded mean (both give NaN when every pixel is void).
* ``scores(cm).iou`` == ``MulticlassJaccardIndex(average="none")`` and ``sklearn.jaccard_score``
  except at classes absent from both, where they report 0 (``zero_division``) and we NaN.
* ``pixel_accuracy`` == ``sklearn.accuracy_score`` on the valid pixels == torchmetrics
  ``MulticlassAccuracy(average="micro")`` (all void: torchmetrics 0, ours NaN).
* ``mean_class_accuracy`` == ``sklearn.balanced_accuracy_score`` always, and ==
  ``MulticlassAccuracy(average="macro")`` unless a class is predicted but absent from the
  truth: torchmetrics counts such a class with recall 0, we and sklearn leave it out.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage
from sklearn import metrics as skm
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassJaccardIndex,
)

from course_lib import metrics

VOID = 255


def _random_labels(shape, num_classes, *, seed, void_fraction=0.1, device="cpu"):
    g = torch.Generator().manual_seed(seed)
    target = torch.randint(0, num_classes, shape, generator=g)
    pred = torch.where(torch.rand(shape, generator=g) < 0.6, target,
                       torch.randint(0, num_classes, shape, generator=g))
    target[torch.rand(shape, generator=g) < void_fraction] = VOID
    return pred.to(device), target.to(device)


def _sklearn_cm(pred, target, num_classes):
    p, t = pred.cpu().numpy().ravel(), target.cpu().numpy().ravel()
    keep = t != VOID
    return skm.confusion_matrix(t[keep], p[keep], labels=np.arange(num_classes))


# --------------------------------------------------------------------------- known answers
def test_known_answer_tiny():
    target = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, VOID, VOID]])
    pred = torch.tensor([[0, 0, 1, 0], [0, 0, 1, 1], [2, 1, 0, 0]])
    cm = metrics.confusion_matrix(pred, target, 3)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[4, 0, 0], [1, 3, 0], [0, 1, 1]]
    s = metrics.scores(cm)
    assert float(s.pixel_accuracy) == pytest.approx(8 / 10)
    torch.testing.assert_close(s.class_accuracy, torch.tensor([1, 3 / 4, 1 / 2]).double())
    assert float(s.mean_class_accuracy) == pytest.approx((1 + 3 / 4 + 1 / 2) / 3)
    torch.testing.assert_close(s.iou, torch.tensor([4 / 5, 3 / 5, 1 / 2]).double())
    assert float(s.mean_iou) == pytest.approx((4 / 5 + 3 / 5 + 1 / 2) / 3)
    fw = 4 / 10 * 4 / 5 + 4 / 10 * 3 / 5 + 2 / 10 * 1 / 2
    assert float(s.frequency_weighted_iou) == pytest.approx(fw)


def test_wrappers_equal_scores():
    pred, target = _random_labels((3, 9, 11), 5, seed=1)
    s = metrics.scores(metrics.confusion_matrix(pred, target, 5))
    for fn, field in [(metrics.pixel_accuracy, "pixel_accuracy"),
                      (metrics.class_accuracy, "class_accuracy"),
                      (metrics.mean_class_accuracy, "mean_class_accuracy"),
                      (metrics.iou_per_class, "iou"), (metrics.mean_iou, "mean_iou"),
                      (metrics.frequency_weighted_iou, "frequency_weighted_iou")]:
        torch.testing.assert_close(fn(pred, target, 5), getattr(s, field))
    assert metrics.iou_per_class.__name__ == "iou_per_class"


def test_absent_class_is_nan_and_excluded():
    target = torch.tensor([0, 0, 3, 3])
    pred = torch.tensor([0, 0, 3, 1])          # class 1 only predicted, 2 and 4 nowhere
    s = metrics.scores(metrics.confusion_matrix(pred, target, 5))
    assert s.iou[0] == 1 and s.iou[1] == 0 and s.iou[3] == 0.5
    assert torch.isnan(s.iou[2]) and torch.isnan(s.iou[4])
    assert float(s.mean_iou) == pytest.approx((1 + 0 + 0.5) / 3)
    assert torch.isnan(s.class_accuracy[1])    # no truth pixel: undefined, left out
    assert float(s.mean_class_accuracy) == pytest.approx((1 + 0.5) / 2)


def test_all_void():
    target = torch.full((4, 4), VOID)
    pred = torch.zeros(4, 4, dtype=torch.long)
    cm = metrics.confusion_matrix(pred, target, 3)
    assert cm.sum() == 0
    s = metrics.scores(cm)
    for x in (s.pixel_accuracy, s.mean_class_accuracy, s.mean_iou, s.frequency_weighted_iou):
        assert torch.isnan(x)
    assert torch.isnan(s.iou).all()


def test_single_class():
    label = torch.zeros(5, 5, dtype=torch.long)
    s = metrics.scores(metrics.confusion_matrix(label, label, 1))
    assert s.confusion.tolist() == [[25]]
    assert s.as_dict() == {"pixel_accuracy": 1.0, "mean_class_accuracy": 1.0, "mean_iou": 1.0,
                           "frequency_weighted_iou": 1.0}


def test_void_pixels_may_hold_any_prediction():
    target = torch.tensor([0, 1, VOID])
    pred = torch.tensor([0, 1, 200])           # 200 is out of range but sits on void
    assert metrics.confusion_matrix(pred, target, 2).tolist() == [[1, 0], [0, 1]]


def test_ignore_index_none_and_custom():
    target = torch.tensor([0, 1, 1, 2])
    pred = torch.tensor([0, 1, 0, 2])
    assert metrics.confusion_matrix(pred, target, 3, ignore_index=None).sum() == 4
    # an in-range ignore_index drops that class's truth pixels, as torchmetrics does
    cm = metrics.confusion_matrix(pred, target, 3, ignore_index=1)
    assert cm.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]
    ref = MulticlassConfusionMatrix(3, ignore_index=1)(pred, target)
    assert cm.tolist() == ref.tolist()
    # a negative ignore_index (PyTorch's loss default is -100)
    target = torch.tensor([0, -100, 1])
    assert metrics.confusion_matrix(pred[:3], target, 3, ignore_index=-100).sum() == 2


def test_shapes_batched_and_any():
    pred, target = _random_labels((4, 6, 7), 4, seed=2)
    cm = metrics.confusion_matrix(pred, target, 4)
    per_image = sum(metrics.confusion_matrix(p, t, 4) for p, t in zip(pred, target, strict=True))
    assert cm.tolist() == per_image.tolist()
    assert metrics.confusion_matrix(pred.reshape(-1), target.reshape(-1), 4).tolist() == cm.tolist()
    assert metrics.confusion_matrix(pred[None], target[None], 4).tolist() == cm.tolist()


def test_many_classes_wide_codes():
    # K^2 beyond int16: the codes switch to int32
    pred, target = _random_labels((4, 30, 30), 300, seed=5, void_fraction=0.0)
    cm = metrics.confusion_matrix(pred, target, 300)
    np.testing.assert_array_equal(cm.numpy(), _sklearn_cm(pred, target, 300))


def test_logits_are_argmaxed():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(2, 4, 5, 6, generator=g)
    _, target = _random_labels((2, 5, 6), 4, seed=3)
    assert (metrics.confusion_matrix(logits, target, 4)
            == metrics.confusion_matrix(logits.argmax(1), target, 4)).all()


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16, torch.int32, torch.int64])
def test_integer_dtypes_and_numpy(dtype):
    pred, target = _random_labels((2, 8, 8), 6, seed=4)
    ref = metrics.confusion_matrix(pred, target, 6)
    assert (metrics.confusion_matrix(pred.to(dtype), target.to(dtype), 6) == ref).all()
    assert (metrics.confusion_matrix(pred.numpy(), target.numpy(), 6) == ref).all()


def test_bool_masks():
    target = torch.tensor([True, True, False, False])
    pred = torch.tensor([True, False, False, True])
    assert metrics.confusion_matrix(pred, target, 2).tolist() == [[1, 1], [1, 1]]


def test_table_and_as_dict():
    s = metrics.scores(torch.tensor([[3, 1, 0], [0, 0, 0], [0, 0, 0]]))
    text = s.table(["bg", "cow", "dog"])
    assert "cow" in text and "mean_iou" in text and "dog" not in text
    text = s.table(["bg", "cow", "dog"], absent=True)
    assert text.splitlines()[3].split()[1] == "-"     # dog: absent, shown as '-'
    with pytest.raises(ValueError, match="names must have num_classes=3"):
        s.table(["bg"])


# --------------------------------------------------------------------------- references
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("num_classes", [2, 7, 21])
def test_confusion_matrix_matches_sklearn_and_torchmetrics(device, seed, num_classes):
    pred, target = _random_labels((3, 17, 19), num_classes, seed=seed, device=device)
    cm = metrics.confusion_matrix(pred, target, num_classes)
    assert cm.device.type == device.type
    np.testing.assert_array_equal(cm.cpu().numpy(), _sklearn_cm(pred, target, num_classes))
    ref = MulticlassConfusionMatrix(num_classes, ignore_index=VOID).to(device)(pred, target)
    assert torch.equal(cm, ref.to(cm.dtype))


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("case", ["random", "absent", "noncontiguous", "one_class", "all_void"])
def test_scores_match_references(device, case):
    K = 21
    pred, target = _random_labels((2, 16, 16), K, seed=7, device=device)
    if case == "absent":                        # only classes 0, 3 and 5 anywhere
        pred, target = pred % 3 * 2 + (pred % 3 == 1), torch.where(target == VOID, VOID,
                                                                   target % 3 * 2 + (target % 3 == 1))
    elif case == "noncontiguous":               # Pasture's VOC classes
        voc = torch.tensor([0, 10, 12, 13, 15, 17], device=device)
        pred = voc[pred % 6]
        target = torch.where(target == VOID, VOID, voc[target % 6])
    elif case == "one_class":
        pred = torch.full_like(pred, 10)
        target = torch.where(target == VOID, VOID, 10)
    elif case == "all_void":
        target = torch.full_like(target, VOID)
    s = metrics.scores(metrics.confusion_matrix(pred, target, K))
    jac = MulticlassJaccardIndex(K, average="macro", ignore_index=VOID).to(device)(pred, target)
    torch.testing.assert_close(s.mean_iou.float(), jac, equal_nan=True)
    jac_none = MulticlassJaccardIndex(K, average="none", ignore_index=VOID).to(device)(pred, target)
    torch.testing.assert_close(s.iou.nan_to_num(0.0).float(), jac_none)
    keep = (target != VOID).cpu().numpy().ravel()
    t, p = target.cpu().numpy().ravel()[keep], pred.cpu().numpy().ravel()[keep]
    if case == "all_void":
        assert torch.isnan(s.pixel_accuracy) and torch.isnan(s.mean_class_accuracy)
        return
    assert float(s.pixel_accuracy) == pytest.approx(skm.accuracy_score(t, p), abs=1e-12)
    acc = MulticlassAccuracy(K, average="micro", ignore_index=VOID).to(device)(pred, target)
    assert float(s.pixel_accuracy) == pytest.approx(float(acc), abs=1e-6)
    assert float(s.mean_class_accuracy) == pytest.approx(skm.balanced_accuracy_score(t, p),
                                                         abs=1e-12)
    labels = np.arange(K)
    sk_iou = skm.jaccard_score(t, p, labels=labels, average=None, zero_division=0)
    np.testing.assert_allclose(s.iou.nan_to_num(0.0).cpu().numpy(), sk_iou, atol=1e-12)


def test_mean_class_accuracy_vs_torchmetrics_macro():
    # Agree when every predicted class has truth pixels ...
    pred, target = _random_labels((2, 16, 16), 5, seed=8)
    ref = MulticlassAccuracy(5, average="macro", ignore_index=VOID)(pred, target)
    assert float(metrics.mean_class_accuracy(pred, target, 5)) == pytest.approx(float(ref), 1e-6)
    # ... and differ (documented) when a class is only predicted: torchmetrics counts it as 0.
    target = torch.tensor([0, 0, 1, 1, VOID])
    pred = torch.tensor([0, 2, 1, 1, 2])
    ref = MulticlassAccuracy(3, average="macro", ignore_index=VOID)(pred, target)
    assert float(ref) == pytest.approx((0.5 + 1 + 0) / 3)
    assert float(metrics.mean_class_accuracy(pred, target, 3)) == pytest.approx((0.5 + 1) / 2)


# --------------------------------------------------------------------------- properties
_labels = st.integers(2, 6).flatmap(lambda k: st.tuples(
    st.just(k),
    st.lists(st.tuples(st.integers(0, k - 1), st.one_of(st.integers(0, k - 1), st.just(VOID))),
             min_size=1, max_size=60)))


def _unzip(k_pairs):
    k, pairs = k_pairs
    pred = torch.tensor([p for p, _ in pairs])
    target = torch.tensor([t for _, t in pairs])
    return k, pred, target


@settings(max_examples=60, deadline=None)
@given(_labels)
def test_property_counts_and_ranges(k_pairs):
    K, pred, target = _unzip(k_pairs)
    cm = metrics.confusion_matrix(pred, target, K)
    assert int(cm.sum()) == int((target != VOID).sum())
    s = metrics.scores(cm)
    for x in (s.iou, s.class_accuracy, s.pixel_accuracy, s.mean_iou, s.frequency_weighted_iou):
        x = x[~torch.isnan(x)]
        assert ((x >= 0) & (x <= 1 + 1e-12)).all()
    if int(cm.sum()):
        # fwIoU weights sum to 1 and IoU <= class accuracy (union >= truth pixels)
        both = ~torch.isnan(s.class_accuracy)
        assert (s.iou[both] <= s.class_accuracy[both] + 1e-12).all()


@settings(max_examples=60, deadline=None)
@given(_labels)
def test_property_perfect_prediction(k_pairs):
    K, _, target = _unzip(k_pairs)
    pred = torch.where(target == VOID, 0, target)
    s = metrics.scores(metrics.confusion_matrix(pred, target, K))
    present = torch.zeros(K, dtype=torch.bool)
    present[target[target != VOID]] = True
    assert (s.iou[present] == 1).all() and torch.isnan(s.iou[~present]).all()
    if present.any():
        assert float(s.mean_iou) == 1 and float(s.pixel_accuracy) == 1
        assert float(s.frequency_weighted_iou) == pytest.approx(1.0)


@settings(max_examples=60, deadline=None)
@given(_labels, st.randoms(use_true_random=False))
def test_property_permutation_invariance(k_pairs, rnd):
    K, pred, target = _unzip(k_pairs)
    perm = list(range(K))
    rnd.shuffle(perm)
    perm = torch.tensor(perm + [0] * (VOID + 1 - K))
    perm[VOID] = VOID                            # relabel classes, keep void
    cm = metrics.confusion_matrix(pred, target, K)
    cm2 = metrics.confusion_matrix(perm[pred], perm[target], K)
    p = perm[:K]
    assert torch.equal(cm2[p][:, p], cm)         # cm2[perm i, perm j] = cm[i, j]
    s, s2 = metrics.scores(cm), metrics.scores(cm2)
    for a in ("pixel_accuracy", "mean_class_accuracy", "mean_iou", "frequency_weighted_iou"):
        torch.testing.assert_close(getattr(s2, a), getattr(s, a), equal_nan=True)


@settings(max_examples=40, deadline=None)
@given(_labels)
def test_property_swap_transposes(k_pairs):
    K, pred, target = _unzip(k_pairs)
    target = torch.where(target == VOID, 0, target)
    cm = metrics.confusion_matrix(pred, target, K)
    assert torch.equal(metrics.confusion_matrix(target, pred, K), cm.T)
    # IoU is symmetric in prediction and truth
    torch.testing.assert_close(metrics.scores(cm.T).iou, metrics.scores(cm).iou, equal_nan=True)


# --------------------------------------------------------------------------- accumulator
def test_accumulator_equals_one_shot(device):
    pred, target = _random_labels((5, 12, 12), 4, seed=9, device=device)
    meter = metrics.ConfusionMatrix(4)
    assert meter.confusion.sum() == 0
    for p, t in zip(pred, target, strict=True):
        meter.update(p, t)
    one_shot = metrics.confusion_matrix(pred, target, 4)
    assert torch.equal(meter.confusion, one_shot)
    torch.testing.assert_close(meter.compute().mean_iou, metrics.scores(one_shot).mean_iou)
    assert "num_classes=4" in repr(meter) and f"pixels={int(one_shot.sum())}" in repr(meter)
    meter.reset()
    assert meter.confusion.sum() == 0


def test_accumulator_rejects_other_device():
    meter = metrics.ConfusionMatrix(3)
    meter.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    meter._cm = meter._cm.to("meta")             # pretend it lives on another device
    with pytest.raises(ValueError, match="accumulates on meta"):
        meter.update(torch.tensor([0, 1]), torch.tensor([0, 1]))


# --------------------------------------------------------------------------- boundaries
def _square(size=16, lo=4, hi=12, shift=0):
    x = torch.zeros(size, size, dtype=torch.long)
    x[lo:hi, lo + shift:hi + shift] = 1
    return x


def test_boundaries_known_answer():
    edge = metrics.boundaries(_square(8, 2, 6))
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[1:7, 1:7] = True
    expected[3:5, 3:5] = False                   # both sides of the label change, 1 px each
    assert torch.equal(edge, expected)
    assert not metrics.boundaries(torch.zeros(4, 4, dtype=torch.long)).any()   # image edge
    label = torch.tensor([[1, 1, VOID, 0, 0]])
    assert metrics.boundaries(label, ignore_index=VOID).tolist() == [[0, 1, 0, 1, 0]]


def test_boundary_f_score_perfect_and_shifted():
    target = _square()
    assert float(metrics.boundary_f_score(target, target, 2).mean_f_score) == 1.0
    shifted = _square(shift=3)
    bf = metrics.boundary_f_score(shifted, target, 2, tolerance=1)
    assert float(bf.mean_f_score) < 0.6
    # within the tolerance a shift costs nothing
    bf = metrics.boundary_f_score(shifted, target, 2, tolerance=3)
    assert float(bf.mean_f_score) == 1.0


def test_boundary_f_score_known_answer():
    target = _square(16, 4, 12)            # 8x8 square: 28 boundary pixels
    pred = _square(16, 4, 12, shift=1)     # shifted right by one
    bf = metrics.boundary_f_score(pred, target, 2, tolerance=0)
    # class 1: left and right columns (8 + 8) moved; top/bottom rows keep 7 of 8 pixels each.
    # Matched pred pixels at distance 0: the 14 on the top/bottom rows shared with the truth.
    assert float(bf.precision[1]) == pytest.approx(14 / 28)
    assert float(bf.recall[1]) == pytest.approx(14 / 28)


def _reference_bf(pred, target, num_classes, tolerance, void=VOID):
    """Slow float64 reference: explicit 8-neighbour loop + scipy chessboard distances."""
    pred, target = pred.numpy(), target.numpy()
    valid = target != void
    H, W = target.shape

    def boundary(mask):
        out = np.zeros_like(mask)
        for y in range(H):
            for x in range(W):
                if mask[y, x]:
                    nb = mask[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
                    out[y, x] = not nb.all()
        return out

    def near(b):
        if not b.any():
            return np.zeros_like(b)
        return ndimage.distance_transform_cdt(~b, metric="chessboard") <= tolerance

    f = np.full(num_classes, np.nan)
    for c in range(num_classes):
        g, p = (target == c) & valid, pred == c
        if not (g.any() or (p & valid).any()):
            continue
        bg, bp_all = boundary(g), boundary(p)
        bp = bp_all & valid
        P = (bp & near(bg)).sum() / bp.sum() if bp.sum() else 1.0
        R = (bg & near(bp_all)).sum() / bg.sum() if bg.sum() else 1.0
        f[c] = 2 * P * R / (P + R) if P + R else 0.0
    return f


@pytest.mark.parametrize("tolerance", [0, 1, 3])
def test_boundary_f_score_matches_reference(device, tolerance):
    g = torch.Generator().manual_seed(tolerance)
    # blobby random label maps: upsampled coarse noise, so that regions have real boundaries
    coarse = torch.randint(0, 4, (2, 1, 6, 6), generator=g).float()
    target = torch.nn.functional.interpolate(coarse, size=(30, 30), mode="nearest")[:, 0].long()
    pred = torch.roll(target, shifts=(1, 2), dims=(1, 2))
    pred[0, 10:14, 3:20] = 2
    target[1, :, :2] = VOID
    bf = metrics.boundary_f_score(pred.to(device), target.to(device), 5, tolerance=tolerance)
    for i in range(2):
        ref = _reference_bf(pred[i], target[i], 5, tolerance)
        single = metrics.boundary_f_score(pred[i], target[i], 5, tolerance=tolerance)
        np.testing.assert_allclose(single.f_score.numpy(), ref, atol=1e-12)
    assert bf.f_score.device.type == device.type
    assert torch.isnan(bf.f_score[4])            # class 4 appears nowhere


def test_boundary_f_score_empty_boundaries():
    full = torch.ones(6, 6, dtype=torch.long)
    bf = metrics.boundary_f_score(full, full, 2)
    assert float(bf.f_score[1]) == 1.0 and torch.isnan(bf.f_score[0])
    bf = metrics.boundary_f_score(_square(6, 2, 4), full, 2)
    assert float(bf.f_score[1]) == 0.0           # truth has no boundary, prediction has


def test_boundary_f_score_void_band():
    target = _square(16, 4, 12)
    ring = metrics.boundaries(target) & (target == 0)      # VOC-style void ring outside
    target[ring] = VOID
    pred = _square(16, 3, 13)                  # one pixel too big: its edge lies in the void
    bf = metrics.boundary_f_score(pred, target, 2, tolerance=1)
    assert float(bf.f_score[1]) == 1.0          # edge in the void band is not counted


def test_boundary_f_score_sees_missing_legs():
    cow = torch.zeros(40, 40, dtype=torch.long)
    cow[10:22, 8:32] = 1                         # torso
    for x in (10, 14, 25, 29):
        cow[22:34, x:x + 2] = 1                  # four thin legs
    legless = cow.clone()
    legless[22:, :] = 0
    iou = float(metrics.iou_per_class(legless, cow, 2)[1])
    bf = metrics.boundary_f_score(legless, cow, 2, tolerance=1)
    # the IoU forgives the legs; the boundary recall does not (the leg outlines are missed)
    assert iou == pytest.approx(0.75) and float(bf.precision[1]) == 1.0
    assert float(bf.recall[1]) < 0.5 and float(bf.f_score[1]) < iou - 0.1


def test_trimap_accuracy():
    target = _square()
    assert float(metrics.trimap_accuracy(target, target, 2, width=2)) == 1.0
    pred = torch.zeros_like(target)              # misses the square entirely
    # band of width 0 = the boundary pixels: 28 inside (wrong) and 36 outside (right)
    acc = metrics.trimap_accuracy(pred, target, 2, width=0)
    assert float(acc) == pytest.approx(36 / 64)
    assert torch.isnan(metrics.trimap_accuracy(pred, torch.zeros_like(target), 2))


# --------------------------------------------------------------------------- bad input
def test_rejects_shape_mismatch():
    with pytest.raises(ValueError, match=r"same shape, got pred \(2, 3\) and target \(3, 2\)"):
        metrics.confusion_matrix(torch.zeros(2, 3, dtype=torch.long),
                                 torch.zeros(3, 2, dtype=torch.long), 2)


def test_rejects_float_pred():
    with pytest.raises(TypeError, match="pred must hold integer class labels, got dtype"):
        metrics.confusion_matrix(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), 2)


def test_rejects_float_target():
    with pytest.raises(TypeError, match="target must hold integer class labels"):
        metrics.confusion_matrix(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2), 2)


def test_rejects_target_out_of_range():
    with pytest.raises(ValueError, match=r"target holds labels outside \[0, num_classes=3\).*\[3\]"):
        metrics.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 3]), 3)


def test_rejects_negative_target():
    with pytest.raises(ValueError, match=r"target holds labels outside.*\[-1\]"):
        metrics.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, -1]), 3)


def test_rejects_huge_target_without_allocating():
    with pytest.raises(ValueError, match=r"target holds labels outside.*\[1099511627776\]"):
        metrics.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 2**40]), 3,
                                 ignore_index=None)


def test_rejects_pred_out_of_range():
    with pytest.raises(ValueError, match=r"pred holds labels outside .* where target != 255"):
        metrics.confusion_matrix(torch.tensor([0, 7]), torch.tensor([0, 1]), 3)


def test_rejects_void_when_not_ignored():
    with pytest.raises(ValueError, match=r"target holds labels outside.*\[255\]"):
        metrics.confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, VOID]), 3,
                                 ignore_index=None)


def test_rejects_device_mismatch():
    with pytest.raises(ValueError, match="same device, got pred on cpu and target on meta"):
        metrics.confusion_matrix(torch.zeros(2, dtype=torch.long),
                                 torch.zeros(2, dtype=torch.long, device="meta"), 2)


@pytest.mark.parametrize("bad", [0, -3])
def test_rejects_num_classes_below_one(bad):
    with pytest.raises(ValueError, match=f"num_classes must be >= 1, got {bad}"):
        metrics.confusion_matrix(torch.zeros(2, dtype=torch.long),
                                 torch.zeros(2, dtype=torch.long), bad)


@pytest.mark.parametrize("bad", [2.0, True, "3"])
def test_rejects_num_classes_not_int(bad):
    with pytest.raises(TypeError, match="num_classes must be an int"):
        metrics.ConfusionMatrix(bad)


def test_rejects_ignore_index_not_int():
    with pytest.raises(TypeError, match="ignore_index must be an int or None, got float"):
        metrics.confusion_matrix(torch.zeros(2, dtype=torch.long),
                                 torch.zeros(2, dtype=torch.long), 2, ignore_index=255.0)


def test_rejects_non_tensor():
    with pytest.raises(TypeError, match="pred must be a torch.Tensor .* got list"):
        metrics.confusion_matrix([0, 1], torch.zeros(2, dtype=torch.long), 2)


def test_rejects_logits_with_wrong_classes():
    with pytest.raises(ValueError, match=r"C = num_classes = 3"):
        metrics.confusion_matrix(torch.zeros(1, 4, 2, 2), torch.zeros(1, 2, 2, dtype=torch.long), 3)


def test_rejects_non_square_cm():
    with pytest.raises(ValueError, match=r"cm must be a square \(K, K\) matrix.*\(2, 3\)"):
        metrics.scores(torch.zeros(2, 3))


def test_rejects_negative_cm():
    with pytest.raises(ValueError, match="non-negative counts"):
        metrics.scores(torch.tensor([[1, -1], [0, 2]]))


def test_rejects_negative_tolerance():
    with pytest.raises(ValueError, match="tolerance must be an integer >= 0, got -1"):
        metrics.boundary_f_score(_square(), _square(), 2, tolerance=-1)


def test_rejects_float_width():
    with pytest.raises(TypeError, match="width must be an integer, got float"):
        metrics.trimap_accuracy(_square(), _square(), 2, width=1.5)


def test_rejects_one_dimensional_boundary_input():
    with pytest.raises(ValueError, match=r"pred must have shape \(..., H, W\)"):
        metrics.boundary_f_score(torch.zeros(4, dtype=torch.long),
                                 torch.zeros(4, dtype=torch.long), 2)


def test_rejects_float_label_in_boundaries():
    with pytest.raises(TypeError, match="label must hold integer class labels"):
        metrics.boundaries(torch.zeros(3, 3))


# --------------------------------------------------------------------------- issue 13 findings
def test_ignore_index_out_of_dtype_range_does_not_wrap():
    # uint8 cannot hold 256: no pixel is void, class 0 is counted (it used to be dropped)
    target = torch.tensor([[0, 1], [1, 0]], dtype=torch.uint8)
    cm = metrics.confusion_matrix(target, target, 2, ignore_index=256)
    assert cm.tolist() == [[2, 0], [0, 2]]


def test_int8_target_minus_one_is_not_void_255():
    target = torch.tensor([[0, -1]], dtype=torch.int8)
    with pytest.raises(ValueError, match=r"target holds labels outside.*\[-1\]"):
        metrics.confusion_matrix(torch.zeros(1, 2, dtype=torch.long), target, 2)
    cm = metrics.confusion_matrix(torch.zeros(1, 2, dtype=torch.long), target, 2, ignore_index=-1)
    assert cm.tolist() == [[1, 0], [0, 0]]


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.uint64])
def test_wide_unsigned_labels(dtype):
    pred, target = _random_labels((2, 7, 9), 4, seed=3)
    want = metrics.confusion_matrix(pred, target, 4)
    got = metrics.confusion_matrix(pred.numpy().astype(dtype), target.numpy().astype(dtype), 4)
    assert torch.equal(got, want)
    torch.testing.assert_close(metrics.boundaries(target.numpy().astype(dtype)),
                               metrics.boundaries(target))


def test_scores_reject_nan_in_confusion_matrix():
    with pytest.raises(ValueError, match="cm must be finite"):
        metrics.scores(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))


@pytest.mark.parametrize("shape", [(0, 0), (3, 0), (0, 5), (2, 0, 4)])
def test_boundary_metrics_on_empty_inputs(shape):
    empty = torch.zeros(shape, dtype=torch.long)
    assert metrics.boundaries(empty).shape == shape
    bf = metrics.boundary_f_score(empty, empty, 3)
    assert bf.f_score.shape == (3,) and bool(bf.f_score.isnan().all())
    assert torch.isnan(metrics.trimap_accuracy(empty, empty, 3))


def test_boundaries_compare_large_ids_exactly():
    big = 2**24
    label = torch.tensor([[big, big + 1]])          # equal in float32
    assert metrics.boundaries(label).tolist() == [[True, True]]


def test_boundaries_connectivity():
    label = torch.tensor([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
    assert int(metrics.boundaries(label).sum()) == 9
    assert int(metrics.boundaries(label, connectivity=4).sum()) == 5
    with pytest.raises(ValueError, match="connectivity must be one of"):
        metrics.boundaries(label, connectivity=6)


def test_rejects_huge_num_classes_before_allocating():
    with pytest.raises(ValueError, match=r"num_classes=10000000 is too large.*GiB"):
        metrics.confusion_matrix(torch.zeros(2, dtype=torch.long),
                                 torch.zeros(2, dtype=torch.long), 10_000_000)


def test_scores_confusion_keeps_integer_counts():
    s = metrics.scores(torch.tensor([[3, 1], [0, 2]]))
    assert s.confusion.dtype == torch.int64
    assert s.confusion.tolist() == [[3, 1], [0, 2]]
    assert metrics.scores(torch.tensor([[0.5, 0.0], [0.0, 1.0]])).confusion.dtype == \
        torch.float64


def test_rejects_non_finite_scores():
    logits = torch.zeros(1, 2, 2, 2)
    logits[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="pred must be finite"):
        metrics.confusion_matrix(logits, torch.zeros(1, 2, 2, dtype=torch.long), 2)


# --------------------------------------------------------------------------- mutation survivors
def test_trimap_excludes_void_pixels_in_the_band():
    target = torch.zeros(8, 8, dtype=torch.long)
    target[:, 4:] = 1
    pred = target.clone()
    target[:, 3] = VOID                                   # void on the boundary ...
    pred[:, 3] = 1                                        # ... where the prediction is wrong
    assert float(metrics.trimap_accuracy(pred, target, 2, width=1)) == 1.0


def test_trimap_counts_wrong_pixels_without_ignore_index():
    target = torch.zeros(6, 6, dtype=torch.long)
    target[:, 3:] = 1
    pred = target.clone()
    pred[0, 2] = 1                                        # one error next to the boundary
    band = int(metrics.boundaries(target).sum())          # width 0: just the boundary pixels
    acc = float(metrics.trimap_accuracy(pred, target, 2, width=0, ignore_index=None))
    assert acc == pytest.approx((band - 1) / band)


def test_scores_of_shape_n_c_with_one_dimensional_target():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])          # (N, C)
    cm = metrics.confusion_matrix(scores, torch.tensor([0, 1, 1]), 2)
    assert cm.tolist() == [[1, 0], [1, 1]]


def test_codes_just_beyond_int16():
    # K = 182: K^2 = 33124 > 32767 >= K^2 - 2K; the largest pair (181, 181) must be counted
    K = 182
    t = torch.arange(K).repeat(2)
    p = torch.cat([torch.arange(K), torch.arange(K).flip(0)])
    cm = metrics.confusion_matrix(p, t, K, ignore_index=None)
    assert int(cm[K - 1, K - 1]) == 1 and int(cm[0, K - 1]) == 1 and int(cm.sum()) == 2 * K


def test_one_class_with_void_pixels():
    target = torch.tensor([[0, 0, VOID], [0, 0, VOID]])
    pred = torch.tensor([[0, 0, 5], [0, 0, 7]])           # anything may sit under void
    bf = metrics.boundary_f_score(pred, target, 1)
    assert float(bf.f_score[0]) == 1.0
    assert float(metrics.trimap_accuracy(pred, target, 1)) == 1.0


def test_class_with_a_single_truth_pixel_has_an_accuracy():
    s = metrics.scores(torch.tensor([[1, 0], [2, 5]]))
    assert float(s.class_accuracy[0]) == 1.0


def test_accumulator_repr_counts_pixels():
    meter = metrics.ConfusionMatrix(2)
    assert repr(meter) == "ConfusionMatrix(num_classes=2, ignore_index=255, pixels=0)"
    meter.update(torch.tensor([0, 1, 1]), torch.tensor([0, 1, VOID]))
    assert repr(meter).endswith("pixels=2)")


# Found by a longer run of tests/test_properties.py (issue 13): a huge band width overflowed
# max_pool2d ("value cannot be converted to type int without overflow").
def test_trimap_band_wider_than_the_image_is_the_whole_image():
    g = torch.Generator().manual_seed(0)
    target = torch.randint(0, 3, (9, 13), generator=g)
    pred = torch.randint(0, 3, (9, 13), generator=g)
    whole = metrics.pixel_accuracy(pred, target, 3)
    for width in (12, 13, 10**6, 10**12):
        assert metrics.trimap_accuracy(pred, target, 3, width=width) == pytest.approx(whole)


def test_documented_defaults():
    # boundary_f_score: tolerance 2 pixels by default; a shift of 3 is outside, 2 inside
    target = _square()
    for shift, inside in ((2, True), (3, False)):
        bf = metrics.boundary_f_score(_square(shift=shift), target, 2)
        explicit = metrics.boundary_f_score(_square(shift=shift), target, 2, tolerance=2)
        assert float(bf.mean_f_score) == float(explicit.mean_f_score)
        assert (float(bf.mean_f_score) == 1.0) == inside
    # table: 3 digits by default
    s = metrics.scores(torch.tensor([[2, 1], [0, 4]]))
    assert s.table() == s.table(digits=3)
    assert "0.667" in s.table() and "0.6667" not in s.table()


# ------------------------------------------------------------- mutation survivors (issue 13)
def _trimap_reference(pred, target, width, void=None):
    """scipy: boundaries = pixels with an 8-neighbour of another label, band = square dilation."""
    p, t = np.asarray(pred), np.asarray(target)
    H, W = t.shape
    edge = np.zeros(t.shape, bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        a = (slice(0, H - dy), slice(max(0, -dx), W - max(0, dx)))
        b = (slice(dy, H), slice(max(0, dx), W - max(0, -dx)))
        diff = t[a] != t[b]
        edge[a] |= diff
        edge[b] |= diff
    band = ndimage.binary_dilation(edge, np.ones((2 * width + 1,) * 2, bool)) if width else edge
    if void is not None:
        band &= t != void
    return int(((p == t) & band).sum()), int(band.sum())


def test_trimap_accuracy_of_a_batch_pools_its_images():
    g = np.random.default_rng(3)
    target = g.integers(0, 3, (2, 12, 10))
    target[1, :6] = 0                                    # a different image, other band size
    pred = np.where(g.random(target.shape) < 0.7, target, (target + 1) % 3)
    for width in (0, 1, 3):
        (c0, n0), (c1, n1) = (_trimap_reference(pred[i], target[i], width) for i in range(2))
        got = metrics.trimap_accuracy(torch.from_numpy(pred), torch.from_numpy(target), 3,
                                      width=width)
        assert float(got) == pytest.approx((c0 + c1) / (n0 + n1))


def test_trimap_accuracy_of_a_one_pixel_band():
    # the pixel next to void: its band (both sides of the outline) minus the void pixel
    target = torch.tensor([[0, VOID]])
    assert _trimap_reference([[0, 0]], [[0, VOID]], 0, VOID) == (1, 1)
    assert float(metrics.trimap_accuracy(torch.tensor([[0, 0]]), target, 2, width=0)) == 1.0
    assert float(metrics.trimap_accuracy(torch.tensor([[1, 0]]), target, 2, width=0)) == 0.0


def test_boundary_recall_of_a_class_with_one_boundary_pixel():
    # class 1 is a single pixel: one boundary pixel in the truth; a prediction without it
    # matches none of it (recall 0), and one with it matches it (recall 1)
    target = torch.zeros(5, 5, dtype=torch.long)
    target[2, 2] = 1
    missed = metrics.boundary_f_score(torch.zeros_like(target), target, 2, tolerance=1)
    assert float(missed.recall[1]) == 0.0
    hit = metrics.boundary_f_score(target, target, 2, tolerance=1)
    assert float(hit.recall[1]) == 1.0


def test_wrapper_metrics_carry_their_names():
    for name in ("pixel_accuracy", "mean_iou", "iou_per_class", "class_accuracy",
                 "mean_class_accuracy", "frequency_weighted_iou"):
        fn = getattr(metrics, name)
        assert fn.__name__ == fn.__qualname__ == name


def test_out_of_range_message_lists_at_most_five_values():
    target = torch.arange(10, 18)                        # 8 bad values for 3 classes
    with pytest.raises(ValueError, match=r"found \[10, 11, 12, 13, 14\] \(8 pixels\)"):
        metrics.confusion_matrix(torch.zeros(8, dtype=torch.long), target, 3, ignore_index=None)
