"""course_lib.models.classifier: a Linear layer as a convolution, a classifier made fully
convolutional (exact at the training size, equal to sliding windows on larger inputs), bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.models import (
    PatchClassifier,
    linear_to_conv,
    receptive_fields,
    to_fully_convolutional,
)

EXACT = dict(atol=1e-12, rtol=0)


def _trained_like(num_classes=21, seed=0, **kwargs):
    """A float64 PatchClassifier in eval mode with non-trivial batch-norm statistics."""
    torch.manual_seed(seed)
    net = PatchClassifier(num_classes, **kwargs).double()
    net.train()
    with torch.no_grad():                      # a few batches to move the running statistics
        for _ in range(3):
            net(torch.rand(8, 3, 32, 32, dtype=torch.float64))
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


def _sliding_window(net, image, patch, stride):
    """The classifier on every ``patch`` x ``patch`` window at ``stride`` (F.unfold)."""
    N, C, H, W = image.shape
    cols = F.unfold(image, patch, stride=stride)               # (N, C*P*P, L)
    L = cols.shape[-1]
    windows = cols.transpose(1, 2).reshape(N * L, C, patch, patch)
    scores = net(windows)                                       # (N*L, K)
    h, w = (H - patch) // stride + 1, (W - patch) // stride + 1
    return scores.reshape(N, h, w, -1).permute(0, 3, 1, 2)     # (N, K, h, w)


@pytest.mark.parametrize("kernel", [1, 2, 3, (2, 3)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_to_conv_exact(kernel, bias):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    torch.manual_seed(0)
    fc = nn.Linear(5 * kh * kw, 7, bias=bias).double()
    conv = linear_to_conv(fc, 5, kernel)
    assert isinstance(conv, nn.Conv2d)
    assert conv.weight.shape == (7, 5, kh, kw) and (conv.bias is not None) == bias
    x = torch.randn(4, 5, kh, kw, dtype=torch.float64)
    torch.testing.assert_close(conv(x)[:, :, 0, 0], fc(x.flatten(1)), **EXACT)
    # the weights are copies: changing the conv leaves the Linear alone
    with torch.no_grad():
        conv.weight.zero_()
    assert fc.weight.abs().sum() > 0


def test_linear_to_conv_slides_on_larger_input():
    torch.manual_seed(1)
    fc = nn.Linear(3 * 2 * 2, 4).double()
    conv = linear_to_conv(fc, 3, 2)
    x = torch.randn(2, 3, 5, 6, dtype=torch.float64)
    out = conv(x)                                               # (2, 4, 4, 5)
    for i in range(4):
        for j in range(5):
            torch.testing.assert_close(out[:, :, i, j], fc(x[:, :, i:i + 2, j:j + 2].flatten(1)),
                                       **EXACT)


def test_linear_to_conv_keeps_dtype_device_and_mode(device):
    fc = nn.Linear(8, 3).to(device=device, dtype=torch.float64).eval()
    conv = linear_to_conv(fc, 2, 2)
    assert conv.weight.dtype == torch.float64 and conv.weight.device.type == device.type
    assert not conv.training


def test_patch_classifier_shapes():
    net = PatchClassifier().eval()
    assert net(torch.rand(3, 3, 32, 32)).shape == (3, 21)
    assert PatchClassifier(6)(torch.rand(2, 3, 32, 32)).shape == (2, 6)
    assert (net.patch_size, net.stride, net.feature_size) == (32, 8, 2)
    rows = receptive_fields(to_fully_convolutional(net), 32)
    assert rows[-1].rf == net.patch_size and rows[-1].jump == net.stride


def test_patch_classifier_slices_are_sequential():
    net = PatchClassifier().eval()
    body = net[:15]                                  # conv1_1 ... pool3
    assert type(body) is nn.Sequential and list(dict(body.named_children()))[-1] == "pool3"
    assert body(torch.rand(2, 3, 32, 32)).shape == (2, 64, 2, 2)
    assert isinstance(net[-1], nn.Linear)


@pytest.mark.parametrize("norm", [True, False])
def test_conversion_exact_at_training_size(norm, device):
    net = _trained_like(norm=norm).to(device)
    fcn = to_fully_convolutional(net)
    x = torch.rand(16, 3, 32, 32, dtype=torch.float64, device=device)
    out = fcn(x)
    assert out.shape == (16, 21, 1, 1)
    torch.testing.assert_close(out[:, :, 0, 0], net(x), **EXACT)


@pytest.mark.parametrize("size", [(32, 32), (40, 48), (128, 128), (75, 101)])
def test_fcn_equals_sliding_window(size, device):
    net = _trained_like().to(device)
    fcn = to_fully_convolutional(net)
    image = torch.rand(2, 3, *size, dtype=torch.float64, device=device)
    dense = fcn(image)
    slid = _sliding_window(net, image, 32, 8)
    assert dense.shape == slid.shape == (2, 21, (size[0] - 32) // 8 + 1, (size[1] - 32) // 8 + 1)
    torch.testing.assert_close(dense, slid, **EXACT)


def test_windows_off_the_stride_grid_differ():
    """The score map samples windows every 8 pixels: a window shifted by 4 is not on it."""
    net = _trained_like()
    fcn = to_fully_convolutional(net)
    image = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    dense = fcn(image)
    shifted = net(image[:, :, 4:36, 4:36])
    assert not torch.allclose(dense[0, :, 0, 0], shifted[0])
    torch.testing.assert_close(fcn(image[:, :, 4:, 4:])[:, :, 0, 0], shifted, **EXACT)


def test_conversion_leaves_classifier_unchanged_and_copies():
    net = _trained_like()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fcn = to_fully_convolutional(net)
    with torch.no_grad():
        for p in fcn.parameters():
            p.add_(1.0)
    for k, v in net.state_dict().items():
        torch.testing.assert_close(v, before[k], **EXACT)
    assert list(dict(fcn.named_children())) == [
        "conv1_1", "bn1_1", "relu1_1", "conv1_2", "bn1_2", "relu1_2", "pool1", "conv2_1",
        "bn2_1", "relu2_1", "pool2", "conv3_1", "bn3_1", "relu3_1", "pool3", "fc6", "relu6",
        "fc7"]
    assert fcn.fc6.kernel_size == (2, 2) and fcn.fc7.kernel_size == (1, 1)
    assert not fcn.training


def test_generic_sequential_with_nested_blocks_and_dropout():
    torch.manual_seed(3)
    features = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.MaxPool2d(2))
    net = nn.Sequential(features, nn.Flatten(), nn.Linear(4 * 3 * 3, 6), nn.ReLU(),
                        nn.Dropout(0.5), nn.Linear(6, 5), nn.Linear(5, 2)).double().eval()
    fcn = to_fully_convolutional(net)
    x = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(fcn(x)[:, :, 0, 0], net(x), **EXACT)
    # 20x14 -> conv 18x12 -> pool 9x6 -> 3x3 "fc" 7x4
    assert fcn(torch.rand(1, 3, 20, 14, dtype=torch.float64)).shape == (1, 2, 7, 4)
    assert list(dict(fcn.named_children()))[:3] == ["0_0", "0_1", "0_2"]


def test_in_channels_override_for_flatten_of_image():
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).double()
    fcn = to_fully_convolutional(net, in_channels=3)
    x = torch.rand(2, 3, 4, 4, dtype=torch.float64)
    torch.testing.assert_close(fcn(x)[:, :, 0, 0], net(x), **EXACT)


# --------------------------------------------------------------------------- bad input
def test_linear_to_conv_rejects_non_linear():
    with pytest.raises(TypeError, match=r"linear must be a torch.nn.Linear, got Conv2d"):
        linear_to_conv(nn.Conv2d(3, 3, 1), 3, 1)


def test_linear_to_conv_rejects_size_mismatch():
    with pytest.raises(ValueError, match=r"in_features=256, but in_channels \* kh \* kw = "
                                         r"64 \* 3 \* 3 = 576"):
        linear_to_conv(nn.Linear(256, 10), 64, 3)


@pytest.mark.parametrize("in_channels, kernel, error, match", [
    (0, 2, ValueError, r"in_channels must be an integer >= 1, got 0"),
    (2.0, 2, TypeError, r"in_channels must be an integer, got float"),
    (2, 0, ValueError, r"kernel_size must be an integer >= 1, got 0"),
    (2, (1, 2, 3), ValueError, r"kernel_size must be an int or a pair \(kh, kw\), got \(1, 2, 3\)"),
    (2, "2", TypeError, r"kernel_size must be an integer, got str"),
])
def test_linear_to_conv_rejects_bad_sizes(in_channels, kernel, error, match):
    with pytest.raises(error, match=match):
        linear_to_conv(nn.Linear(8, 2), in_channels, kernel)


def test_to_fcn_rejects_non_sequential():
    with pytest.raises(TypeError, match=r"classifier must be an nn.Sequential.*got Linear"):
        to_fully_convolutional(nn.Linear(4, 2))


def test_to_fcn_rejects_missing_flatten():
    with pytest.raises(ValueError, match=r"exactly one nn.Flatten.*got 0"):
        to_fully_convolutional(nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU()))


def test_to_fcn_rejects_partial_flatten():
    with pytest.raises(ValueError, match=r"start_dim=1, end_dim=-1\), got start_dim=2"):
        to_fully_convolutional(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(2), nn.Linear(4, 2)))


def test_to_fcn_rejects_no_linear_after_flatten():
    with pytest.raises(ValueError, match=r"nn.Linear right after its Flatten, got ReLU"):
        to_fully_convolutional(nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.ReLU()))


def test_to_fcn_rejects_non_square_block():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 2 * 3, 2))
    with pytest.raises(ValueError, match=r"in_features=24, which is not in_channels \* K \* K "
                                         r"for in_channels=4"):
        to_fully_convolutional(net)


def test_to_fcn_rejects_unknown_channels():
    with pytest.raises(ValueError, match=r"cannot tell how many channels.*pass in_channels="):
        to_fully_convolutional(nn.Sequential(nn.Flatten(), nn.Linear(12, 2)))


def test_to_fcn_rejects_non_pointwise_head_layer():
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    with pytest.raises(TypeError, match=r"BatchNorm1d \('3'\) after its Flatten"):
        to_fully_convolutional(net)


def test_patch_classifier_rejects_other_sizes():
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\), got shape \(1, 3, 64, 64\).*"
                                         r"to_fully_convolutional"):
        PatchClassifier()(torch.rand(1, 3, 64, 64))


def test_patch_classifier_rejects_integer_images():
    with pytest.raises(TypeError, match=r"floating-point image batch, got torch.uint8"):
        PatchClassifier()(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


def test_patch_classifier_rejects_non_tensor():
    with pytest.raises(TypeError, match=r"x must be a torch.Tensor, got list"):
        PatchClassifier()([[0.0]])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_classes": 0}, ValueError, r"num_classes must be >= 1, got 0"),
    ({"channels": (8, 8)}, ValueError, r"channels must be 3 ints .*got tuple"),
    ({"channels": (8, 8, 0)}, ValueError, r"channels\[2\] must be an integer >= 1, got 0"),
    ({"hidden": 1.5}, TypeError, r"hidden must be an integer, got float"),
    ({"norm": 1}, TypeError, r"norm must be True or False, got int"),
    ({"channels": "abc"}, TypeError, r"channels must be 3 ints .*got str"),
    ({"channels": 16}, TypeError, r"channels must be 3 ints .*got int"),
    ({"channels": (8, True, 8)}, TypeError, r"channels\[1\] must be an integer, got bool"),
    ({"channels": (8, 8, 8.0)}, TypeError, r"channels\[2\] must be an integer, got float"),
])
def test_patch_classifier_rejects_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        PatchClassifier(**kwargs)


def test_patch_classifier_accepts_numpy_integers():
    net = PatchClassifier(np.int64(3), channels=np.array([4, 4, 4]), hidden=np.int32(8),
                          norm=np.bool_(False))
    assert net.channels == (4, 4, 4) and net(torch.zeros(2, 3, 32, 32)).shape == (2, 3)


def test_channels_as_a_zero_dim_tensor_is_a_type_error():
    # found by a longer run of tests/test_properties.py (issue 13): "len() of a 0-d tensor"
    with pytest.raises(TypeError, match=r"^channels must be 3 ints \(one per stage\)"):
        PatchClassifier(channels=torch.tensor(1.0))
