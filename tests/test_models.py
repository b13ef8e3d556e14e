"""course_lib.models: backbone shapes, FCN-32s/16s/8s shapes and fusion, sanity training."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import overfit_one_scene

from course_lib import models
from course_lib.models import FCN, SmallVGG, fcn8s, fcn16s, fcn32s, match_size, upsample_to


def _small(skips=()):
    return FCN(5, skips, backbone=SmallVGG((4, 4, 8, 8, 8), (1, 1, 1, 1, 1)), head_channels=8)


@pytest.mark.parametrize("size", [(32, 32), (128, 128), (100, 90), (97, 131), (33, 65)])
@pytest.mark.parametrize("skips", [(), ("pool4",), ("pool4", "pool3"),
                                   ("pool4", "pool3", "pool2")])
def test_fcn_output_size_for_any_input(size, skips, device):
    net = _small(skips).to(device).eval()
    x = torch.rand(2, 3, *size, device=device)
    out = net(x)
    assert out.shape == (2, 5, *size)
    assert out.device.type == device.type
    coarse = net(x, coarse=True)
    assert coarse.shape[-2:] == (size[0] // net.output_stride, size[1] // net.output_stride)


def test_backbone_strides_and_channels():
    net = SmallVGG()
    feats = net(torch.zeros(1, 3, 128, 96))
    for name, f in feats.items():
        s = net.strides[name]
        assert f.shape == (1, net.out_channels[name], 128 // s, 96 // s)


def test_output_stride_and_names():
    assert [m.output_stride for m in (fcn32s(), fcn16s(), fcn8s())] == [32, 16, 8]
    assert fcn8s().name == "FCN-8s"
    assert models.build("fcn16s", 7).num_classes == 7


def test_skips_start_at_zero_so_fcn8s_equals_its_fcn32s_part():
    """Zero-initialised skip scores and bilinear 2x upsampling: at initialisation FCN-8s's
    coarse scores are FCN-32s's, bilinearly upsampled to stride 8 (away from the border)."""
    torch.manual_seed(0)
    net8 = _small(("pool4", "pool3")).eval()
    net32 = _small(()).eval()
    net32.load_state_dict(net8.state_dict(), strict=False)
    x = torch.rand(1, 3, 128, 128)
    s32 = net32(x, coarse=True)                                   # (1, 5, 4, 4)
    s8 = net8(x, coarse=True)                                     # (1, 5, 16, 16)
    ref = F.interpolate(F.interpolate(s32, scale_factor=2, mode="bilinear"), scale_factor=2,
                        mode="bilinear")
    torch.testing.assert_close(s8[..., 4:-4, 4:-4], ref[..., 4:-4, 4:-4], atol=1e-5, rtol=1e-5)


def test_bilinear_upsampler_matches_interpolate_inside():
    up = models.bilinear_upsampler(3, 2)
    x = torch.rand(1, 3, 6, 7)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    out = up(x)
    assert out.shape == ref.shape
    torch.testing.assert_close(out[..., 1:-1, 1:-1], ref[..., 1:-1, 1:-1])


def test_match_size_crops_and_pads_bottom_right():
    x = torch.arange(12.0).view(1, 1, 3, 4)
    assert match_size(x, (2, 2)).flatten().tolist() == [0, 1, 4, 5]
    padded = match_size(x, (4, 5))
    assert padded.shape == (1, 1, 4, 5)
    assert padded[0, 0, 3].tolist() == [8, 9, 10, 11, 11]          # last row repeated
    torch.testing.assert_close(padded[..., :3, :4], x)


def test_upsample_to_keeps_cells_on_their_pixels():
    # a 2x3 map at stride 4 for a 9x14 image: cell (i, j) covers pixels [4i, 4i+4) x [4j, 4j+4)
    x = torch.zeros(1, 1, 2, 3)
    x[0, 0, 1, 2] = 1.0
    out = upsample_to(x, (9, 14), 4)
    assert out.shape == (1, 1, 9, 14)
    peak = divmod(int(out.flatten().argmax()), 14)
    assert 4 <= peak[0] < 8 and 8 <= peak[1] < 12


@pytest.mark.parametrize("name, loss_ratio, target", [("fcn32s", 0.2, 0.8), ("fcn8s", 0.1, 0.9)])
def test_each_model_overfits_one_image(name, loss_ratio, target):
    """Sanity: 60 steps on one 128 px Pasture scene drive the loss down and the pixel accuracy
    up (FCN-32s's 4 x 4 score map cannot draw the legs: its loss levels off higher)."""
    torch.manual_seed(0)
    net = models.build(name, 21, backbone=SmallVGG((8, 16, 16, 32, 32), (1, 1, 1, 1, 1)),
                       head_channels=32, dropout=0.0)
    losses, acc, background = overfit_one_scene(net, 128)
    assert losses[-1] < loss_ratio * losses[0], losses[::10]
    assert acc > max(target, background), f"{name} reached only {acc:.3f} on its training image"


