"""A patch classifier with a fully connected head, and its conversion into a fully
convolutional network (Long, Shelhamer & Darrell 2015, section 3.1).

A fully connected layer that reads a flattened ``C x K x K`` feature block computes, for
each output ``o``, ``sum_{c, u, v} W[o, c K^2 + u K + v] x[c, u, v] + b[o]``: exactly a
``K x K`` convolution with weight ``W.reshape(O, C, K, K)`` evaluated at one position. Later
fully connected layers read a vector, i.e. a ``1 x 1`` map: they are ``1 x 1``
convolutions. After the reshape nothing in the network fixes the input size any more, so
the converted network takes a larger image and returns a *map* of class scores: one score
vector per window, the same numbers the classifier gives on that window (for a network
without padding), computed once for all windows instead of window by window.

=================================  ========================================================
:class:`PatchClassifier`           conv stages like :class:`~.backbone.SmallVGG`'s first
                                   three (unpadded, stride 8) + ``fc6`` / ``fc7`` on 32 px
:func:`linear_to_conv`             one ``nn.Linear`` as the equivalent ``nn.Conv2d``
:func:`to_fully_convolutional`     a classifier (``... Flatten, Linear, ...``) as an FCN
=================================  ========================================================
"""

from __future__ import annotations

import copy
from collections import OrderedDict

import torch
from torch import Tensor, nn

from .._checks import _got, check_bool, check_channels, check_int, check_num_classes

__all__ = ["PatchClassifier", "linear_to_conv", "to_fully_convolutional"]


def _conv_block(name: str, c_in: int, c_out: int, norm: bool) -> list:
    # unpadded ("valid") 3x3 convolutions: an output unit depends only on pixels inside its
    # window, so the converted network equals the classifier slid over the image exactly
    layers = [(f"conv{name}", nn.Conv2d(c_in, c_out, 3, bias=not norm))]
    if norm:
        layers.append((f"bn{name}", nn.BatchNorm2d(c_out)))
    layers.append((f"relu{name}", nn.ReLU(inplace=True)))
    return layers


class PatchClassifier(nn.Sequential):
    """Classify a 32 x 32 patch by the class of its centre pixel.

    Three VGG-style stages of unpadded 3x3 convolutions, each ending in a 2x2 max-pool
    (stride 8 in all), then a fully connected head, as in the classification networks FCN
    started from::

        32x32x3 -conv1_1-> 30 -conv1_2-> 28 -pool1-> 14 -conv2_1-> 12 -pool2-> 6
                -conv3_1-> 4 -pool3-> 2x2x64 -flatten-> 256 -fc6-> 128 -relu-> -fc7-> 21

    Parameters
    ----------
    num_classes : int, default 21
        Outputs of ``fc7``. 21 = the Pascal VOC classes that Pasture's labels use, so that
        the scores index like every other model of the course; the Pasture classes are 6
        of them (background, cow, dog, horse, person, sheep).
    channels : (int, int, int), default (16, 32, 64)
        Width of the three stages (SmallVGG's first three).
    hidden : int, default 128
        Width of ``fc6``.
    norm : bool, default True
        Batch normalisation after every convolution (exact under conversion in ``eval()``
        mode, where it is a fixed per-channel affine map).

    Attributes
    ----------
    patch_size : int
        32: the input size the fully connected head fixes.
    stride : int
        8: the product of the pooling strides.
    feature_size : int
        2: side of pool3's map on a patch; ``fc6`` reads ``channels[2] * 2 * 2`` numbers.

    Shapes
    ------
    ``forward(x)``: ``x (Tensor[N, 3, 32, 32])`` -> logits ``Tensor[N, num_classes]``.
    Any other size is rejected; :func:`to_fully_convolutional` makes a network that takes
    any size ``>= 32``.

    Examples
    --------
    >>> net = PatchClassifier().eval()
    >>> net(torch.zeros(5, 3, 32, 32)).shape
    torch.Size([5, 21])
    >>> to_fully_convolutional(net)(torch.zeros(1, 3, 128, 128)).shape   # 13 = (128-32)/8+1
    torch.Size([1, 21, 13, 13])
    """

    patch_size = 32
    stride = 8
    feature_size = 2

    def __init__(self, num_classes: int = 21, *, channels=(16, 32, 64), hidden: int = 128,
                 norm: bool = True):
        num_classes = check_num_classes(num_classes)
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__len__") or \
                getattr(channels, "ndim", 1) == 0:                     # (a 0-d tensor)
            raise TypeError(f"channels must be 3 ints (one per stage), got {_got(channels)}")
        if len(channels) != 3:
            raise ValueError(f"channels must be 3 ints (one per stage), got {_got(channels)}")
        c1, c2, c3 = (check_channels(c, f"channels[{k}]") for k, c in enumerate(channels))
        hidden = check_int(hidden, "hidden", low=1)
        norm = check_bool(norm, "norm")
        layers = [*_conv_block("1_1", 3, c1, norm), *_conv_block("1_2", c1, c1, norm),
                  ("pool1", nn.MaxPool2d(2)),
                  *_conv_block("2_1", c1, c2, norm), ("pool2", nn.MaxPool2d(2)),
                  *_conv_block("3_1", c2, c3, norm), ("pool3", nn.MaxPool2d(2)),
                  ("flatten", nn.Flatten()),
                  ("fc6", nn.Linear(c3 * self.feature_size ** 2, hidden)),
                  ("relu6", nn.ReLU(inplace=True)),
                  ("fc7", nn.Linear(hidden, num_classes))]
        super().__init__(OrderedDict(layers))
        self.num_classes, self.channels, self.hidden = num_classes, (c1, c2, c3), hidden
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        P = self.patch_size
        if x.ndim != 4 or x.shape[1] != 3 or tuple(x.shape[-2:]) != (P, P):
            raise ValueError(f"x must be a batch of patches (N, 3, {P}, {P}), got shape "
                             f"{tuple(x.shape)}; the fully connected head fixes the size "
                             "(use to_fully_convolutional(net) for larger images)")
        if not x.is_floating_point():
            raise TypeError(f"x must be a floating-point image batch, got {x.dtype}")
        return super().forward(x)

    def __getitem__(self, idx):
        # a slice is a plain nn.Sequential (nn.Sequential would call PatchClassifier(dict))
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, channels={self.channels}, "
                f"hidden={self.hidden}, patch_size={self.patch_size}")


