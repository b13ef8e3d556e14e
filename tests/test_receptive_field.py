"""course_lib.models.receptive_field: hand-computed tables (VGG-16, SmallVGG, the patch
classifier), an empirical check by input gradients, output sizes against torch, bad input."""

import pytest
import torch
import torchvision
from torch import nn

from course_lib.models import (
    PatchClassifier,
    ReceptiveField,
    SmallVGG,
    fcn8s,
    fcn32s,
    receptive_field_box,
    receptive_field_table,
    receptive_fields,
    to_fully_convolutional,
)

# VGG-16's conv and pool layers (Simonyan & Zisserman 2015), worked out by hand with
# r += (k - 1) j, start += ((k - 1) / 2 - p) j, j *= s: every 3x3 conv (padding 1) adds 2 j
# to the RF and keeps the start; every 2x2 pool adds j and moves the start by j / 2.
VGG16 = [  # name, RF, jump, start, output side at 224 px
    ("conv1_1", 3, 1, 0.0, 224), ("conv1_2", 5, 1, 0.0, 224), ("pool1", 6, 2, 0.5, 112),
    ("conv2_1", 10, 2, 0.5, 112), ("conv2_2", 14, 2, 0.5, 112), ("pool2", 16, 4, 1.5, 56),
    ("conv3_1", 24, 4, 1.5, 56), ("conv3_2", 32, 4, 1.5, 56), ("conv3_3", 40, 4, 1.5, 56),
    ("pool3", 44, 8, 3.5, 28),
    ("conv4_1", 60, 8, 3.5, 28), ("conv4_2", 76, 8, 3.5, 28), ("conv4_3", 92, 8, 3.5, 28),
    ("pool4", 100, 16, 7.5, 14),
    ("conv5_1", 132, 16, 7.5, 14), ("conv5_2", 164, 16, 7.5, 14), ("conv5_3", 196, 16, 7.5, 14),
    ("pool5", 212, 32, 15.5, 7),
]


def test_vgg16_table_by_hand():
    rows = receptive_fields(torchvision.models.vgg16().features, input_size=224)
    assert rows[0] == ReceptiveField("input", "input", 1, 1, 0, 1, (224, 224), 1, 1, 0.0,
                                     (224, 224))
    got = [(r.rf, r.jump, r.start, r.size) for r in rows[1:]]
    assert got == [(rf, j, c, (n, n)) for _, rf, j, c, n in VGG16]
    assert [r.kind for r in rows[1:]] == ["maxpool" if n.startswith("pool") else "conv"
                                          for n, *_ in VGG16]


def test_vgg16_fc6_as_7x7_conv():
    """FCN-VGG16's fc6 is a 7x7 convolution on pool5: RF 212 + 6 * 32 = 404."""
    layers = list(torchvision.models.vgg16().features) + [nn.Conv2d(512, 4096, 7)]
    last = receptive_fields(layers, 224)[-1]
    assert (last.rf, last.jump, last.start, last.size) == (404, 32, 111.5, (1, 1))


def test_smallvgg_and_fcn32s_table_by_hand():
    # SmallVGG: stages of 1, 1, 2, 2, 2 convs (3x3, padding 1), 2x2 pools; fc6 3x3, fc7 1x1
    rows = receptive_fields(fcn32s(), 128)
    pools = [(r.rf, r.jump, r.start, r.size) for r in rows if r.kind == "maxpool"]
    assert pools == [(4, 2, 0.5, (64, 64)), (10, 4, 1.5, (32, 32)), (30, 8, 3.5, (16, 16)),
                     (70, 16, 7.5, (8, 8)), (150, 32, 15.5, (4, 4))]
    assert [r.name for r in rows[-3:]] == ["head.0", "head.4", "score"]
    assert [(r.rf, r.kernel_size) for r in rows[-3:]] == [(214, 3), (214, 1), (214, 1)]
    vgg = receptive_fields(SmallVGG(), 128)[-1]
    assert (vgg.name, vgg.rf, vgg.jump, vgg.start) == ("stages.4.2", 150, 32, 15.5)