# --------------------------------------------------------------------------- bad input
def test_rejects_non_4d_input():
    with pytest.raises(ValueError, match=r"x must be a \(N, 3, H, W\) tensor, got shape \(3, 64, 64\)"):
        fcn32s()(torch.rand(3, 64, 64))


def test_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\).*\(1, 4, 64, 64\)"):
        fcn8s()(torch.rand(1, 4, 64, 64))


def test_rejects_too_small_input():
    with pytest.raises(ValueError, match="at least 32 x 32"):
        fcn8s()(torch.rand(1, 3, 16, 64))


def test_rejects_integer_images():
    with pytest.raises(TypeError, match="floating-point"):
        fcn32s()(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_rejects_skips_in_wrong_order():
    with pytest.raises(ValueError, match="skips must be a prefix"):
        FCN(21, ("pool3", "pool4"))
    with pytest.raises(TypeError, match="skips must be a sequence"):
        FCN(21, "pool4")


def test_rejects_bad_backbone_config():
    with pytest.raises(ValueError, match="channels must have 5 entries"):
        SmallVGG((8, 8))
    with pytest.raises(ValueError, match=r"convs\[1\] must be an integer in \[1, 64\], got 0"):
        SmallVGG(convs=(1, 0, 1, 1, 1))


def test_match_size_refuses_maps_that_do_not_belong_together():
    with pytest.raises(ValueError, match="cannot fuse a 4x4 map with a 16x16 map"):
        match_size(torch.zeros(1, 1, 4, 4), (16, 16), max_change=1)
    with pytest.raises(ValueError, match="4-D"):
        match_size(torch.zeros(4, 4), (4, 4))
    with pytest.raises(ValueError, match="size must be positive"):
        match_size(torch.zeros(1, 1, 4, 4), (0, 4))


def test_build_rejects_unknown_model():
    with pytest.raises(ValueError, match=r"^name must be one of \['fcn16s', 'fcn32s', 'fcn8s', 'hypercolumn'\], got 'fcn4s'"):
        models.build("fcn4s")


# --------------------------------------------------------------------------- pretrained path
def test_vgg16_backbone_loads_a_local_state_dict_and_never_downloads(tmp_path, monkeypatch):
    import torchvision


    def no_download(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    torch.manual_seed(1)
    reference = torchvision.models.vgg16(weights=None)
    path = tmp_path / "vgg16.pth"
    torch.save(reference.state_dict(), path)
    net = FCN(21, ("pool4", "pool3"), backbone="vgg16", pretrained=path, head_channels=16)
    stages = net.backbone.stages
    torch.testing.assert_close(stages[0][0].weight, reference.features[0].weight)   # conv1_1
    torch.testing.assert_close(stages[-1][-3].bias, reference.features[28].bias)    # conv5_3
    out = net(torch.rand(1, 3, 64, 64))
    assert out.shape == (1, 21, 64, 64)
    assert net.backbone.strides["pool5"] == 32


def test_pretrained_true_without_a_local_copy_says_where_and_does_not_download(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError, match="never downloads"):
        FCN(21, (), backbone="vgg16", pretrained=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        FCN(21, (), backbone="vgg16", pretrained=tmp_path / "nothing.pth")
    with pytest.raises(ValueError, match="only for backbone='vgg16'"):
        FCN(21, (), pretrained=True)


@pytest.mark.parametrize("model", ["fcn", "hypercolumn"])
@pytest.mark.parametrize("backbone", ["small", "vgg16"])
def test_pretrained_of_another_type_is_a_type_error_naming_it(model, backbone):
    # an empty array once reached bool() and raised NumPy's "truth value ... ambiguous"
    import numpy as np

    from course_lib.models import HypercolumnNet

    for bad in (np.zeros((0, 0, 3)), torch.zeros(0), 1.0, [True]):
        with pytest.raises(TypeError, match="pretrained must be a bool, a path or None"):
            if model == "fcn":
                FCN(21, (), backbone=backbone, pretrained=bad)
            else:
                HypercolumnNet(21, backbone=backbone, pretrained=bad)


def test_pretrained_file_of_another_network_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, path)
    with pytest.raises(ValueError, match="does not hold VGG-16 features"):
        FCN(21, (), backbone="vgg16", pretrained=path)


# --------------------------------------------------------------------------- issue 13 findings
# Shared checks: wrong type -> TypeError, out of range -> ValueError, naming the argument;
# NumPy integers are integers.
@pytest.mark.parametrize("kwargs, error, match", [
    ({"channels": (8, 8, 8, 8, True)}, TypeError, r"^channels\[4\] must be an integer, got bool"),
    ({"channels": (8, 8, 8.0, 8, 8)}, TypeError, r"^channels\[2\] must be an integer, got float"),
    ({"channels": "abcde"}, TypeError, r"^channels must be a sequence of ints, got str"),
    ({"channels": 8}, TypeError, r"^channels must be a sequence of ints, got int"),
    ({"convs": (1, 1, "2", 1, 1)}, TypeError, r"^convs\[2\] must be an integer, got str"),
    ({"convs": (1, 1, 1, 1, -1)}, ValueError, r"^convs\[4\] must be an integer in \[1, 64\], got -1"),
    ({"in_channels": True}, TypeError, r"^in_channels must be an integer, got bool"),
    ({"in_channels": 3.0}, TypeError, r"^in_channels must be an integer, got float"),
    ({"in_channels": 0}, ValueError, r"^in_channels must be an integer >= 1, got 0"),
    ({"norm": 1}, TypeError, r"^norm must be True or False, got int"),
])
def test_small_vgg_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        SmallVGG(**kwargs)


def test_small_vgg_accepts_numpy_integers():
    net = SmallVGG(np.array([4, 4, 4, 4, 4]), (np.int64(1),) * 5, in_channels=np.int32(1),
                   norm=np.bool_(False))
    assert net.channels == (4,) * 5 and all(type(c) is int for c in net.channels + net.convs)
    assert net(torch.zeros(1, 1, 32, 32))["pool5"].shape == (1, 4, 1, 1)


@pytest.mark.parametrize("factor, error, match", [
    (True, TypeError, r"^factor must be an integer, got bool"),
    (2.0, TypeError, r"^factor must be an integer, got float"),
    ("2", TypeError, r"^factor must be an integer, got str"),
    (0, ValueError, r"^factor must be an integer >= 2, got 0"),
    (3, ValueError, r"^factor must be an even integer >= 2, got 3"),
])
def test_bilinear_upsampler_bad_factor(factor, error, match):
    with pytest.raises(error, match=match):
        models.bilinear_upsampler(2, factor)


def test_bilinear_upsampler_accepts_a_numpy_factor():
    layer = models.bilinear_upsampler(2, np.int64(4))
    assert layer.stride == (4, 4) and layer(torch.zeros(1, 2, 3, 3)).shape == (1, 2, 12, 12)


@pytest.mark.parametrize("num_classes, error, match", [
    (True, TypeError, r"^num_classes must be an integer, got bool"),
    (21.0, TypeError, r"^num_classes must be an integer, got float"),
    ("21", TypeError, r"^num_classes must be an integer, got str"),
    (0, ValueError, r"^num_classes must be an integer >= 1, got 0"),
])
def test_fcn_bad_num_classes(num_classes, error, match):
    with pytest.raises(error, match=match):
        FCN(num_classes)


def test_fcn_accepts_a_numpy_num_classes():
    net = FCN(np.int64(3), ())
    assert net.num_classes == 3 and type(net.num_classes) is int


@pytest.mark.parametrize("call, error, match", [
    (lambda x: upsample_to(x, (8, 8), True), TypeError, r"^factor must be an integer, got bool"),
    (lambda x: upsample_to(x, (8, 8), 2.0), TypeError, r"^factor must be an integer, got float"),
    (lambda x: upsample_to(x, (8, 8), "2"), TypeError, r"^factor must be an integer, got str"),
    (lambda x: upsample_to(x, (8, 8), 0), ValueError, r"^factor must be an integer >= 1, got 0"),
    (lambda x: match_size(x, (4.5, 4)), TypeError, r"^size\[0\] must be an integer, got float"),
    (lambda x: match_size(x, (4, True)), TypeError, r"^size\[1\] must be an integer, got bool"),
    (lambda x: match_size(x, "44"), TypeError, r"^size must be a pair of ints \(H, W\), got str"),
    (lambda x: match_size(x, 4), TypeError, r"^size must be a pair of ints \(H, W\), got int"),
    (lambda x: match_size(x, (4, 4, 4)), ValueError, r"^size must be a pair of ints \(H, W\), "
                                                      r"got 3 values"),
    (lambda x: match_size(x, (4, 4), max_change=1.0), TypeError,
     r"^max_change must be an integer, got float"),
    (lambda x: match_size(x, (4, 4), max_change=-1), ValueError,
     r"^max_change must be an integer >= 0, got -1"),
])
def test_fusion_bad_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call(torch.zeros(1, 1, 4, 4))


def test_fusion_accepts_numpy_integers():
    x = torch.zeros(1, 1, 4, 4)
    assert upsample_to(x, (np.int64(8), np.int32(7)), np.int64(2)).shape == (1, 1, 8, 7)
    assert match_size(x, np.array([5, 3]), max_change=np.int64(1)).shape == (1, 1, 5, 3)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_classes": True}, TypeError, r"^num_classes must be an integer, got bool"),
    ({"num_classes": 6.0}, TypeError, r"^num_classes must be an integer, got float"),
    ({"num_classes": "6"}, TypeError, r"^num_classes must be an integer, got str"),
    ({"num_classes": 0}, ValueError, r"^num_classes must be an integer >= 1, got 0"),
    ({"last": "pool6"}, ValueError, r"^last must be one of \('pool1', .*got str \('pool6'\)"),
])
def test_trunk_bad_settings(kwargs, error, match):
    from course_lib.models.trunk import Trunk

    with pytest.raises(error, match=match):
        Trunk(**kwargs)


