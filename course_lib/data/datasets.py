"""PyTorch datasets over the VOC, COCO and NYUv2 layouts, built on the real loaders.

The same classes read the committed Pasture exports and the real datasets:

==========================  ==================================  ==============================
class                       reads with                          real data (give its root)
==========================  ==================================  ==============================
VOCSegmentationDataset      torchvision.datasets.VOCSegmentation  VOC 2012 (VOCtrainval_11-May-2012)
COCOInstancesDataset        pycocotools.coco.COCO               COCO 2017 train/val + annotations
NYUv2Dataset                h5py                                nyu_depth_v2_labeled.mat
==========================  ==================================  ==============================

>>> from course_lib.data import datasets
>>> voc = datasets.VOCSegmentationDataset(datasets.pasture_voc_root(), "val")
>>> image, label = voc[0]
>>> tuple(image.shape), image.dtype, label.dtype
((3, 128, 128), torch.float32, torch.int64)

A missing root or file raises :class:`DatasetNotFoundError` (a
``FileNotFoundError``) and an unreadable file :class:`CorruptFileError` (a
``ValueError``); both messages name the file and say how to get the data.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .. import config
from .._checks import check_bool, check_indices
from .classes import VOC_CLASSES
from .formats import NYU_FILE_NAME, read_label_png

__all__ = ["DatasetNotFoundError", "CorruptFileError", "VOCSegmentationDataset",
           "COCOInstancesDataset", "NYUv2Dataset", "pasture_voc_root", "pasture_coco_root",
           "pasture_nyu_path", "collate_instances", "VOC_HELP", "COCO_HELP", "NYU_HELP"]

VOC_HELP = ("Get it with `make data` (the committed Pasture mini VOC is data/voc, see "
            "pasture_voc_root()), or for the real Pascal VOC 2012 download "
            "VOCtrainval_11-May-2012.tar from http://host.robots.ox.ac.uk/pascal/VOC/voc2012/ "
            "and extract it so that <root>/VOCdevkit/VOC2012/JPEGImages exists.")
COCO_HELP = ("Get it with `make data` (the committed Pasture mini COCO is data/coco, see "
             "pasture_coco_root()), or for the real COCO 2017 download train2017.zip, "
             "val2017.zip and annotations_trainval2017.zip from https://cocodataset.org/#download "
             "and unzip them into <root> (giving <root>/annotations and <root>/val2017).")
NYU_HELP = ("Get it with `make data` (the committed Pasture mini NYUv2 is "
            f"data/nyu/{NYU_FILE_NAME}, see pasture_nyu_path()), or download the real "
            "nyu_depth_v2_labeled.mat (2.8 GB) from "
            "https://cs.nyu.edu/~fergus/datasets/nyu_depth_v2.html.")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset root or one of its files is missing."""


class CorruptFileError(ValueError):
    """A dataset file exists but cannot be read (truncated, wrong format)."""


def _need_file(path: Path, what: str, help_text: str) -> None:
    if not path.is_file():
        raise DatasetNotFoundError(f"{what} {path} does not exist. {help_text}")


def _need_dir(path: Path, what: str, help_text: str) -> None:
    if not path.is_dir():
        raise DatasetNotFoundError(f"{what} {path} does not exist. {help_text}")


def _load_rgb(path: Path, help_text: str) -> torch.Tensor:
    """float32 (3, H, W) in [0, 1] from an image file."""
    from PIL import Image, UnidentifiedImageError

    _need_file(path, "image", help_text)
    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise CorruptFileError(f"image {path} is corrupt or not an image ({err}). "
                               f"{help_text}") from err
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


def _label_tensor(path: Path, help_text: str) -> torch.Tensor:
    _need_file(path, "label PNG", help_text)
    try:
        return torch.from_numpy(read_label_png(path))
    except ValueError as err:
        raise CorruptFileError(f"{err}. {help_text}") from err


