"""course_lib.data.rendered: rendered training scenes equal the committed VOC export, cached."""

import numpy as np
import pytest
import torch
from PIL import Image

from course_lib import config
from course_lib.data import rendered


def test_first_scenes_equal_the_committed_voc_export():
    images, labels = rendered.render_arrays(2)
    voc = config.data_dir() / "voc" / "VOCdevkit" / "VOC2012"
    for i in range(2):
        png = np.asarray(Image.open(voc / "SegmentationClass" / f"pasture_{i:06d}.png"))
        assert np.array_equal(labels[i].numpy(), png)
        jpg = np.asarray(Image.open(voc / "JPEGImages" / f"pasture_{i:06d}.jpg").convert("RGB"))
        assert np.array_equal(images[i].permute(1, 2, 0).numpy(), jpg)


def test_dataset_items_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    data = rendered.pasture_segmentation(3, size=64, progress=False)
    image, label = data[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32 and image.max() <= 1
    assert label.shape == (64, 64) and label.dtype == torch.int64
    assert len(list((tmp_path / "pasture").glob("*.pt"))) == 1

    def no_render(*args, **kwargs):
        raise AssertionError("rendered again instead of loading the cache")

    monkeypatch.setattr(rendered, "render_arrays", no_render)
    again = rendered.pasture_segmentation(3, size=64, progress=False)
    assert torch.equal(again.images, data.images) and torch.equal(again.labels, data.labels)


def test_a_damaged_cache_file_is_rendered_again(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    first = rendered.pasture_segmentation(2, size=64, progress=False)
    (path,) = (tmp_path / "pasture").glob("*.pt")
    path.write_bytes(b"garbage")
    second = rendered.pasture_segmentation(2, size=64, progress=False)
    assert torch.equal(first.images, second.images)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, 100000\], got 0"):
        rendered.render_arrays(0)
    with pytest.raises(TypeError, match="n must be an int"):
        rendered.pasture_segmentation(2.5)
    with pytest.raises(ValueError, match="images must be a uint8 tensor"):
        rendered.PastureSegmentation(torch.zeros(2, 3, 8, 8), torch.zeros(2, 8, 8))
    with pytest.raises(ValueError, match=r"labels must be a tensor of shape \(2, 8, 8\)"):
        rendered.PastureSegmentation(torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
                                     torch.zeros(2, 4, 4))
    data = rendered.PastureSegmentation(torch.zeros(2, 3, 8, 8, dtype=torch.uint8),
                                        torch.zeros(2, 8, 8, dtype=torch.uint8))
    with pytest.raises(IndexError, match="index 2 out of range for 2 images"):
        data[2]


# --------------------------------------------------------------------------- issue 13 findings
@pytest.mark.parametrize("kwargs, error, match", [
    ({"n": True}, TypeError, r"^n must be an integer, got bool"),
    ({"n": 2.0}, TypeError, r"^n must be an integer, got float"),
    ({"n": "2"}, TypeError, r"^n must be an integer, got str"),
    ({"n": 100_001}, ValueError, r"^n must be an integer in \[1, 100000\], got 100001"),
    ({"n": 1, "seed": False}, TypeError, r"^seed must be an integer, got bool"),
    ({"n": 1, "seed": 1.0}, TypeError, r"^seed must be an integer, got float"),
    ({"n": 1, "seed": -1}, ValueError, r"^seed must be an integer in \[0, 2147483648\], got -1"),
])
def test_render_arrays_bad_counts(kwargs, error, match):
    with pytest.raises(error, match=match):
        rendered.render_arrays(**kwargs)


def test_render_arrays_accepts_numpy_integers():
    images, labels = rendered.render_arrays(np.int64(1), seed=np.int32(3), size=64)
    ref, _ = rendered.render_arrays(1, seed=3, size=64)
    assert images.shape == (1, 3, 64, 64) and torch.equal(images, ref)