def test_trunk_accepts_a_numpy_num_classes():
    from course_lib.models.trunk import Trunk

    net = Trunk(np.int64(3), last="pool3", aux=("pool3",))
    assert net.aux["pool3"].out_channels == 3


# --------------------------------------------------------------------------- longer property run
# Found by tests/test_properties.py with 8x the examples and random seeds (issue 13).
def test_huge_channel_counts_are_refused_before_allocating():
    from course_lib._checks import MAX_CHANNELS
    from course_lib.models.backbone import conv_block
    assert conv_block(MAX_CHANNELS, 1)[0].in_channels == MAX_CHANNELS      # the limit itself
    with pytest.raises(ValueError, match=r"^in_channels=65537 is too large: at most 65536"):
        conv_block(MAX_CHANNELS + 1, 1)
    with pytest.raises(ValueError, match=r"^in_channels=1000000000000 is too large"):
        conv_block(10**12, 2)                  # was a RuntimeError: tried to allocate 72 TB
    with pytest.raises(ValueError, match=r"^channels\[3\]=100000 is too large"):
        SmallVGG(channels=(4, 4, 4, 100_000, 4))
    with pytest.raises(ValueError, match=r"^num_classes=70000 is too large"):
        FCN(70_000)
    with pytest.raises(ValueError, match=r"^convs\[0\] must be an integer in \[1, 64\], got 10000"):
        SmallVGG(convs=(10_000, 1, 1, 1, 1))   # would build 10,000 blocks


