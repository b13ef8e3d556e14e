"""Joint image/label augmentation for segmentation: one random draw moves both.

A classifier may flip or rescale its image freely; a segmenter's label map must follow
every geometric change pixel for pixel. Three rules:

* the **same** draw (scale, crop window, flip) is applied to image and label;
* the label is resized with **nearest neighbour** (interpolating between class 10 and
  class 15 would invent class 12);
* pixels that do not come from the image (padding after a zoom-out) and the dataset's
  own void pixels stay **void** (255), never background: the loss ignores them.

:class:`JointAugment` draws its randomness from ``(seed, epoch, index)`` so that an item
gets the same augmentation wherever it is loaded, whichever process loads it (which keeps
data-parallel training equal to single-process training, see :mod:`course_lib.train`).
"""

from __future__ import annotations

import numpy as np
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_bool, check_int, check_positive
from .classes import VOC_VOID

__all__ = ["JointAugment", "scale_crop_flip"]


def scale_crop_flip(image: Tensor, label: Tensor, *, scale: float, top: int, left: int,
                    flip: bool, size, ignore_index: int = VOC_VOID) -> tuple[Tensor, Tensor]:
    """Rescale by ``scale``, cut the ``size`` window at ``(top, left)`` of the rescaled
    picture (padding with void/black where the window leaves it), and mirror if ``flip``.

    Parameters
    ----------
    image : Tensor[3, H, W] float
    label : Tensor[H, W] int64
    scale : float
        Zoom factor (> 0): the rescaled picture is ``round(H * scale) x round(W * scale)``.
    top, left : int
        Corner of the window in the rescaled picture; negative or too large values pad.
    flip : bool
        Mirror left-right after cropping.
    size : (h, w)
        Output size.

    Returns
    -------
    image : Tensor[3, h, w] float, zeros where padded
    label : Tensor[h, w] int64, ``ignore_index`` where padded
    """
    if not isinstance(image, Tensor) or image.ndim != 3 or not image.is_floating_point():
        raise ValueError(f"image must be a float (3, H, W) tensor, got "
                         f"{getattr(image, 'dtype', type(image).__name__)} "
                         f"{tuple(getattr(image, 'shape', ()))}")
    if not isinstance(label, Tensor) or label.shape != image.shape[1:]:
        raise ValueError(f"label must be a tensor of shape {tuple(image.shape[1:])}, got "
                         f"{tuple(getattr(label, 'shape', ()))}")
    if not float(scale) > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    h, w = (int(v) for v in size)
    H, W = image.shape[1:]
    Hs, Ws = max(1, round(H * scale)), max(1, round(W * scale))
    if (Hs, Ws) != (H, W):
        image = F.interpolate(image[None], size=(Hs, Ws), mode="bilinear", align_corners=False,
                              antialias=scale < 1)[0]
        label = F.interpolate(label[None, None].float(), size=(Hs, Ws),
                              mode="nearest")[0, 0].long()
    out_image = image.new_zeros(image.shape[0], h, w)
    out_label = label.new_full((h, w), ignore_index)
    # the part of the window inside the rescaled picture
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, Hs), min(left + w, Ws)
    if y1 > y0 and x1 > x0:
        out_image[:, y0 - top:y1 - top, x0 - left:x1 - left] = image[:, y0:y1, x0:x1]
        out_label[y0 - top:y1 - top, x0 - left:x1 - left] = label[y0:y1, x0:x1]
    if flip:
        out_image, out_label = out_image.flip(-1), out_label.flip(-1)
    return out_image, out_label


class JointAugment:
    """Random scale, crop (or pad) and horizontal flip, applied jointly to image and label.

    Parameters
    ----------
    size : int or (h, w), optional
        Output size; default: the input's size.
    scale : (float, float), default (0.75, 1.5)
        Range of the zoom factor, drawn log-uniformly.
    flip : bool, default True
        Mirror with probability 1/2.
    seed : int, default 0
        With the ``epoch`` (see :meth:`set_epoch`) and the item index, fixes every draw.
    ignore_index : int, default 255
        Label given to padded pixels (void).

    Examples
    --------
    >>> aug = JointAugment(size=64, seed=0)
    >>> img, lab = aug(torch.rand(3, 64, 64), torch.zeros(64, 64, dtype=torch.long), index=3)
    >>> img.shape, lab.shape
    (torch.Size([3, 64, 64]), torch.Size([64, 64]))
    """

    def __init__(self, size=None, *, scale=(0.75, 1.5), flip: bool = True, seed: int = 0,
                 ignore_index: int = VOC_VOID):
        if not isinstance(scale, (tuple, list)) or len(scale) != 2:
            raise TypeError(f"scale must be a pair (low, high), got {scale!r:.60}")
        lo, hi = (check_positive(s, "scale") for s in scale)
        if not lo <= hi:
            raise ValueError(f"scale must be a range (low, high) with 0 < low <= high, got {scale}")
        if size is not None:
            pair = isinstance(size, (tuple, list))
            if pair and len(size) != 2:
                raise ValueError(f"size must be an int or a pair (h, w), got {size!r:.60}")
            size = tuple(check_int(s, "size", low=1) for s in (size if pair else (size, size)))
        self.size = size
        self.scale, self.flip = (lo, hi), check_bool(flip, "flip")
        self.seed = check_int(seed, "seed", low=0)
        self.ignore_index = check_int(ignore_index, "ignore_index")
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use the draws of pass ``epoch`` over the data (the sampler's epoch)."""
        self.epoch = int(epoch)

    def __call__(self, image: Tensor, label: Tensor, *, index: int = 0):
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        H, W = image.shape[1:]
        h, w = self.size or (H, W)
        lo, hi = np.log(self.scale[0]), np.log(self.scale[1])
        scale = float(np.exp(rng.uniform(lo, hi)))
        Hs, Ws = max(1, round(H * scale)), max(1, round(W * scale))
        # window corner: anywhere such that the window overlaps the picture as much as it can
        top = int(rng.integers(min(0, Hs - h), max(0, Hs - h) + 1))
        left = int(rng.integers(min(0, Ws - w), max(0, Ws - w) + 1))
        flip = bool(self.flip and rng.random() < 0.5)
        return scale_crop_flip(image, label, scale=scale, top=top, left=left, flip=flip,
                               size=(h, w), ignore_index=self.ignore_index)

    def __repr__(self) -> str:
        return (f"JointAugment(size={self.size}, scale={self.scale}, flip={self.flip}, "
                f"seed={self.seed})")