def _kernel_pair(kernel_size) -> tuple[int, int]:
    if isinstance(kernel_size, (tuple, list)):
        if len(kernel_size) != 2:
            raise ValueError(f"kernel_size must be an int or a pair (kh, kw), got "
                             f"{tuple(kernel_size)}")
        return tuple(check_int(k, "kernel_size", low=1) for k in kernel_size)
    k = check_int(kernel_size, "kernel_size", low=1)
    return k, k


def linear_to_conv(linear: nn.Linear, in_channels: int, kernel_size) -> nn.Conv2d:
    """The convolution that computes what ``linear`` computes on a flattened feature block.

    ``linear`` must read ``x.flatten(1)`` of a ``(N, in_channels, kh, kw)`` block (the order
    ``nn.Flatten`` uses: channel, then row, then column). The result is a
    ``Conv2d(in_channels, out_features, (kh, kw))`` whose weight is ``linear.weight`` reshaped
    to ``(out_features, in_channels, kh, kw)`` and whose bias is ``linear.bias``: on a
    ``kh x kw`` input it returns ``linear``'s output as a ``(N, out_features, 1, 1)`` map,
    exactly (the same products, summed in another order); on a larger input it slides.

    Parameters
    ----------
    linear : nn.Linear
    in_channels : int
        Channels ``C`` of the block that was flattened.
    kernel_size : int or (int, int)
        Its spatial size ``K`` (or ``(kh, kw)``); ``1`` for a fully connected layer that reads a
        vector (fc7, fc8 ...): a ``1 x 1`` convolution.

    Returns
    -------
    nn.Conv2d
        New parameters (copies) on ``linear``'s device and dtype, in its training mode.

    Raises
    ------
    TypeError
        If ``linear`` is not an ``nn.Linear`` or an argument is not an integer.
    ValueError
        If ``linear.in_features != in_channels * kh * kw``.

    Examples
    --------
    >>> fc = nn.Linear(64 * 2 * 2, 128)
    >>> conv = linear_to_conv(fc, 64, 2)
    >>> x = torch.randn(3, 64, 2, 2)
    >>> torch.allclose(conv(x)[:, :, 0, 0], fc(x.flatten(1)), atol=1e-6)
    True
    """
    if not isinstance(linear, nn.Linear):
        raise TypeError(f"linear must be a torch.nn.Linear, got {_got(linear)}")
    in_channels = check_channels(in_channels, "in_channels")
    kh, kw = _kernel_pair(kernel_size)
    if linear.in_features != in_channels * kh * kw:
        raise ValueError(f"linear has in_features={linear.in_features}, but in_channels * kh * "
                         f"kw = {in_channels} * {kh} * {kw} = {in_channels * kh * kw}; expected "
                         "the linear layer to read the flattened (in_channels, kh, kw) block")
    weight = linear.weight
    conv = nn.Conv2d(in_channels, linear.out_features, (kh, kw), bias=linear.bias is not None,
                     device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        conv.weight.copy_(weight.reshape(linear.out_features, in_channels, kh, kw))
        if linear.bias is not None:
            conv.bias.copy_(linear.bias)
    conv.train(linear.training)
    return conv


#: Layers allowed after the ``Flatten``: they act on each score vector separately, so they
#: act the same on each position of a score map.
_HEAD_POINTWISE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid,
                   nn.Tanh, nn.Identity, nn.Dropout)