@pytest.mark.parametrize("size", [torch.tensor(3.0), torch.tensor(3), torch.tensor([[3, 3]]), 3])
def test_a_size_that_is_not_a_pair_is_a_type_error(size):
    x = torch.zeros(1, 1, 4, 4)
    for call in (lambda: match_size(x, size), lambda: upsample_to(x, size, 2),
                 lambda: models.grid_weights(size, 2)):
        with pytest.raises(TypeError, match=r"^size must be a pair of ints \(H, W\)"):
            call()                             # a 0-d tensor was "len() of a 0-d tensor"


def test_a_size_pair_may_be_a_tensor_or_numpy():
    x = torch.zeros(1, 1, 4, 4)
    assert match_size(x, torch.tensor([5, 6])).shape[-2:] == (5, 6)
    assert match_size(x, np.array([3, 2])).shape[-2:] == (3, 2)
    with pytest.raises(TypeError, match=r"^size\[0\] must be an integer, got float"):
        match_size(x, torch.tensor([5.0, 6.0]))


def test_fcn_backbone_of_another_type_is_a_type_error():
    # an array compared with "small" was "the truth value of an empty array is ambiguous"
    for bad in (np.zeros((0, 0, 3)), np.zeros(3), torch.zeros(2), 7):
        with pytest.raises(TypeError, match=r"^backbone must be 'small', 'vgg16', a SmallVGG"):
            FCN(backbone=bad)


def test_fcn_skips_that_cannot_be_iterated_are_a_type_error():
    # a 0-d tensor: "iteration over a 0-d tensor"; an array: "truth value ... is ambiguous"
    for bad in (torch.tensor(1.0), 3, None, np.zeros((2, 2), np.float16), ("pool4", 4)):
        with pytest.raises(TypeError, match=r"^skips must be a sequence of pool names"):
            FCN(skips=bad)


def test_backbone_channels_that_cannot_be_iterated_are_a_type_error():
    for bad in (torch.tensor(1.0), 4):             # a 0-d tensor: "iteration over a 0-d tensor"
        with pytest.raises(TypeError, match=r"^channels must be a sequence of ints"):
            SmallVGG(channels=bad)