def test_patch_classifier_table_by_hand():
    rows = receptive_fields(to_fully_convolutional(PatchClassifier()), 32)
    table = {r.name: (r.rf, r.jump, r.start, r.size[0]) for r in rows}
    assert table == {"input": (1, 1, 0.0, 32), "conv1_1": (3, 1, 1.0, 30),
                     "conv1_2": (5, 1, 2.0, 28), "pool1": (6, 2, 2.5, 14),
                     "conv2_1": (10, 2, 4.5, 12), "pool2": (12, 4, 5.5, 6),
                     "conv3_1": (20, 4, 9.5, 4), "pool3": (24, 8, 11.5, 2),
                     "fc6": (32, 8, 15.5, 1), "fc7": (32, 8, 15.5, 1)}
    # the output unit sees exactly the 32x32 patch
    assert receptive_field_box(rows[-1], 0, 0) == (0, 0, 32, 32)


def test_dilation_stride_and_same_padding():
    layers = [nn.Conv2d(1, 1, 3, dilation=2, padding=2), nn.Conv2d(1, 1, 3, stride=2),
              nn.AvgPool2d(3, stride=1, padding=1), nn.Conv2d(1, 1, 4, padding="same")]
    rows = receptive_fields(layers, 20)
    # effective kernel 5: r 5, start 2 - 2 = 0; stride-2 conv: r 7, start 1, jump 2;
    # avg 3x3/1 pad 1: r 11, start 1; 'same' k=4 pads 1 before, 2 after: r 11 + 3*2 = 17,
    # start 1 + (1.5 - 1) * 2 = 2
    assert [(r.rf, r.jump, r.start, r.size) for r in rows[1:]] == [
        (5, 1, 0.0, (20, 20)), (7, 2, 1.0, (9, 9)), (11, 2, 1.0, (9, 9)), (17, 2, 2.0, (9, 9))]


@pytest.mark.parametrize("layer", [
    nn.Conv2d(2, 2, 3), nn.Conv2d(2, 2, 3, stride=2, padding=1), nn.Conv2d(2, 2, 5, dilation=2),
    nn.Conv2d(2, 2, 4, padding="same"), nn.Conv2d(2, 2, 3, padding="valid"),
    nn.MaxPool2d(2), nn.MaxPool2d(3, 2, 1), nn.MaxPool2d(3, 2, ceil_mode=True),
    nn.MaxPool2d(2, 2, dilation=2), nn.AvgPool2d(3, 2, 1, ceil_mode=True), nn.AvgPool2d(2),
])
@pytest.mark.parametrize("size", [(7, 7), (16, 11), (33, 20)])
@pytest.mark.filterwarnings("ignore:Using padding='same'")
def test_output_sizes_match_torch(layer, size):
    try:
        expected = tuple(layer(torch.zeros(1, 2, *size)).shape[-2:])
    except RuntimeError:                      # torch: input smaller than the kernel
        with pytest.raises(ValueError, match="is too small"):
            receptive_fields([layer], size)
        return
    assert receptive_fields([layer], size)[-1].size == expected


def _positive_net(seed=0, dilation=1):
    """Convolutions with all-positive weights and average pools (whose gradient reaches every
    pixel of the window, unlike a max-pool's): nothing cancels, so the input gradient of a
    unit is nonzero exactly on its receptive field."""
    g = torch.Generator().manual_seed(seed)
    layers = [nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
              nn.Conv2d(2, 2, 3, dilation=dilation, padding=1),
              nn.AvgPool2d(3, stride=2, padding=1),
              nn.Conv2d(2, 2, 5, stride=1, padding=0), nn.Conv2d(2, 1, 2)]
    for m in layers:
        if isinstance(m, nn.Conv2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.1)
                m.bias.fill_(0.1)
    return nn.Sequential(*layers).double()