def _channels_before_flatten(layers) -> int | None:
    for _, layer in reversed(layers):
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            return layer.out_channels
        if isinstance(layer, nn.BatchNorm2d):
            return layer.num_features
    return None


def to_fully_convolutional(classifier: nn.Module, *, in_channels: int | None = None) -> nn.Sequential:
    """A fully convolutional copy of ``classifier``: its fully connected layers as
    convolutions, so that it takes images of any size and returns score maps.

    Parameters
    ----------
    classifier : nn.Sequential
        Convolutional layers, one ``nn.Flatten``, then ``nn.Linear`` layers with pointwise
        layers (ReLU, dropout, ...) between them, e.g. :class:`PatchClassifier`. Nested
        ``nn.Sequential`` blocks are unrolled.
    in_channels : int, optional
        Channels of the map that ``Flatten`` flattens; by default the ``out_channels`` of the
        last convolution (or ``num_features`` of the last ``BatchNorm2d``) before it. The
        first ``Linear``'s ``in_features / in_channels`` must be a square ``K * K``: that
        ``Linear`` becomes a ``K x K`` convolution, every later one a ``1 x 1``.

    Returns
    -------
    nn.Sequential
        The same layer names (``flatten`` dropped), deep copies of the convolutional part
        and :func:`linear_to_conv` of each ``Linear``; the classifier is not modified. In
        the classifier's training mode (call ``.eval()`` on both before comparing them).

    Raises
    ------
    TypeError
        If ``classifier`` is not an ``nn.Sequential``, or holds a layer after the
        ``Flatten`` that does not act on each vector separately.
    ValueError
        If there is no ``Flatten`` followed by a ``Linear``, or the first ``Linear``'s
        ``in_features`` is not ``in_channels * K * K``.

    Examples
    --------
    >>> net = PatchClassifier().eval()
    >>> fcn = to_fully_convolutional(net)
    >>> x = torch.rand(2, 3, 32, 32)
    >>> torch.allclose(fcn(x)[:, :, 0, 0], net(x), atol=1e-5)
    True
    """
    if not isinstance(classifier, nn.Sequential):
        raise TypeError(f"classifier must be an nn.Sequential (convolutions, Flatten, Linear "
                        f"layers), got {_got(classifier)}")

    def unroll(seq, prefix=""):
        for name, layer in seq.named_children():
            full = f"{prefix}{name}"
            if isinstance(layer, nn.Sequential):
                yield from unroll(layer, f"{full}_")
            else:
                yield full, layer

    layers = list(unroll(classifier))
    flat = [i for i, (_, layer) in enumerate(layers) if isinstance(layer, nn.Flatten)]
    if len(flat) != 1:
        raise ValueError(f"classifier must hold exactly one nn.Flatten between its "
                         f"convolutional part and its Linear head, got {len(flat)}")
    f = flat[0]
    body, head = layers[:f], layers[f + 1:]
    flatten = layers[f][1]
    if flatten.start_dim != 1 or flatten.end_dim != -1:
        raise ValueError(f"classifier's Flatten must flatten (C, H, W) (start_dim=1, "
                         f"end_dim=-1), got start_dim={flatten.start_dim}, "
                         f"end_dim={flatten.end_dim}")
    linears = [i for i, (_, layer) in enumerate(head) if isinstance(layer, nn.Linear)]
    if not linears or linears[0] != 0:
        raise ValueError("classifier must have an nn.Linear right after its Flatten, got "
                         f"{type(head[0][1]).__name__ if head else 'nothing'}")
    if in_channels is None:
        in_channels = _channels_before_flatten(body)
        if in_channels is None:
            raise ValueError("cannot tell how many channels the Flatten flattens (no Conv2d "
                             "or BatchNorm2d before it); pass in_channels=")
    in_channels = check_channels(in_channels, "in_channels")
    first = head[0][1]
    area, rest = divmod(first.in_features, in_channels)
    k = round(area ** 0.5)
    if rest or k * k != area:
        raise ValueError(f"the first Linear has in_features={first.in_features}, which is not "
                         f"in_channels * K * K for in_channels={in_channels} and an integer K; "
                         "expected a square feature map to be flattened")
    converted = [(name, copy.deepcopy(layer)) for name, layer in body]
    channels = in_channels
    for index, (name, layer) in enumerate(head):
        if isinstance(layer, nn.Linear):
            kernel = k if index == 0 else 1
            converted.append((name, linear_to_conv(layer, channels, kernel)))
            channels = layer.out_features
        elif isinstance(layer, _HEAD_POINTWISE):
            converted.append((name, copy.deepcopy(layer)))
        else:
            raise TypeError(f"classifier holds {type(layer).__name__} ({name!r}) after its "
                            "Flatten; expected Linear layers and pointwise layers (ReLU, "
                            "Dropout, ...) that act the same on every position of a score map")
    fcn = nn.Sequential(OrderedDict(converted))
    fcn.train(classifier.training)
    return fcn
