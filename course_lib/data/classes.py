"""Class tables shared by Pasture, the exports and the loaders.

Pasture uses the real Pascal VOC indices and MS COCO category ids, so that its
exports are genuine VOC and COCO files: a Pasture cow is VOC class 10 and COCO
category 21, exactly as in the real datasets.
"""

from functools import cache

import numpy as np

__all__ = [
    "VOC_CLASSES", "VOC_VOID", "VOC_VOID_COLOUR", "COCO_CATEGORIES", "THINGS", "VOC_INDEX",
    "COCO_ID", "PART_NAMES", "DENSE_CLASSES", "STUFF", "voc_name", "voc_palette",
]

#: The 21 Pascal VOC classes; the index in this tuple is the value in a label PNG.
VOC_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)
#: Value of "void" pixels (object borders, unlabelled): ignored by losses and metrics.
VOC_VOID = 255
#: The cream colour of void in VOC's label PNGs (entry 255 of :func:`voc_palette`).
VOC_VOID_COLOUR = (224, 224, 192)

#: The COCO 2017 categories used by Pasture (id -> name). COCO ids run 1..90 with gaps
#: (91 ids were defined, 80 are used), so they are *not* contiguous indices.
COCO_CATEGORIES = {1: "person", 18: "dog", 19: "horse", 20: "sheep", 21: "cow"}

#: The Pasture "things" (countable objects), in a fixed order.
THINGS = ("cow", "horse", "sheep", "dog", "person")
VOC_INDEX = {name: VOC_CLASSES.index(name) for name in THINGS}
COCO_ID = {name: cid for cid, name in COCO_CATEGORIES.items()}

#: Part labels (the pose problem): value in ``Scene.parts``.
PART_NAMES = ("none", "head", "torso", "legs", "arms")

#: "Stuff" regions of a pasture (amorphous, uncountable).
STUFF = ("sky", "grass", "tree", "fence")

#: Dense (NYUv2-style) label set: 0 is "unlabelled", every other pixel has a class.
DENSE_CLASSES = ("unlabeled",) + STUFF + THINGS


def voc_name(index: int) -> str:
    """Name of VOC label ``index`` (255 gives ``"void"``)."""
    from .._checks import check_int

    index = check_int(index, "index")
    if index == VOC_VOID:
        return "void"
    if not 0 <= index < len(VOC_CLASSES):
        raise ValueError(f"index must be a VOC index in [0, 20] or 255, got {index}")
    return VOC_CLASSES[index]


@cache
def _voc_palette() -> np.ndarray:
    pal = np.zeros((256, 3), np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):          # the bits of the label, spread over r, g, b, high bits first
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    pal.flags.writeable = False
    return pal


def voc_palette(n: int = 256) -> np.ndarray:
    """The Pascal VOC colour map: uint8 (n, 3); entry i is the colour of label i.

    It is the bit-interleaving map of the VOC development kit (``labelcolormap.m``): the
    bits of the label are spread over the three channels, most significant first, so that
    neighbouring labels get very different colours: 0 black, 1 (128, 0, 0) aeroplane, ...,
    10 (64, 128, 0) cow, ..., 255 (224, 224, 192) the cream of void. Returns a new array.

    Raises
    ------
    TypeError
        If ``n`` is not an integer.
    ValueError
        If ``n`` is not in [1, 256].
    """
    from .._checks import check_int

    n = check_int(n, "n", low=1, high=256)
    return _voc_palette()[:n].copy()