@pytest.mark.parametrize("layer_index", [1, 2, 3, 4, 5, 6])
def test_box_equals_gradient_support(layer_index):
    """Every unit, the corners included (whose boxes reach into the padding and are clipped)."""
    net = _positive_net()
    H, W = 60, 57
    rows = receptive_fields(net, (H, W))
    spatial = [i for i, m in enumerate(net) if not isinstance(m, nn.ReLU)]
    info = rows[layer_index]
    sub = net[:spatial[layer_index - 1] + 1]
    h, w = info.size
    for i, j in [(0, 0), (h // 2, w // 3), (h - 1, w - 1)]:
        x = (torch.rand(1, 1, H, W, dtype=torch.float64) + 0.5).requires_grad_(True)
        sub(x)[0, :, i, j].sum().backward()
        ys, xs = torch.nonzero(x.grad[0, 0], as_tuple=True)
        support = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        assert support == receptive_field_box(info, i, j, clip=True), (info.name, i, j)
        # inside the clipped box every pixel matters (nothing cancels): the box is exact
        assert int((x.grad[0, 0] != 0).sum()) == (support[2] - support[0]) * (support[3] - support[1])


@pytest.mark.parametrize("layer_index", [3, 4, 5, 6])
def test_dilated_box_bounds_gradient_support(layer_index):
    """With a dilated convolution the receptive field has holes (pixels the kernel skips);
    for units inside the image its bounding box is still the box."""
    net = _positive_net(dilation=2)
    H = W = 80
    rows = receptive_fields(net, (H, W))
    spatial = [i for i, m in enumerate(net) if not isinstance(m, nn.ReLU)]
    info = rows[layer_index]
    sub = net[:spatial[layer_index - 1] + 1]
    h, w = info.size
    i, j = h // 2, w // 2
    x0, y0, x1, y1 = receptive_field_box(info, i, j)
    assert 0 <= x0 and 0 <= y0 and x1 <= W and y1 <= H
    x = (torch.rand(1, 1, H, W, dtype=torch.float64) + 0.5).requires_grad_(True)
    sub(x)[0, :, i, j].sum().backward()
    ys, xs = torch.nonzero(x.grad[0, 0], as_tuple=True)
    assert (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) == (x0, y0, x1, y1)


def test_box_reaches_into_padding_unclipped():
    rows = receptive_fields(SmallVGG(), 128)
    pool5 = rows[-1]
    assert receptive_field_box(pool5, 0, 0) == (-59, -59, 91, 91)
    assert receptive_field_box(pool5, 0, 0, clip=True) == (0, 0, 91, 91)
    assert receptive_field_box(pool5, 3, 3, clip=True) == (37, 37, 128, 128)


def test_accepts_names_and_containers_without_size():
    block = nn.Sequential(nn.Conv2d(1, 1, 3), nn.ReLU(), nn.MaxPool2d(2))
    rows = receptive_fields([("stem", block), ("head", nn.Conv2d(1, 1, 1))])
    assert [r.name for r in rows] == ["input", "stem.0", "stem.2", "head"]
    assert all(r.size is None and r.input_size is None for r in rows)
    assert "stem.2" in receptive_field_table(rows)


def test_table_lists_every_row():
    rows = receptive_fields(fcn32s(), 128)
    text = receptive_field_table(rows)
    assert len(text.splitlines()) == len(rows) + 1
    assert "backbone.stages.4.2" in text and "150" in text


# --------------------------------------------------------------------------- bad input
def test_rejects_non_module():
    with pytest.raises(TypeError, match=r"module_or_layers must be an nn.Module.*got int"):
        receptive_fields(3)


def test_rejects_zero_dim_tensor():
    with pytest.raises(TypeError, match=r"module_or_layers must be an nn.Module.*got Tensor"):
        receptive_fields(torch.tensor(3.0))


def test_rejects_string():
    with pytest.raises(TypeError, match="module_or_layers must be an nn.Module"):
        receptive_fields("conv")


def test_rejects_bad_item():
    with pytest.raises(TypeError, match=r"module_or_layers\[1\] must be an nn.Module.*got tuple"):
        receptive_fields([nn.Conv2d(1, 1, 3), (3, 1, 1)])


def test_rejects_flatten_with_hint():
    with pytest.raises(TypeError, match=r"'flatten' of type Flatten.*to_fully_convolutional"):
        receptive_fields(PatchClassifier())


def test_rejects_linear_with_hint():
    with pytest.raises(TypeError, match=r"'1' of type Linear.*to_fully_convolutional"):
        receptive_fields([nn.Conv2d(1, 1, 3), nn.Linear(4, 2)])


def test_rejects_fcn8s_branches():
    with pytest.raises(TypeError, match=r"ConvTranspose2d.*do not form a chain"):
        receptive_fields(fcn8s())


def test_rejects_unknown_layer():
    with pytest.raises(TypeError, match=r"AdaptiveAvgPool2d.*expected a chain of Conv2d"):
        receptive_fields([nn.Conv2d(1, 1, 3), nn.AdaptiveAvgPool2d(1)])


def test_rejects_non_square_kernel():
    with pytest.raises(ValueError, match=r"kernel_size \(1, 3\).*square layers only"):
        receptive_fields([nn.Conv2d(1, 1, (1, 3))])


def test_rejects_non_square_stride():
    with pytest.raises(ValueError, match=r"stride \(1, 2\)"):
        receptive_fields([nn.MaxPool2d(2, (1, 2))])


@pytest.mark.parametrize("size, error, match", [
    (0, ValueError, r"input_size must be an integer >= 1, got 0"),
    (2.5, TypeError, r"input_size must be an integer, got float"),
    ((3, 4, 5), ValueError, r"input_size must be an int or a pair \(H, W\), got 3 values"),
    ("32", TypeError, r"input_size must be an integer, got str"),
])
def test_rejects_bad_input_size(size, error, match):
    with pytest.raises(error, match=match):
        receptive_fields([nn.Conv2d(1, 1, 3)], size)


def test_rejects_too_small_input():
    with pytest.raises(ValueError, match=r"input_size \(16, 16\) is too small: layer 'conv3_1'.*2x2 input"):
        receptive_fields(to_fully_convolutional(PatchClassifier()), 16)


def test_box_rejects_bad_info():
    with pytest.raises(TypeError, match=r"info must be a ReceptiveField.*got dict"):
        receptive_field_box({"rf": 3}, 0, 0)


def test_box_rejects_unit_outside_layer():
    pool = receptive_fields([nn.MaxPool2d(2)], 8)[-1]
    with pytest.raises(ValueError, match=r"unit \(i, j\) = \(4, 0\) is outside layer '0'.*4x4"):
        receptive_field_box(pool, 4, 0)


@pytest.mark.parametrize("i, j, error, match", [
    (-1, 0, ValueError, r"i must be an integer >= 0, got -1"),
    (0, 1.0, TypeError, r"j must be an integer, got float"),
])
def test_box_rejects_bad_index(i, j, error, match):
    pool = receptive_fields([nn.MaxPool2d(2)])[-1]
    with pytest.raises(error, match=match):
        receptive_field_box(pool, i, j)


def test_box_clip_needs_input_size():
    pool = receptive_fields([nn.MaxPool2d(2)])[-1]
    with pytest.raises(ValueError, match=r"clip=True needs the input size"):
        receptive_field_box(pool, 0, 0, clip=True)


def test_box_rejects_non_bool_clip():
    pool = receptive_fields([nn.MaxPool2d(2)], 8)[-1]
    with pytest.raises(TypeError, match=r"clip must be True or False, got int"):
        receptive_field_box(pool, 0, 0, clip=1)


def test_table_rejects_other_rows():
    with pytest.raises(TypeError, match=r"rows must be ReceptiveField rows.*got an item dict"):
        receptive_field_table([{"rf": 3}])


def test_table_rejects_non_sequence():
    with pytest.raises(TypeError, match=r"rows must be a sequence of ReceptiveField rows.*got NoneType"):
        receptive_field_table(None)
