"""More Pasture training scenes than the committed export: rendered once, cached, and served
as a torch ``Dataset`` of ``(image, label)`` pairs like the VOC loader's.

The committed mini VOC has 300 training images, too few for a network to learn thin legs
from. Rendering a scene takes a few milliseconds, so :func:`pasture_segmentation` renders
as many as asked (seeds ``0, 1, ...``: the first 300 are exactly the committed training
scenes), saves each image through the same JPEG encoder as the export (so that training
and validation images carry the same compression artefacts) and marks the same 2-pixel
void band on object outlines. The arrays are cached as one file in
:func:`course_lib.config.cache_dir`, so the next notebook loads them in a fraction of a
second. Validation always uses the committed VOC ``val`` split (seeds 100000 + i), which no
training seed reaches.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from .. import config
from .._checks import check_int
from .classes import VOC_VOID

__all__ = ["PastureSegmentation", "pasture_segmentation", "render_arrays"]

_CACHE_VERSION = 1
_MAX_SCENES = 100_000        # training seeds stay below the validation seeds


def _jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    from PIL import Image

    from .formats import JPEG_QUALITY

    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="JPEG", quality=quality or JPEG_QUALITY,
                                       subsampling="4:2:0", optimize=False, progressive=False)
    buf.seek(0)
    with Image.open(buf) as img:
        return np.asarray(img.convert("RGB"))


def render_arrays(n: int, *, seed: int = 0, size: int = 128, void_width: int = 2,
                  jpeg_quality: int = 90, progress: bool = False) -> tuple[torch.Tensor,
                                                                          torch.Tensor]:
    """Render scenes ``seed .. seed + n - 1`` as training arrays (no caching).

    Returns
    -------
    images : Tensor[n, 3, size, size] uint8
    labels : Tensor[n, size, size] uint8, VOC indices, 255 = void band
    """
    from . import formats, pasture

    n = check_int(n, "n", low=1, high=_MAX_SCENES)
    seed = check_int(seed, "seed", low=0, high=2**31)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    labels = torch.empty(n, size, size, dtype=torch.uint8)
    it = range(n)
    if progress:
        from .._progress import progress_bar

        it = progress_bar(it, desc=f"rendering {n} Pasture scenes")
    for i in it:
        scene = pasture.render_scene(seed + i, size)
        cls, _ = formats.voc_targets(scene, void_width=void_width)
        image = _jpeg_roundtrip(scene.image, jpeg_quality) if jpeg_quality else scene.image
        images[i] = torch.from_numpy(np.array(image, copy=True)).permute(2, 0, 1)
        labels[i] = torch.from_numpy(cls.astype(np.uint8))
    return images, labels


class PastureSegmentation(torch.utils.data.Dataset):
    """``(image, label)`` pairs from rendered arrays, optionally through joint transforms.

    Parameters
    ----------
    images : Tensor[N, 3, H, W] uint8
    labels : Tensor[N, H, W] uint8 or int64 (VOC indices, 255 = void)
    transforms : callable, optional
        ``transforms(image, label, *, index=i) -> (image, label)``, e.g.
        :class:`course_lib.data.augment.JointAugment`; it receives the item's index so that
        random draws can be made reproducible per item.

    Item
    ----
    image : Tensor[3, H, W] float32 in [0, 1]
    label : Tensor[H, W] int64
    """

    classes = None

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, transforms=None):
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.ndim != 4 \
                or images.shape[1] != 3:
            raise ValueError("images must be a uint8 tensor (N, 3, H, W), got "
                             f"{getattr(images, 'dtype', type(images).__name__)} "
                             f"{tuple(getattr(images, 'shape', ()))}")
        expected = (images.shape[0], *images.shape[2:])
        if not isinstance(labels, torch.Tensor) or tuple(labels.shape) != expected:
            raise ValueError(f"labels must be a tensor of shape {expected}, got "
                             f"{tuple(getattr(labels, 'shape', ()))}")
        if transforms is not None and not callable(transforms):
            raise TypeError(f"transforms must be callable, got {type(transforms).__name__}")
        self.images, self.labels, self.transforms = images, labels, transforms

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        image = self.images[index].float().div_(255)
        label = self.labels[index].long()
        if self.transforms is not None:
            image, label = self.transforms(image, label, index=int(index) % len(self))
        return image, label

    def __repr__(self) -> str:
        N, _, H, W = self.images.shape
        return f"PastureSegmentation(n={N}, size={H}x{W}, transforms={self.transforms!r})"


def _cache_path(n, seed, size, void_width, jpeg_quality) -> Path:
    name = f"pasture-seg-v{_CACHE_VERSION}-n{n}-s{seed}-{size}px-void{void_width}-q{jpeg_quality}.pt"
    return config.cache_dir() / "pasture" / name


def pasture_segmentation(n: int, *, seed: int = 0, size: int = 128, void_width: int = 2,
                         jpeg_quality: int = 90, transforms=None, cache: bool = True,
                         progress: bool = True) -> PastureSegmentation:
    """``n`` rendered Pasture training scenes as a :class:`PastureSegmentation`, cached.

    The first call renders (about 10 ms a scene at 128 px) and writes
    ``<cache_dir>/pasture/pasture-seg-...pt``; later calls load that file. A damaged cache
    file is rendered again.
    """
    n = check_int(n, "n", low=1, high=_MAX_SCENES)
    path = _cache_path(n, seed, size, void_width, jpeg_quality)
    arrays = None
    if cache and path.is_file():
        try:
            saved = torch.load(path, weights_only=True)
            arrays = saved["images"], saved["labels"]
        except Exception:   # a half-written or foreign file: render again
            arrays = None
    if arrays is None:
        arrays = render_arrays(n, seed=seed, size=size, void_width=void_width,
                               jpeg_quality=jpeg_quality, progress=progress)
        if cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save({"images": arrays[0], "labels": arrays[1]}, tmp)
            tmp.replace(path)
    images, labels = arrays
    if labels.max() > 20 and not bool(((labels <= 20) | (labels == VOC_VOID)).all()):
        raise ValueError(f"cached labels in {path} hold values outside VOC's 0-20 and 255")
    return PastureSegmentation(images, labels, transforms=transforms)
