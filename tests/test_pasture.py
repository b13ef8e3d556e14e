"""Tests of course_lib.data.pasture: determinism and consistency of every label (speed not asserted)."""

import numpy as np
import pytest

from course_lib.data import pasture
from course_lib.data.classes import COCO_ID, DENSE_CLASSES, VOC_INDEX, VOC_VOID

N_SCENES = 40


@pytest.fixture(scope="module")
def scenes():
    return pasture.scenes(N_SCENES, seed=0, size=128)


def _box(mask):
    ys, xs = np.nonzero(mask)
    return (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_same_seed_gives_identical_scene():
    a, b = pasture.render_scene(11), pasture.render_scene(11)
    for name in ("image", "label", "dense", "instances", "parts", "depth"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert [o.box for o in a.objects] == [o.box for o in b.objects]


def test_scenes_are_consecutive_seeds(scenes):
    again = pasture.render_scene(3)
    np.testing.assert_array_equal(scenes[3].image, again.image)
    assert [s.seed for s in scenes[:3]] == [0, 1, 2]


def test_different_seeds_differ(scenes):
    assert not np.array_equal(scenes[0].image, scenes[1].image)


def test_shapes_and_dtypes(scenes):
    s = scenes[0]
    assert s.image.shape == (128, 128, 3) and s.image.dtype == np.uint8
    for name in ("label", "dense", "instances", "parts"):
        assert getattr(s, name).shape == (128, 128) and getattr(s, name).dtype == np.int64
    assert s.depth.dtype == np.float32
    small = pasture.render_scene(5, size=64)
    assert small.image.shape == (64, 64, 3)


def test_instances_match_objects(scenes):
    for s in scenes:
        ids = [o.instance_id for o in s.objects]
        assert ids == list(range(1, len(ids) + 1))
        assert set(np.unique(s.instances)) <= set([0] + ids)
        for o in s.objects:
            np.testing.assert_array_equal(s.instances == o.instance_id, o.visible_mask)
            assert o.visible_mask.any()


def test_visible_is_subset_of_amodal(scenes):
    for s in scenes:
        for o in s.objects:
            assert not (o.visible_mask & ~o.amodal_mask).any()
            assert 0.0 <= o.occlusion < 1.0


def test_label_is_voc_index_of_instance(scenes):
    for s in scenes:
        expected = np.zeros_like(s.label)
        for o in s.objects:
            assert o.voc_index == VOC_INDEX[o.category] and o.coco_id == COCO_ID[o.category]
            expected[o.visible_mask] = o.voc_index
        np.testing.assert_array_equal(s.label, expected)
        assert VOC_VOID not in s.label


def test_dense_agrees_with_things(scenes):
    for s in scenes:
        for o in s.objects:
            assert (s.dense[o.visible_mask] == DENSE_CLASSES.index(o.category)).all()
        things = np.isin(s.dense, [DENSE_CLASSES.index(c) for c in VOC_INDEX])
        np.testing.assert_array_equal(things, s.instances > 0)
        assert s.dense.min() >= 1 and s.dense.max() < len(DENSE_CLASSES)


def test_parts_only_on_objects(scenes):
    for s in scenes:
        assert not ((s.parts > 0) & (s.instances == 0)).any()
        assert s.parts.min() >= 0 and s.parts.max() <= 4


def test_boxes_are_tight(scenes):
    for s in scenes:
        for o in s.objects:
            assert o.box == _box(o.visible_mask)
            assert o.amodal_box == _box(o.amodal_mask)
        assert s.boxes.shape == (len(s.objects), 4)
        np.testing.assert_array_equal(s.box_labels, [o.voc_index for o in s.objects])


def test_depth_positive_and_sky_far(scenes):
    sky = DENSE_CLASSES.index("sky")
    for s in scenes:
        assert (s.depth > 0).all() and (s.depth <= pasture.SKY_DEPTH).all()
        assert (s.depth[s.dense == sky] == pasture.SKY_DEPTH).all()
        for o in s.objects:
            np.testing.assert_allclose(s.depth[o.visible_mask], o.depth, rtol=1e-6)


def test_crowds_are_sheep(scenes):
    crowds = [o for s in scenes for o in s.objects if o.iscrowd]
    assert crowds, "expected at least one crowd region in 40 scenes"
    assert {o.category for o in crowds} == {"sheep"}


def test_void_border_known_answer():
    label = np.zeros((6, 7), np.int64)
    label[1:5, 1:5] = 7          # a 4 x 4 object: its outer ring and the pixels around it go void
    V = VOC_VOID
    expected = np.array([
        [0, V, V, V, V, 0, 0],
        [V, V, V, V, V, V, 0],
        [V, V, 7, 7, V, V, 0],
        [V, V, 7, 7, V, V, 0],
        [V, V, V, V, V, V, 0],
        [0, V, V, V, V, 0, 0],
    ])
    np.testing.assert_array_equal(pasture.void_border(label, 2), expected)
    assert label.max() == 7  # input untouched


def test_void_border_rejects_bad_input():
    with pytest.raises(TypeError, match="label must be an integer"):
        pasture.void_border(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        pasture.void_border(np.zeros((4, 4), np.int64), 0)


@pytest.mark.parametrize("seed, error, match", [
    (1.5, TypeError, "seed must be an int"),
    (True, TypeError, "seed must be an int"),
    (-1, ValueError, "seed must be >= 0"),
])
def test_rejects_bad_seed(seed, error, match):
    with pytest.raises(error, match=match):
        pasture.render_scene(seed)


@pytest.mark.parametrize("size, error, match", [
    (16, ValueError, "size must be in"),
    (4096, ValueError, "size must be in"),
    (128.0, TypeError, "size must be an int"),
])
def test_rejects_bad_size(size, error, match):
    with pytest.raises(error, match=match):
        pasture.render_scene(0, size=size)


def test_scenes_rejects_negative_count():
    with pytest.raises(ValueError, match="n must be >= 0"):
        pasture.scenes(-1)


# ----------------------------------------------------------------------------- issue 13 findings
def test_void_border_on_int8_labels_does_not_wrap():
    label = np.zeros((6, 6), np.int8)
    label[2:4, 2:4] = 3
    out = pasture.void_border(label, 2)
    assert out.dtype == np.int16 and out.max() == 255 and out.min() == 0
    np.testing.assert_array_equal(out, pasture.void_border(label.astype(np.int64), 2))


def test_void_border_width_rounding_is_documented_and_true():
    assert "2 * max(1, width // 2)" in pasture.void_border.__doc__
    label = np.zeros((1, 40), np.int64)
    label[:, 20:] = 1
    for width in range(1, 9):
        band = int((pasture.void_border(label, width) == 255).sum())
        assert band == 2 * max(1, width // 2), width


def test_void_border_rejects_negative_labels():
    # found by tests/test_properties.py (issue 13): a -1 passed through as a "class"
    with pytest.raises(ValueError, match=r"^label must hold class ids >= 0, got minimum -1"):
        pasture.void_border(np.array([[-1, 0], [1, 1]], np.int8))
    assert pasture.void_border(np.zeros((0, 0), np.int8)).shape == (0, 0)


def test_void_border_wider_than_the_image_returns_at_once():
    # found by a longer run of tests/test_properties.py (issue 13): width=10**12 looped for hours
    label = np.zeros((6, 9), np.uint8)
    label[0, 0] = 1                          # corner object: the far corner is 5 + 8 steps away
    full = pasture.void_border(label, width=2 * (5 + 8))
    assert (pasture.void_border(label, width=2 * (5 + 8) - 2) != VOC_VOID).sum() == 1
    assert (full == VOC_VOID).all()
    assert np.array_equal(pasture.void_border(label, width=10**12), full)
    assert np.array_equal(pasture.void_border(np.zeros((3, 3), np.uint8), width=10**12),
                          np.zeros((3, 3), np.uint8))       # no outline: nothing to grow
