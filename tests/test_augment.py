"""course_lib.data.augment: one draw moves image and label; labels stay names; void stays void."""

import numpy as np
import pytest
import torch

from course_lib.data.augment import JointAugment, scale_crop_flip


def _pair(size=48):
    g = torch.Generator().manual_seed(0)
    image = torch.rand(3, size, size, generator=g)
    label = torch.where(image[0] > 0.5, 10, 15)
    label[:2] = 255                                    # some void
    return image, label


def test_crop_and_flip_move_image_and_label_together():
    image, label = _pair()
    im, lab = scale_crop_flip(image, label, scale=1.0, top=5, left=7, flip=True, size=(32, 30))
    expected = label[5:37, 7:37].flip(-1)
    assert torch.equal(lab, expected)
    torch.testing.assert_close(im, image[:, 5:37, 7:37].flip(-1))


def test_resizing_keeps_label_values_and_pads_with_void():
    image, label = _pair()
    im, lab = scale_crop_flip(image, label, scale=0.5, top=-4, left=-6, flip=False, size=(40, 40))
    assert set(lab.unique().tolist()) <= {10, 15, 255}
    assert (lab[:4] == 255).all() and (lab[:, :6] == 255).all()       # the frame is void
    assert (im[:, :4] == 0).all()                                     # and black in the image
    assert (lab[4:28, 6:30] != 255).any()


def test_draws_depend_on_seed_epoch_and_index_only():
    image, label = _pair()
    a, b = JointAugment(32, seed=3), JointAugment(32, seed=3)
    out1 = a(image, label, index=5)
    out2 = b(image, label, index=5)
    assert all(torch.equal(x, y) for x, y in zip(out1, out2))
    b.set_epoch(1)
    out3 = b(image, label, index=5)
    assert not torch.equal(out1[1], out3[1]) or not torch.equal(out1[0], out3[0])
    assert out3[0].shape == (3, 32, 32) and out3[1].dtype == label.dtype


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(scale=0.0), ValueError, "scale must be > 0"),
])
def test_scale_crop_flip_rejects_bad_scale(kwargs, error, match):
    image, label = _pair()
    with pytest.raises(error, match=match):
        scale_crop_flip(image, label, top=0, left=0, flip=False, size=(8, 8), **kwargs)


def test_rejects_mismatched_label_and_integer_image():
    image, label = _pair()
    with pytest.raises(ValueError, match=r"label must be a tensor of shape \(48, 48\)"):
        scale_crop_flip(image, label[:10], scale=1, top=0, left=0, flip=False, size=(8, 8))
    with pytest.raises(ValueError, match="image must be a float"):
        scale_crop_flip(image.to(torch.uint8), label, scale=1, top=0, left=0, flip=False,
                        size=(8, 8))
    with pytest.raises(ValueError, match="scale must be a range"):
        JointAugment(32, scale=(1.5, 0.5))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(size=32.7), TypeError, "size must be an integer"),      # was truncated to 32
    (dict(size=(32, True)), TypeError, "size must be an integer"),
    (dict(size=(32, 0)), ValueError, "size must be an integer >= 1"),
    (dict(size=(8, 8, 8)), ValueError, r"size must be an int or a pair"),
    (dict(scale=0.5), TypeError, "scale must be a pair"),
    (dict(scale=(0.0, 1.0)), ValueError, "scale must be"),
    (dict(scale=(0.5, float("nan"))), ValueError, "scale must be"),
    (dict(flip="no"), TypeError, "flip must be True or False"),     # bool("no") is True
    (dict(seed=1.5), TypeError, "seed must be an integer"),
    (dict(seed=-1), ValueError, "seed must be an integer >= 0"),
    (dict(ignore_index=255.0), TypeError, "ignore_index must be an integer"),
])
def test_joint_augment_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        JointAugment(**{"size": 32, **kwargs})


def test_joint_augment_accepts_numpy_integers():
    aug = JointAugment(np.int64(16), seed=np.int32(2), ignore_index=np.int64(255))
    assert aug.size == (16, 16) and type(aug.size[0]) is int and aug.seed == 2
    image, label = _pair()
    img, lab = aug(image, label, index=1)
    assert img.shape == (3, 16, 16) and lab.shape == (16, 16)