def _ann_to_mask(coco, ann) -> np.ndarray:
    """``coco.annToMask(ann)`` without pycocotools' NumPy 2 DeprecationWarning (harmless)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*__array__ implementation",
                                category=DeprecationWarning)
        return coco.annToMask(ann)


def _check_split(split, allowed=None):
    if not isinstance(split, str) or not split:
        raise TypeError(f"split must be a non-empty str, got {split!r}")
    if allowed is not None and split not in allowed:
        raise ValueError(f"split must be one of {allowed}, got {split!r}")


def _check_transforms(transforms):
    if transforms is not None and not callable(transforms):
        raise TypeError(f"transforms must be callable or None, got {type(transforms).__name__}")


# --------------------------------------------------------------------------- VOC
class VOCSegmentationDataset(torch.utils.data.Dataset):
    """Pascal VOC semantic segmentation: ``(image, label)`` pairs.

    Wraps ``torchvision.datasets.VOCSegmentation`` (it finds the files; this class
    decodes them into tensors and gives clear errors).

    Parameters
    ----------
    root : str or Path
        Folder that contains ``VOCdevkit/VOC2012`` (the committed mini export:
        :func:`pasture_voc_root`).
    split : str
        ``"train"``, ``"val"`` or ``"trainval"`` (a file ``ImageSets/Segmentation/<split>.txt``).
    transforms : callable, optional
        ``transforms(image, label) -> (image, label)`` applied to the tensors.
    target : {"class", "object"}
        ``"class"`` reads ``SegmentationClass`` (VOC indices), ``"object"`` reads
        ``SegmentationObject`` (instance ids).
    year : str
        VOC year (only ``"2012"`` has this layout in torchvision without ``TrainVal/``).

    Item
    ----
    image : Tensor[3, H, W] float32 in [0, 1]
    label : Tensor[H, W] int64, VOC index 0-20 (or instance id), 255 = void (kept)
    """

    classes = VOC_CLASSES

    def __init__(self, root, split: str = "train", *, transforms=None, target: str = "class",
                 year: str = "2012"):
        from torchvision.datasets import VOCSegmentation

        _check_split(split)
        _check_transforms(transforms)
        if not isinstance(target, str) or target not in ("class", "object"):
            raise ValueError(f"target must be 'class' or 'object', got {target!r:.60}")
        if root is None or not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a str or Path, got {type(root).__name__}")
        self.root = Path(root)
        _need_dir(self.root, "VOC root", VOC_HELP)
        base = self.root / "VOCdevkit" / f"VOC{year}"
        _need_dir(base, "VOC folder", VOC_HELP)
        _need_file(base / "ImageSets" / "Segmentation" / f"{split}.txt", "VOC split list",
                   VOC_HELP)
        try:
            self._voc = VOCSegmentation(str(self.root), year=year, image_set=split,
                                        download=False)
        except (RuntimeError, OSError) as err:
            raise DatasetNotFoundError(f"torchvision could not open VOC under {self.root} "
                                       f"({err}). {VOC_HELP}") from err
        self.split, self.target, self.transforms = split, target, transforms
        self.images = [Path(p) for p in self._voc.images]
        if target == "class":
            self.targets = [Path(p) for p in self._voc.masks]
        else:
            self.targets = [base / "SegmentationObject" / (p.stem + ".png") for p in self.images]
        self.names = [p.stem for p in self.images]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        image = _load_rgb(self.images[index], VOC_HELP)
        label = _label_tensor(self.targets[index], VOC_HELP)
        if label.shape != image.shape[1:]:
            raise CorruptFileError(f"label {self.targets[index]} is {tuple(label.shape)} but "
                                   f"image {self.images[index]} is {tuple(image.shape[1:])}")
        if self.transforms is not None:
            image, label = self.transforms(image, label)
        return image, label

    def __repr__(self) -> str:
        return (f"VOCSegmentationDataset(root={str(self.root)!r}, split={self.split!r}, "
                f"target={self.target!r}, n={len(self)})")


# --------------------------------------------------------------------------- COCO
class COCOInstancesDataset(torch.utils.data.Dataset):
    """COCO instance segmentation: ``(image, target)`` pairs, read with ``pycocotools``.

    Parameters
    ----------
    root : str or Path
        Folder with ``annotations/instances_<split><year>.json`` and ``<split><year>/``
        (the committed mini export: :func:`pasture_coco_root`).
    split : str
        ``"train"`` or ``"val"``.
    transforms : callable, optional
        ``transforms(image, target) -> (image, target)``.
    contiguous_labels : bool
        ``False`` (default): ``labels`` are the real COCO category ids (1 person,
        18 dog, ..., with gaps). ``True``: 1..C in increasing id order
        (0 is left for background), see :attr:`label_names`.
    year : str

    Item
    ----
    image : Tensor[3, H, W] float32 in [0, 1]
    target : dict
        ``boxes`` Tensor[K, 4] float32 ``(x0, y0, x1, y1)`` (COCO ``bbox`` is
        ``[x, y, w, h]``); ``labels`` Tensor[K] int64; ``masks`` Tensor[K, H, W]
        uint8 (``COCO.annToMask``: polygons or RLE); ``iscrowd`` Tensor[K] int64;
        ``area`` Tensor[K] float32; ``image_id`` int; and ``amodal_masks``
        Tensor[K, H, W] uint8 when the file has ``amodal_segmentation`` (Pasture).
    """

    def __init__(self, root, split: str = "train", *, transforms=None,
                 contiguous_labels: bool = False, year: str = "2017"):
        from pycocotools.coco import COCO

        _check_split(split)
        _check_transforms(transforms)
        if root is None or not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a str or Path, got {type(root).__name__}")
        self.root = Path(root)
        _need_dir(self.root, "COCO root", COCO_HELP)
        self.annotation_file = self.root / "annotations" / f"instances_{split}{year}.json"
        _need_file(self.annotation_file, "COCO annotation file", COCO_HELP)
        self.image_dir = self.root / f"{split}{year}"
        _need_dir(self.image_dir, "COCO image folder", COCO_HELP)
        try:
            with contextlib.redirect_stdout(io.StringIO()):       # pycocotools prints progress
                self.coco = COCO(str(self.annotation_file))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError,
                AssertionError) as err:
            raise CorruptFileError(f"COCO annotation file {self.annotation_file} is corrupt "
                                   f"or not COCO instances JSON ({type(err).__name__}: {err}). "
                                   f"{COCO_HELP}") from err
        missing = [k for k in ("images", "annotations", "categories") if k not in self.coco.dataset]
        if missing:
            raise CorruptFileError(f"COCO annotation file {self.annotation_file} lacks the "
                                   f"top-level keys {missing} of COCO instances JSON. "
                                   f"{COCO_HELP}")
        self.split, self.transforms = split, transforms
        self.contiguous_labels = check_bool(contiguous_labels, "contiguous_labels")
        self.ids = sorted(self.coco.getImgIds())
        self.category_ids = sorted(self.coco.getCatIds())
        self._contiguous = {cid: i + 1 for i, cid in enumerate(self.category_ids)}
        #: name of each label value (COCO id or contiguous index -> name)
        self.label_names = {
            (self._contiguous[c] if self.contiguous_labels else c): self.coco.cats[c]["name"]
            for c in self.category_ids}

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} images")
        image_id = self.ids[index]
        info = self.coco.imgs[image_id]
        image = _load_rgb(self.image_dir / info["file_name"], COCO_HELP)
        h, w = image.shape[1:]
        anns = self.coco.loadAnns(self.coco.getAnnIds(imgIds=[image_id]))
        boxes = torch.tensor([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],
                               a["bbox"][1] + a["bbox"][3]] for a in anns],
                             dtype=torch.float32).reshape(-1, 4)
        cats = [a["category_id"] for a in anns]
        if self.contiguous_labels:
            cats = [self._contiguous[c] for c in cats]
        masks = np.zeros((len(anns), h, w), np.uint8)
        for k, a in enumerate(anns):
            masks[k] = _ann_to_mask(self.coco, a)
        target = {
            "boxes": boxes, "labels": torch.tensor(cats, dtype=torch.int64),
            "masks": torch.from_numpy(masks),
            "iscrowd": torch.tensor([int(a.get("iscrowd", 0)) for a in anns], dtype=torch.int64),
            "area": torch.tensor([float(a["area"]) for a in anns], dtype=torch.float32),
            "image_id": int(image_id),
        }
        if anns and all("amodal_segmentation" in a for a in anns):
            amodal = np.zeros_like(masks)
            for k, a in enumerate(anns):
                amodal[k] = _ann_to_mask(self.coco,
                                         {**a, "segmentation": a["amodal_segmentation"]})
            target["amodal_masks"] = torch.from_numpy(amodal)
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        return image, target

    def __repr__(self) -> str:
        return (f"COCOInstancesDataset(root={str(self.root)!r}, split={self.split!r}, "
                f"n={len(self)})")


def collate_instances(batch):
    """``DataLoader`` ``collate_fn`` for :class:`COCOInstancesDataset`.

    Images of one size are stacked into Tensor[B, 3, H, W] (a list otherwise);
    targets stay a list of dicts, since each image has its own number of objects.
    """
    images, targets = zip(*batch)
    if len({tuple(im.shape) for im in images}) == 1:
        return torch.stack(images), list(targets)
    return list(images), list(targets)


# --------------------------------------------------------------------------- NYU
class NYUv2Dataset(torch.utils.data.Dataset):
    """NYU Depth v2 labeled frames: ``(image, label, depth)`` triples, read with ``h5py``.

    Parameters
    ----------
    path : str or Path
        ``nyu_depth_v2_labeled.mat`` (MATLAB v7.3) or the mini export
        (:func:`pasture_nyu_path`).
    indices : sequence of int, optional
        Which frames to use (default all), e.g. the official train split.
    transforms : callable, optional
        ``transforms(image, label, depth) -> (image, label, depth)``.

    Item
    ----
    image : Tensor[3, H, W] float32 in [0, 1]
    label : Tensor[H, W] int64, 0 = unlabeled, k >= 1 is ``names[k - 1]``
    depth : Tensor[H, W] float32, metres

    Notes
    -----
    The file stores arrays transposed, ``images`` (N, 3, W, H) and ``labels``,
    ``depths`` (N, W, H); items are transposed back to (H, W). The file is opened
    lazily, once per process (safe with ``DataLoader`` workers).
    """

    def __init__(self, path, *, indices=None, transforms=None):
        import h5py

        _check_transforms(transforms)
        if path is None or not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
        self.path = Path(path)
        _need_file(self.path, "NYUv2 file", NYU_HELP)
        try:
            f = h5py.File(self.path, "r")
        except OSError as err:
            raise CorruptFileError(f"NYUv2 file {self.path} is not a readable HDF5 / MATLAB "
                                   f"v7.3 file ({err}). {NYU_HELP}") from err
        with f:
            missing = [k for k in ("images", "labels", "depths", "names") if k not in f]
            if missing:
                raise CorruptFileError(f"NYUv2 file {self.path} lacks datasets {missing}. "
                                       f"{NYU_HELP}")
            n = int(f["images"].shape[0])
            try:
                self.names = ["".join(chr(int(c)) for c in np.asarray(f[r]).ravel())
                              for r in f["names"][0]]
            except (ValueError, TypeError, KeyError) as err:
                raise CorruptFileError(f"NYUv2 file {self.path}: cannot read 'names' ({err}). "
                                       f"{NYU_HELP}") from err
            self.seeds = np.asarray(f["seeds"]) if "seeds" in f else None
        self.indices = list(range(n)) if indices is None else check_indices(indices, "indices", n)
        self.transforms = transforms
        self._file, self._pid = None, None

    def _h5(self):
        import h5py

        if self._file is None or self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_file"], state["_pid"] = None, None
        return state

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} frames")
        i = self.indices[index]
        f = self._h5()
        try:
            image = np.asarray(f["images"][i]).transpose(2, 1, 0)         # (3, W, H) -> (H, W, 3)
            label = np.asarray(f["labels"][i]).T.astype(np.int64)
            depth = np.asarray(f["depths"][i]).T.astype(np.float32)
        except (OSError, KeyError) as err:
            raise CorruptFileError(f"NYUv2 file {self.path}: cannot read frame {i} ({err}). "
                                   f"{NYU_HELP}") from err
        image = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        label, depth = torch.from_numpy(np.ascontiguousarray(label)), \
            torch.from_numpy(np.ascontiguousarray(depth))
        if self.transforms is not None:
            image, label, depth = self.transforms(image, label, depth)
        return image, label, depth

    def __repr__(self) -> str:
        return f"NYUv2Dataset(path={str(self.path)!r}, n={len(self)})"


# --------------------------------------------------------------------------- paths
def _profile_root(profile: str, key: str) -> Path:
    if not isinstance(profile, str) or profile not in config.PROFILES:
        raise ValueError(f"profile must be one of {config.PROFILES}, got {profile!r}")
    if profile == "quick":
        d = config.data_dir()
        return {"voc": d / "voc", "coco": d / "coco", "nyu": d / "nyu" / NYU_FILE_NAME}[key]
    from .export import export_full

    return export_full()[key]


def pasture_voc_root(profile: str = "quick") -> Path:
    """Root of the Pasture mini VOC 2012 (``data/voc``; ``"full"`` exports into the cache once)."""
    return _profile_root(profile, "voc")


def pasture_coco_root(profile: str = "quick") -> Path:
    """Root of the Pasture mini COCO 2017 (``data/coco``; ``"full"``: cache, made on demand)."""
    return _profile_root(profile, "coco")


def pasture_nyu_path(profile: str = "quick") -> Path:
    """Path of the Pasture mini NYUv2 ``.mat`` file (``"full"``: cache, made on demand)."""
    return _profile_root(profile, "nyu")
