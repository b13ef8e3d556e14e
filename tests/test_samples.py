"""Tests of course_lib.data.samples: shapes, dtypes, value ranges, consistency of annotations."""

import numpy as np
import pytest

from course_lib.data import samples
from course_lib.data.classes import VOC_CLASSES


def _check_common(s):
    h, w = s.image.shape[:2]
    assert s.image.dtype == np.uint8 and s.image.shape == (h, w, 3)
    if s.label is not None:
        assert s.label.dtype == np.int64 and s.label.shape == (h, w)
        values = np.unique(s.label)
        ok = (values < len(s.class_names)) | (values == 255)
        assert ok.all() and values.min() >= 0
    if s.masks is not None:
        k = len(s.masks)
        assert s.masks.dtype == bool and s.masks.shape == (k, h, w)
        assert s.instance_labels.shape == (k,) and s.instance_labels.dtype == np.int64
        assert s.boxes.shape == (k, 4) and s.boxes.dtype == np.float32
        assert s.instances.shape == (h, w) and s.instances.max() == k
        for i, m in enumerate(s.masks):
            ys, xs = np.nonzero(m)
            np.testing.assert_array_equal(s.boxes[i], [xs.min(), ys.min(), xs.max() + 1,
                                                       ys.max() + 1])
            # label agrees with the instance's class on its visible pixels
            assert (s.label[m] == s.instance_labels[i]).all()
    assert s.source and s.licence


@pytest.mark.parametrize("name", samples.SAMPLES)
def test_every_sample_is_well_formed(name):
    _check_common(samples.load(name))


def test_voc_photo_known_content():
    s = samples.voc_photo()
    assert s.image.shape == (375, 500, 3)
    assert s.class_names == VOC_CLASSES
    assert set(np.unique(s.label)) == {0, 5, 9, 11, 15}
    assert len(s.masks) == 19
    assert not (s.masks.sum(0) > 1).any()                # VOC instances do not overlap
    np.testing.assert_array_equal(s.label > 0, s.instances > 0)


def test_arc2017_amodal_and_depth():
    s = samples.arc2017()
    assert s.image.shape == (480, 640, 3) and s.depth.shape == (480, 640)
    assert s.depth.dtype == np.float32
    finite = s.depth[np.isfinite(s.depth)]
    assert 0.3 < finite.min() and np.median(finite) < 1.5      # metres, a bin at arm's length
    assert (s.masks <= s.amodal_masks).all()                    # visible is a subset of amodal
    assert s.occluded_masks.any()                                # some objects are partly hidden
    assert len(s.class_names) == 41 and s.class_names[0] == "_background_"
    assert s.camera.shape == (3, 3) and s.camera[2, 2] == 1


def test_horse_silhouette_label():
    s = samples.horse()
    assert set(np.unique(s.label)) == {0, 13}
    assert (s.image[s.label == 13] == 0).all() and (s.image[s.label == 0] == 255).all()


def test_stereo_motorcycle_disparity():
    s = samples.stereo_motorcycle()
    assert s.right.shape == s.image.shape == (500, 741, 3)
    assert s.disparity.dtype == np.float32 and s.disparity.shape == (500, 741)
    valid = np.isfinite(s.disparity)
    assert 0.9 < valid.mean() < 1.0 and s.disparity[valid].min() > 0
    assert not np.isinf(s.disparity).any()


def test_cached_arrays_are_read_only():
    s = samples.voc_photo()
    with pytest.raises(ValueError, match="read-only"):
        s.label[0, 0] = 1


def test_load_rejects_unknown_name():
    with pytest.raises(ValueError, match="name must be one of"):
        samples.load("lena")
    with pytest.raises(TypeError, match="name must be a str"):
        samples.load(3)
