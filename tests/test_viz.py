import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course_lib import viz  # noqa: E402

# Reference colours from the VOC devkit's palette (VOCdevkit/VOCcode/VOClabelcolormap.m).
VOC_REFERENCE = {0: (0, 0, 0), 1: (128, 0, 0), 10: (64, 128, 0), 12: (64, 0, 128),
                 13: (192, 0, 128), 15: (192, 128, 128), 17: (128, 64, 0), 20: (0, 64, 128)}


def test_voc_palette_matches_devkit():
    pal = viz.voc_palette()
    assert pal.shape == (256, 3) and pal.dtype == np.uint8
    for i, rgb in VOC_REFERENCE.items():
        assert tuple(pal[i]) == rgb, i
    assert len({tuple(c) for c in pal[:21]}) == 21


def test_voc_palette_matches_imgviz_label_colormap():
    imgviz = pytest.importorskip("imgviz")
    np.testing.assert_array_equal(viz.voc_palette()[:255], imgviz.label_colormap()[:255])


def test_colorize_and_overlay_shapes():
    label = np.array([[0, 10], [15, 255]])
    col = viz.colorize(label)
    assert col.shape == (2, 2, 3) and tuple(col[0, 1]) == (64, 128, 0)
    img = np.zeros((2, 2, 3), np.uint8)
    out = viz.overlay(img, label, alpha=1.0)
    np.testing.assert_allclose(out[0, 1], np.array([64, 128, 0]) / 255, atol=1e-6)
    np.testing.assert_allclose(out[0, 0], 0.0)  # background is not painted
    assert viz.colorize(torch.tensor(label)).shape == (2, 2, 3)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="2-D"):
        viz.colorize(np.zeros((2, 2, 2), int))
    with pytest.raises(TypeError, match="integers"):
        viz.colorize(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        viz.colorize(np.array([[0, 300]]))
    with pytest.raises(ValueError, match="does not match image"):
        viz.overlay(np.zeros((3, 3, 3)), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="alpha"):
        viz.overlay(np.zeros((2, 2, 3)), np.zeros((2, 2), int), alpha=2)
    with pytest.raises(ValueError, match="kinds"):
        viz.show_grid([np.zeros((2, 2), int)], kinds=["nope"])


def test_show_grid_legend_lists_present_classes():
    label = np.array([[0, 10], [13, 255]])
    fig, axes = viz.show_grid([np.zeros((2, 2, 3)), label, np.ones((2, 2), np.float32)],
                              ["image", "label", "depth"])
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    assert texts == ["background", "cow", "horse", "void"]
    plt.close(fig)


def test_plot_confusion_normalises_rows():
    fig, ax = plt.subplots()
    viz.plot_confusion(ax, np.array([[3, 1], [0, 4]]), ["a", "b"])
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    plt.close(fig)
