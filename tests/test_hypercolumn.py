"""course_lib.models.hypercolumn: shapes, the grid of classifiers, classify-then-upsample,
sanity training, bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import overfit_one_scene

import course_lib as cl
from course_lib import models
from course_lib.models import (
    GridClassifier,
    HypercolumnNet,
    SmallVGG,
    combine_grid,
    grid_weights,
    hypercolumn_features,
    upsample_to,
)
from course_lib.models.hypercolumn import _upsample_nhwc

LAYERS = ("pool2", "pool3", "pool4", "pool5")


def _tiny_backbone():
    return SmallVGG((4, 4, 8, 8, 8), (1, 1, 1, 1, 1))


def _small(grid=3, hidden=None, **kwargs):
    return HypercolumnNet(5, grid=grid, hidden=hidden, backbone=_tiny_backbone(), **kwargs)


def _randomise_(net):
    """Different random weights in every grid classifier (they start equal)."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.5)
    return net


# --------------------------------------------------------------------------- shapes
@pytest.mark.parametrize("size", [(32, 32), (97, 131), (33, 65), (128, 96)])
@pytest.mark.parametrize("hidden", [None, 8])
def test_output_shape_for_any_input(size, hidden, device):
    net = _small(grid=3, hidden=hidden).to(device).eval()
    x = torch.rand(2, 3, *size, device=device)
    out = net(x)
    assert out.shape == (2, 5, *size)
    assert out.device.type == device.type
    assert net(x, coarse=True).shape == (2, 5, size[0] // 4, size[1] // 4)
    assert net.grid_scores(x).shape == (2, 9, 5, size[0] // 4, size[1] // 4)


@pytest.mark.parametrize("layers, stride", [(("pool3", "pool5"), 8), (("pool1", "pool4"), 2)])
def test_output_stride_is_the_finest_layer(layers, stride):
    net = HypercolumnNet(4, layers, grid=2, backbone=_tiny_backbone()).eval()
    assert net.output_stride == stride
    assert net(torch.rand(1, 3, 97, 131), coarse=True).shape == (1, 4, 97 // stride, 131 // stride)


def test_hypercolumn_features_shape_and_blocks():
    feats = _tiny_backbone().eval()(torch.rand(2, 3, 97, 131))
    hc = hypercolumn_features(feats, LAYERS, (97, 131))
    assert hc.shape == (2, 4 + 8 + 8 + 8, 97, 131)
    # channel block of pool3 = pool3 upsampled by 8, exactly as FCN's final upsampling
    torch.testing.assert_close(hc[:, 4:12], upsample_to(feats["pool3"], (97, 131), 8))
    at4 = hypercolumn_features(feats, ("pool2", "pool5"), (24, 32), output_stride=4)
    torch.testing.assert_close(at4[:, :4], feats["pool2"])


def test_registry_and_train_config():
    assert isinstance(models.build("hypercolumn", 7), HypercolumnNet)
    assert models.build("hypercolumn").name == "Hypercolumn-5x5"
    cfg = cl.train.TrainConfig("hypercolumn")
    assert isinstance(cfg.build_model(), HypercolumnNet)
    assert cl.train.quick_config("hypercolumn").model == "hypercolumn"
    assert cl.train.TrainConfig("hypercolumn", model_kwargs={"grid": 3}).build_model().grid == 3


# --------------------------------------------------------------------------- grid weights
@pytest.mark.parametrize("size, grid", [((25, 35), 5), ((7, 9), 3), ((4, 6), 1), ((97, 131), 5)])
def test_grid_weights_sum_to_one(size, grid, device):
    w = grid_weights(size, grid, device=device, dtype=torch.float64)
    assert w.shape == (grid * grid, *size) and w.device.type == device.type
    assert bool((w >= 0).all())
    torch.testing.assert_close(w.sum(0), torch.ones(size, dtype=torch.float64, device=device))


def test_grid_weights_are_one_at_cell_centres():
    # 25 x 35 cut into 5 x 5 cells of 5 x 7 pixels: the centres are pixels (5 i + 2, 7 j + 3)
    w = grid_weights((25, 35), 5, dtype=torch.float64)
    for gy in range(5):
        for gx in range(5):
            centre = w[:, 5 * gy + 2, 7 * gx + 3]
            expected = torch.zeros(25, dtype=torch.float64)
            expected[gy * 5 + gx] = 1
            torch.testing.assert_close(centre, expected)
    # half-way between two centres, two classifiers share the pixel equally
    wy = grid_weights((10, 10), 2, dtype=torch.float64)
    row = wy[:, 2, :].sum(-1) / 10                 # mean over columns at row 2
    torch.testing.assert_close(row[0] + row[1], torch.tensor(1.0, dtype=torch.float64))


@pytest.mark.parametrize("size, grid", [((25, 35), 5), ((13, 8), 3), ((97, 131), 5)])
def test_grid_weights_are_bilinear_upsampling_of_one_hot_maps(size, grid):
    one_hot = torch.eye(grid * grid, dtype=torch.float64).view(grid * grid, 1, grid, grid)
    ref = F.interpolate(one_hot, size=size, mode="bilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(grid_weights(size, grid, dtype=torch.float64), ref)


# --------------------------------------------------------------------------- linear algebra
def _explicit_linear(net, x):
    """The naive order: explicit hypercolumns at stride 4, then the grid of 1x1 classifiers."""
    feats = net.backbone(x)
    hc = hypercolumn_features(feats, net.layers, (x.shape[-2] // 4, x.shape[-1] // 4),
                              output_stride=4)                             # (N, 28, h, w)
    weight = torch.cat([net.score[name].weight for name in net.layers], dim=1)
    return F.conv2d(hc, weight, net.score[net.layers[0]].bias)             # (N, G*G*K, h, w)


@pytest.mark.parametrize("size", [(64, 64), (97, 131)])
def test_classify_then_upsample_equals_upsample_then_classify(size):
    torch.manual_seed(0)
    net = _randomise_(_small(grid=3)).double().eval()
    x = torch.rand(2, 3, *size, dtype=torch.float64)
    fast = net.hypercolumn_scores(x)                                        # classify first
    naive = _explicit_linear(net, x)                                        # upsample first
    torch.testing.assert_close(fast, naive, atol=1e-10, rtol=0)


def test_commutation_on_plain_maps():
    # any linear classifier W and any bilinear upsampling: W(up(f)) == up(W f), per layer
    g = torch.Generator().manual_seed(0)
    f = torch.randn(2, 96, 11, 13, generator=g, dtype=torch.float64)
    w = torch.randn(21, 96, 1, 1, generator=g, dtype=torch.float64)
    up_then = F.conv2d(upsample_to(f, (45, 53), 4), w)
    then_up = upsample_to(F.conv2d(f, w), (45, 53), 4)
    torch.testing.assert_close(up_then, then_up, atol=1e-10, rtol=0)


@pytest.mark.parametrize("shape, size, factor", [((2, 3, 3, 4), (24, 33), 8),
                                                 ((1, 12, 12, 5), (25, 10), 2),
                                                 ((2, 4, 6, 6), (6, 6), 1),
                                                 ((1, 2, 1, 2), (33, 65), 32)])
def test_matrix_upsampling_equals_upsample_to(shape, size, factor, device):
    N, C, h, w = shape
    x = torch.randn(shape, dtype=torch.float64, device=device)
    out = _upsample_nhwc(x.permute(0, 2, 3, 1), size, factor).permute(0, 3, 1, 2)
    torch.testing.assert_close(out, upsample_to(x, size, factor), atol=1e-12, rtol=0)


def test_grid_of_one_is_a_single_classifier():
    """grid = 1: one linear classifier on the concatenated hypercolumn, everywhere."""
    torch.manual_seed(0)
    net = _randomise_(_small(grid=1)).double().eval()
    x = torch.rand(2, 3, 97, 131, dtype=torch.float64)
    assert torch.all(grid_weights((24, 32), 1) == 1)
    torch.testing.assert_close(net(x, coarse=True), _explicit_linear(net, x), atol=1e-10, rtol=0)


def test_grid_of_one_with_hidden_layer_is_a_single_mlp():
    torch.manual_seed(0)
    net = _randomise_(_small(grid=1, hidden=6)).double().eval()
    x = torch.rand(1, 3, 64, 96, dtype=torch.float64)
    feats = net.backbone(x)
    hc = hypercolumn_features(feats, net.layers, (16, 24), output_stride=4)
    weight = torch.cat([net.score[name].weight for name in net.layers], dim=1)
    z = net.hidden_act(F.conv2d(hc, weight, net.score["pool2"].bias))
    ref = F.conv2d(z, net.classifier.weight[0, :, :, None, None], net.classifier.bias[0])
    torch.testing.assert_close(net(x, coarse=True), ref, atol=1e-10, rtol=0)


@pytest.mark.parametrize("hidden", [None, 6])
def test_equal_grid_classifiers_equal_one_classifier(hidden):
    """At initialisation every grid classifier is the same, so a 5 x 5 grid computes what
    a single classifier (grid = 1) with those weights computes."""
    torch.manual_seed(0)
    net5 = _small(grid=5, hidden=hidden).double().eval()
    net1 = _small(grid=1, hidden=hidden).double().eval()
    state = net5.state_dict()
    K = 5
    if hidden is None:
        for name in net5.layers:
            state[f"score.{name}.weight"] = state[f"score.{name}.weight"][:K]
        state["score.pool2.bias"] = state["score.pool2.bias"][:K]
    else:
        state["classifier.weight"] = state["classifier.weight"][:1]
        state["classifier.bias"] = state["classifier.bias"][:1]
    net1.load_state_dict(state)
    x = torch.rand(2, 3, 64, 80, dtype=torch.float64)
    torch.testing.assert_close(net5(x), net1(x), atol=1e-10, rtol=0)


@pytest.mark.parametrize("hidden", [None, 6])
def test_forward_interpolates_the_grid_classifiers_outputs(hidden, device):
    torch.manual_seed(0)
    net = _randomise_(_small(grid=4, hidden=hidden)).double().to(device).eval()
    x = torch.rand(2, 3, 97, 131, dtype=torch.float64, device=device)
    scores = net.grid_scores(x)                                              # (2, 16, 5, h, w)
    w = grid_weights(scores.shape[-2:], 4, dtype=torch.float64, device=device)
    loop = sum(w[g] * scores[:, g] for g in range(16))                       # explicit sum
    torch.testing.assert_close(net(x, coarse=True), loop, atol=1e-10, rtol=0)
    torch.testing.assert_close(combine_grid(scores, w), loop, atol=1e-12, rtol=0)


def test_grid_classifier_interpolates_weights_as_outputs():
    g = torch.Generator().manual_seed(0)
    head = GridClassifier(6, 4, 3).double()
    with torch.no_grad():
        head.weight.normal_(generator=g)
        head.bias.normal_(generator=g)
    z = torch.randn(2, 6, 11, 7, generator=g, dtype=torch.float64)
    ref = combine_grid(head.scores(z), grid_weights((11, 7), 3, dtype=torch.float64))
    torch.testing.assert_close(head(z), ref, atol=1e-12, rtol=0)


def test_gradients_flow_through_the_grid_and_the_upsampling():
    head = GridClassifier(3, 2, 2).double()
    z = torch.randn(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: head(t), (z,))
    x = torch.randn(1, 3, 4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: _upsample_nhwc(t, (9, 5), 2), (x,))


def test_channels_last_input_gives_the_same_logits():
    torch.manual_seed(0)
    net = _small(grid=3, hidden=8).eval()
    x = torch.rand(2, 3, 64, 96)
    ref = net(x)
    out = net.to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- sanity training
@pytest.mark.parametrize("hidden", [None, 32])
def test_overfits_one_image(hidden):
    """Sanity: 60 steps on one 64 px Pasture scene drive the loss down and the pixel
    accuracy up."""
    torch.manual_seed(0)
    net = HypercolumnNet(21, grid=5, hidden=hidden,
                         backbone=SmallVGG((8, 16, 16, 32, 32), (1, 1, 1, 1, 1)))
    losses, acc, background = overfit_one_scene(net, 64)
    assert losses[-1] < 0.1 * losses[0], losses[::10]
    assert acc > max(0.9, background), f"reached only {acc:.3f} on its training image"


# --------------------------------------------------------------------------- bad input
def test_rejects_non_4d_input():
    with pytest.raises(ValueError, match=r"x must be a \(N, 3, H, W\) tensor, got shape \(3, 64, 64\)"):
        _small()(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match="x must be a torch.Tensor"):
        _small()([[0.0]])


def test_rejects_non_4d_feature_maps():
    feats = {"pool2": torch.rand(8, 16, 16), "pool3": torch.rand(1, 8, 8, 8)}
    with pytest.raises(ValueError, match=r"features\['pool2'\] must be a 4-D .* got shape \(8, 16, 16\)"):
        hypercolumn_features(feats, ("pool2", "pool3"), (64, 64))


def test_rejects_feature_maps_that_cannot_be_fused():
    a = _tiny_backbone()(torch.rand(1, 3, 64, 64))
    b = _tiny_backbone()(torch.rand(1, 3, 128, 128))
    feats = {"pool2": a["pool2"], "pool5": b["pool5"]}                    # two image sizes
    with pytest.raises(ValueError, match=r"features\['pool5'\] of size 4x4 \(stride 32\) cannot "
                                         r"be fused into a 64x64 output"):
        hypercolumn_features(feats, ("pool2", "pool5"), (64, 64))
    feats = {"pool2": a["pool2"], "pool3": torch.rand(2, 8, 8, 8)}          # two batch sizes
    with pytest.raises(ValueError, match=r"features\['pool3'\] has batch size 2"):
        hypercolumn_features(feats, ("pool2", "pool3"), (64, 64))


def test_rejects_grid_larger_than_the_feature_map():
    with pytest.raises(ValueError, match=r"grid \(9\) is larger than the 8x8 score map"):
        _small(grid=9)(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match=r"grid \(5\) is larger than the 4x6 output"):
        grid_weights((4, 6), 5)


def test_rejects_bad_grid_values():
    with pytest.raises(TypeError, match="grid must be an integer"):
        _small(grid=2.0)
    with pytest.raises(ValueError, match="grid must be an integer >= 1, got 0"):
        grid_weights((8, 8), 0)


def test_rejects_bad_layers_and_strides():
    with pytest.raises(ValueError, match="layers must be backbone outputs"):
        HypercolumnNet(21, ("pool2", "fc7"))
    with pytest.raises(TypeError, match="layers must be a sequence of layer names"):
        HypercolumnNet(21, "pool2")
    with pytest.raises(ValueError, match="output_stride \\(8\\) must divide"):
        HypercolumnNet(21, ("pool2", "pool3"), output_stride=8)
    feats = {"pool2": torch.rand(1, 4, 16, 16)}
    with pytest.raises(ValueError, match="which features does not hold"):
        hypercolumn_features(feats, ("pool3",), (64, 64))
    with pytest.raises(TypeError, match="features must be a dict"):
        hypercolumn_features([feats["pool2"]], ("pool2",), (64, 64))
    with pytest.raises(TypeError, match=r"features\['pool2'\] must be floating point"):
        hypercolumn_features({"pool2": torch.zeros(1, 4, 16, 16, dtype=torch.long)}, ("pool2",),
                             (64, 64))


def test_rejects_bad_size():
    with pytest.raises(TypeError, match="size must be a pair of ints"):
        grid_weights(8, 2)
    with pytest.raises(ValueError, match="size must be positive"):
        hypercolumn_features({"pool2": torch.rand(1, 4, 16, 16)}, ("pool2",), (0, 64))


def test_combine_grid_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"scores must be a 5-D \(N, G, K, H, W\) tensor"):
        combine_grid(torch.rand(1, 4, 3, 3), grid_weights((3, 3), 2))
    with pytest.raises(ValueError, match="weights must have shape"):
        combine_grid(torch.rand(1, 4, 2, 3, 3), grid_weights((3, 3), 3))


def test_rejects_bad_backbone():
    with pytest.raises(TypeError, match="backbone must be 'small', 'vgg16', a SmallVGG or a module"):
        HypercolumnNet(21, backbone=torch.nn.Conv2d(3, 3, 1))
    with pytest.raises(ValueError, match="pretrained weights exist only for backbone='vgg16'"):
        HypercolumnNet(21, backbone="small", pretrained=True)


def test_accepts_any_backbone_with_strides_and_out_channels():
    net = HypercolumnNet(3, ("pool3", "pool4"), grid=2, backbone="vgg16").eval()
    assert net.output_stride == 8
    with torch.no_grad():
        assert net(torch.rand(1, 3, 64, 72)).shape == (1, 3, 64, 72)


# --------------------------------------------------------------------------- issue 13 findings
@pytest.mark.parametrize("dropout, error, match", [
    (True, TypeError, r"^dropout must be a real number, got bool"),
    ("0.1", TypeError, r"^dropout must be a real number, got str"),
    (1.0, ValueError, r"^dropout must be >= 0 and < 1, got 1"),
    (-0.5, ValueError, r"^dropout must be >= 0 and < 1, got -0.5"),
])
def test_rejects_bad_dropout(dropout, error, match):
    with pytest.raises(error, match=match):
        _small(dropout=dropout)


def test_accepts_a_numpy_dropout():
    assert _small(dropout=np.float32(0.25)).dropout.p == 0.25


def test_layers_that_are_not_names_are_a_type_error():
    # found by tests/test_properties.py (issue 13): a 0-d tensor failed in iteration, an
    # array in set() ("unhashable type")
    for bad in (torch.tensor(1.0), np.zeros((2, 2), np.float16), ("pool2", 3), 5):
        with pytest.raises(TypeError, match=r"^layers must be a sequence of layer names \(str\)"):
            HypercolumnNet(21, bad)


def test_grid_classifier_refuses_an_absurd_grid():
    # found by a longer run of tests/test_properties.py (issue 13): grid=10**12 overflowed expand()
    from course_lib.models.hypercolumn import GridClassifier
    with pytest.raises(ValueError, match=r"^grid=1000000000000 gives 10{24} classifiers"):
        GridClassifier(2, 2, 10**12)
    with pytest.raises(ValueError, match=r"^grid=8193 gives 67125249 classifiers of 2 x 3 weights"):
        GridClassifier(2, 2, 8193)                  # 8193**2 * 6 > 2**28
    assert GridClassifier(2, 2, 5).weight.shape == (25, 2, 2)
