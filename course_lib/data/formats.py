"""Write Pasture scenes in the real file formats of Pascal VOC, MS COCO and NYU Depth v2.

The files written here are read by the *real* loaders, unchanged:
``torchvision.datasets.VOCSegmentation``, ``pycocotools.coco.COCO`` and ``h5py``
(the NYUv2 ``.mat`` file is MATLAB v7.3, i.e. HDF5). Writing is deterministic:
the same scenes give the same bytes (fixed JPEG settings, no timestamps in JSON,
HDF5 written without object times), as long as the Pillow and h5py versions are
the same.

Layouts
-------
Mini VOC 2012 (``export_voc``)::

    <root>/VOCdevkit/VOC2012/JPEGImages/<name>.jpg          RGB, baseline JPEG quality 90, 4:2:0
    <root>/VOCdevkit/VOC2012/SegmentationClass/<name>.png   palette PNG: VOC index, 255 void
    <root>/VOCdevkit/VOC2012/SegmentationObject/<name>.png  palette PNG: instance id, 255 void
    <root>/VOCdevkit/VOC2012/ImageSets/Segmentation/{train,val,trainval}.txt

``<name>`` is ``pasture_<seed:06d>``. The void band (255) lies on every object
outline, :func:`~course_lib.data.pasture.void_border` of the instance map, and
is the same in both PNGs. In ``SegmentationObject`` value ``k`` is
``scene.objects[k - 1]``; a crowd region (a distant flock) is void there, as
VOC has no crowd annotations, but keeps its class in ``SegmentationClass``.

Mini COCO 2017 (``export_coco``)::

    <root>/annotations/instances_{train,val}2017.json
    <root>/{train,val}2017/<id:012d>.jpg

Image ``id`` is ``seed + 1`` (COCO ids start at 1) and the image entry carries
the ``seed``. Categories use the real, non-contiguous COCO ids (1 person,
18 dog, 19 horse, 20 sheep, 21 cow). An object's ``segmentation`` is a list of
polygons of its *visible* mask in pixel-edge coordinates (``iscrowd = 0``) or,
for a crowd region, a compressed RLE (``iscrowd = 1``); ``bbox`` is
``[x, y, width, height]`` of the visible mask and ``area`` its pixel count.
Extra, non-standard fields (ignored by COCO tools): ``amodal_segmentation``
(RLE of the whole object, hidden parts included), ``amodal_bbox`` and
``depth`` (metres). The polygons decode (``COCO.annToMask``) to exactly the
visible mask: holes are cut open along a column so that a plain polygon can
describe them.

Mini NYU Depth v2 (``export_nyu``): one MATLAB v7.3 file with the same datasets,
dtypes and axis order as the real ``nyu_depth_v2_labeled.mat``::

    images     uint8   (N, 3, W, H)   the real file is stored transposed
    depths     float32 (N, W, H)      metres (Pasture sky = 80 m)
    labels     uint16  (N, W, H)      0 = unlabeled, k >= 1 is names[k - 1]
    instances  uint8   (N, W, H)      0 = none, else an instance id
    names      cell    (1, C)         class names (MATLAB char arrays)
    seeds      int64   (N,)           Pasture seed of each image (not in the real file)

Read it with :func:`read_nyu`, which transposes back to (H, W). As in the real
dataset, about 10-15 % of the pixels are unlabeled: a band on region outlines
and tiny regions.
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np

from .._checks import as_tensor, check_indices, check_int, check_path
from .classes import COCO_CATEGORIES, DENSE_CLASSES, VOC_VOID, voc_palette
from .pasture import Scene, void_border

__all__ = [
    "voc_colormap", "voc_stem", "coco_file_name", "JPEG_QUALITY",
    "write_jpeg", "write_label_png", "read_label_png", "voc_targets", "export_voc",
    "mask_to_polygons", "encode_rle", "decode_rle", "coco_dict", "export_coco",
    "nyu_unlabeled", "nyu_arrays", "export_nyu", "read_nyu", "COCO_SUPERCATEGORY",
    "NYU_FILE_NAME",
]

JPEG_QUALITY = 90
NYU_FILE_NAME = "nyu_depth_v2_labeled_mini.mat"
#: Supercategories of the real COCO categories that Pasture uses.
COCO_SUPERCATEGORY = {1: "person", 18: "animal", 19: "animal", 20: "animal", 21: "animal"}


# --------------------------------------------------------------------------- helpers
def _check_scenes(scenes, name="scenes"):
    if isinstance(scenes, Scene):
        raise TypeError(f"{name} must be a sequence of Scene, got a single Scene")
    if isinstance(scenes, (str, bytes)) or not isinstance(scenes, (list, tuple)):
        raise TypeError(f"{name} must be a sequence of Scene, got {type(scenes).__name__}")
    scenes = list(scenes)
    for s in scenes:
        if not isinstance(s, Scene):
            raise TypeError(f"{name} must contain pasture.Scene objects, got {type(s).__name__}")
    return scenes


def _write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


#: The standard Pascal VOC colour map (:func:`course_lib.data.classes.voc_palette`).
voc_colormap = voc_palette


def voc_stem(seed: int) -> str:
    """File stem of the Pasture scene ``seed`` in the VOC export: ``pasture_<seed:06d>``."""
    return f"pasture_{check_int(seed, 'seed', low=0):06d}"


def coco_file_name(image_id: int) -> str:
    """COCO-style image file name: the id on 12 digits, ``000000000001.jpg``."""
    return f"{check_int(image_id, 'image_id', low=0):012d}.jpg"


def write_jpeg(path, image: np.ndarray, *, quality: int = JPEG_QUALITY) -> None:
    """Save uint8 (H, W, 3) ``image`` as a baseline JPEG with fixed settings (deterministic)."""
    from PIL import Image

    path = check_path(path)
    quality = check_int(quality, "quality", low=1, high=95)
    image = as_tensor(image, "image").cpu().numpy()
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or image.size == 0:
        raise ValueError(f"image must be a non-empty uint8 (H, W, 3) array, got {image.dtype} "
                         f"{image.shape}")
    buf = io.BytesIO()
    Image.fromarray(image, "RGB").save(buf, format="JPEG", quality=quality, subsampling="4:2:0",
                                       optimize=False, progressive=False)
    _write_bytes(path, buf.getvalue())


def write_label_png(path, label: np.ndarray) -> None:
    """Save an integer label map (H, W) with values 0-255 as a VOC palette PNG (mode ``P``)."""
    from PIL import Image

    path = check_path(path)
    label = as_tensor(label, "label").cpu().numpy()
    if label.ndim != 2 or not np.issubdtype(label.dtype, np.integer) or label.size == 0:
        raise ValueError(f"label must be a non-empty integer (H, W) array, got {label.dtype} "
                         f"{label.shape}")
    if label.min() < 0 or label.max() > 255:
        raise ValueError(f"label values must be in [0, 255], got [{label.min()}, {label.max()}]")
    img = Image.fromarray(label.astype(np.uint8), "L").convert("P")
    img.putpalette(voc_colormap(256).ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    _write_bytes(path, buf.getvalue())


def read_label_png(path) -> np.ndarray:
    """Read a palette label PNG (VOC ``SegmentationClass`` / ``SegmentationObject``) as int64.

    Returns the palette *indices* (the label values), never the colours.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a readable palette or grey-level PNG.
    """
    from PIL import Image, UnidentifiedImageError

    path = check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"label PNG {path} does not exist")
    try:
        with Image.open(path) as img:
            if img.mode not in ("P", "L"):
                raise ValueError(f"label PNG {path} has mode {img.mode!r}; expected a palette "
                                 "('P') or grey-level ('L') PNG of label indices")
            return np.asarray(img, dtype=np.uint8).astype(np.int64)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"label PNG {path} is corrupt or not a PNG ({err})") from err


# --------------------------------------------------------------------------- VOC
def voc_targets(scene: Scene, *, void_width: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The ``SegmentationClass`` and ``SegmentationObject`` arrays of a scene.

    Parameters
    ----------
    scene : Scene
    void_width : int
        Width of the void band on object outlines (see ``pasture.void_border``).

    Returns
    -------
    cls, obj : ndarray int64 (H, W)
        ``cls`` VOC indices with 255 on the band; ``obj`` instance ids with 255 on the
        band and on crowd regions.
    """
    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a pasture.Scene, got {type(scene).__name__}")
    if len(scene.objects) >= VOC_VOID:
        raise ValueError(f"scene {scene.seed} has {len(scene.objects)} objects; at most 254 fit")
    void = void_border(scene.instances, check_int(void_width, "void_width", low=1)) == VOC_VOID
    cls = np.where(void, VOC_VOID, scene.label)
    obj = np.where(void, VOC_VOID, scene.instances)
    for o in scene.objects:
        if o.iscrowd:
            obj[o.visible_mask] = VOC_VOID
    return cls, obj


def export_voc(root, train, val, *, void_width: int = 2) -> Path:
    """Write ``train`` and ``val`` scenes as a VOC 2012 segmentation tree under ``root``.

    Parameters
    ----------
    root : str or Path
        Folder that will hold ``VOCdevkit/VOC2012`` (torchvision's ``root``).
    train, val : sequence of Scene
        Scenes of each split; file names come from their seeds (must be unique).
    void_width : int
        Width of the void band on object outlines.

    Returns
    -------
    Path
        ``root/VOCdevkit/VOC2012``.
    """
    train, val = _check_scenes(train, "train"), _check_scenes(val, "val")
    seeds = [s.seed for s in train + val]
    if len(set(seeds)) != len(seeds):
        raise ValueError("train and val scenes must have distinct seeds (they name the files)")
    base = Path(root) / "VOCdevkit" / "VOC2012"
    for s in train + val:
        name = voc_stem(s.seed)
        cls, obj = voc_targets(s, void_width=void_width)
        write_jpeg(base / "JPEGImages" / f"{name}.jpg", s.image)
        write_label_png(base / "SegmentationClass" / f"{name}.png", cls)
        write_label_png(base / "SegmentationObject" / f"{name}.png", obj)
    sets = base / "ImageSets" / "Segmentation"
    lists = {"train": train, "val": val, "trainval": train + val}
    for split, items in lists.items():
        text = "".join(voc_stem(s.seed) + "\n" for s in items)
        _write_bytes(sets / f"{split}.txt", text.encode())
    return base


# --------------------------------------------------------------------------- COCO
def _check_mask(mask, name: str = "mask") -> np.ndarray:
    """A bool (H, W) array from a mask that holds only 0 and 1 (bool, integer or float)."""
    mask = as_tensor(mask, name).detach().cpu().numpy()
    if mask.ndim != 2:
        raise ValueError(f"{name} must be 2-D (H, W), got shape {mask.shape}")
    if mask.dtype != np.bool_:
        if np.iscomplexobj(mask):
            raise TypeError(f"{name} must be bool or hold 0/1 numbers, got dtype {mask.dtype}")
        if mask.size and not np.isin(mask, (0, 1)).all():
            values = np.unique(mask[~np.isin(mask, (0, 1))])[:5].tolist()
            raise ValueError(f"{name} must hold only 0 and 1 (or be bool), got values {values}")
    return mask.astype(bool)


def _num(v: float):
    """A coordinate for JSON: an int when integral (shorter files), else rounded to 2 places."""
    r = round(float(v), 2)
    return int(r) if r == int(r) else r


def _contours(mask: np.ndarray, x0: int, y0: int) -> list:
    from skimage import measure

    pad = np.pad(mask, 1).astype(np.uint8)
    polys = []
    for c in measure.find_contours(pad, 0.5):
        c = measure.approximate_polygon(c, tolerance=0)      # drops collinear points only
        if len(c) > 1 and np.array_equal(c[0], c[-1]):
            c = c[:-1]
        if len(c) < 3:
            continue
        # (row, col) of the padded crop -> (x, y) in pixel-edge coordinates of the image
        xy = np.stack([c[:, 1] - 0.5 + x0, c[:, 0] - 0.5 + y0], axis=1)
        polys.append([_num(v) for v in xy.ravel()])
    return polys


def _polygons(mask: np.ndarray, x0: int, y0: int) -> list:
    from scipy import ndimage as ndi

    holes = ndi.binary_fill_holes(mask) & ~mask
    if not holes.any():
        return _contours(mask, x0, y0)
    labels, _ = ndi.label(holes)
    xs = np.nonzero(labels == 1)[1]
    cut = int(np.clip(np.round(xs.mean()), 1, mask.shape[1] - 1))
    return _polygons(mask[:, :cut], x0, y0) + _polygons(mask[:, cut:], x0 + cut, y0)


def mask_to_polygons(mask: np.ndarray) -> list:
    """COCO polygons ``[[x1, y1, x2, y2, ...], ...]`` whose union is ``mask``.

    Contours are traced at the pixel edges (``skimage.measure.find_contours``
    at level 0.5, shifted by half a pixel), so that pycocotools rasterises them
    back to the same pixels. A COCO polygon cannot have holes, so a mask with a
    hole is cut in two along a column through the hole, recursively.

    Parameters
    ----------
    mask : ndarray (H, W)
        bool, or numbers that are all 0 or 1 (as :func:`encode_rle`).

    Returns
    -------
    list of list of float
        Empty for an empty mask.
    """
    mask = _check_mask(mask)
    rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
    if rows.size == 0:
        return []
    crop = mask[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    return _polygons(crop, int(cols[0]), int(rows[0]))


def encode_rle(mask: np.ndarray) -> dict:
    """Compressed COCO RLE of a (H, W) mask: ``{"size": [H, W], "counts": str}``.

    ``mask`` is bool, or numbers that are all 0 or 1 (anything else raises ``ValueError``,
    the same rule as :func:`mask_to_polygons`).
    """
    from pycocotools import mask as mask_utils

    mask = _check_mask(mask)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """Decode a COCO RLE (compressed ``str``/``bytes`` or uncompressed list counts) to bool (H, W)."""
    from pycocotools import mask as mask_utils

    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"rle must be a dict with 'size' and 'counts', got {rle!r:.80}")
    size = rle["size"]
    if isinstance(size, (str, bytes)) or not hasattr(size, "__len__") or len(size) != 2:
        raise ValueError(f"rle['size'] must be [height, width], got {size!r:.80}")
    h, w = (check_int(v, f"rle['size'][{i}]", low=0) for i, v in enumerate(size))
    counts = rle["counts"]
    if not isinstance(counts, (list, str, bytes)):
        raise TypeError(f"rle['counts'] must be a list of run lengths or a compressed str/bytes, "
                        f"got {type(counts).__name__}")
    if isinstance(counts, list):
        runs = [check_int(c, "rle['counts'][...]", low=0) for c in counts]
        if sum(runs) != h * w:
            raise ValueError(f"rle['counts'] runs add up to {sum(runs)} pixels, but "
                             f"size {h} x {w} has {h * w}")
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(rle, h, w)
    elif isinstance(rle["counts"], str):
        rle = {"size": [h, w], "counts": rle["counts"].encode("ascii")}
    with warnings.catch_warnings():     # pycocotools' harmless NumPy 2 DeprecationWarning
        warnings.filterwarnings("ignore", message=".*__array__ implementation",
                                category=DeprecationWarning)
        return mask_utils.decode(rle).astype(bool)


def _xywh(box) -> list:
    x0, y0, x1, y1 = box
    return [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]


def coco_dict(scenes, *, split: str = "train") -> dict:
    """The COCO ``instances_<split>2017.json`` content for ``scenes`` (a plain dict).

    Image ids are ``seed + 1``; annotation ids run from 1 in scene order.
    """
    scenes = _check_scenes(scenes)
    images, annotations = [], []
    for s in scenes:
        h, w = s.image.shape[:2]
        image_id = s.seed + 1
        images.append({"id": image_id, "file_name": coco_file_name(image_id), "height": h,
                       "width": w, "license": 1, "seed": s.seed})
        for o in s.objects:
            if o.iscrowd:
                segmentation = encode_rle(o.visible_mask)
            else:
                segmentation = mask_to_polygons(o.visible_mask)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": o.coco_id,
                "segmentation": segmentation, "area": float(o.visible_mask.sum()),
                "bbox": _xywh(o.box), "iscrowd": int(bool(o.iscrowd)),
                "amodal_segmentation": encode_rle(o.amodal_mask),
                "amodal_bbox": _xywh(o.amodal_box), "depth": round(float(o.depth), 4),
            })
    categories = [{"id": cid, "name": name, "supercategory": COCO_SUPERCATEGORY[cid]}
                  for cid, name in sorted(COCO_CATEGORIES.items())]
    return {
        "info": {"description": f"Pasture mini COCO ({split}), generated by course_lib",
                 "version": "1.0", "contributor": "course_lib.data.pasture",
                 "url": ""},
        "licenses": [{"id": 1, "name": "MIT", "url": "https://opensource.org/licenses/MIT"}],
        "images": images, "annotations": annotations, "categories": categories,
    }


def export_coco(root, train, val) -> Path:
    """Write ``train``/``val`` scenes as a COCO 2017 instances tree under ``root``; returns root."""
    parts = {"train": _check_scenes(train, "train"), "val": _check_scenes(val, "val")}
    seeds = [s.seed for v in parts.values() for s in v]
    if len(set(seeds)) != len(seeds):
        raise ValueError("train and val scenes must have distinct seeds (they give the image ids)")
    root = Path(root)
    for split, items in parts.items():
        for s in items:
            write_jpeg(root / f"{split}2017" / coco_file_name(s.seed + 1), s.image)
        text = json.dumps(coco_dict(items, split=split), separators=(",", ":"), sort_keys=False)
        _write_bytes(root / "annotations" / f"instances_{split}2017.json", text.encode())
    return root


# --------------------------------------------------------------------------- NYU
def nyu_unlabeled(scene: Scene, *, band: int = 2, min_region: int = 12) -> np.ndarray:
    """bool (H, W): pixels a NYUv2-style annotator leaves unlabeled.

    A band of width ``band`` on every region outline (between classes and between
    instances) and every connected region smaller than ``min_region`` pixels.
    """
    from scipy import ndimage as ndi

    if not isinstance(scene, Scene):
        raise TypeError(f"scene must be a pasture.Scene, got {type(scene).__name__}")
    band = check_int(band, "band", low=1)
    min_region = check_int(min_region, "min_region", low=0)
    out = (void_border(scene.dense, band) == VOC_VOID) | (
        void_border(scene.instances, band) == VOC_VOID)
    for k in np.unique(scene.dense):
        comp, n = ndi.label(scene.dense == k)
        if n:
            sizes = np.bincount(comp.ravel())
            small = sizes < min_region
            small[0] = False
            out |= small[comp]
    return out


def nyu_arrays(scenes) -> dict:
    """The arrays of the mini NYUv2 file in the *stored* (transposed) layout; see module doc."""
    scenes = _check_scenes(scenes)
    if not scenes:
        raise ValueError("scenes must not be empty")
    images = np.stack([s.image for s in scenes]).transpose(0, 3, 2, 1)          # N, 3, W, H
    labels = np.stack([np.where(nyu_unlabeled(s), 0, s.dense) for s in scenes])
    instances = np.stack([s.instances for s in scenes])
    depths = np.stack([s.depth for s in scenes]).astype(np.float32)
    if instances.max() > 255:
        raise ValueError("more than 255 instances in one scene do not fit uint8")
    return {
        "images": np.ascontiguousarray(images, np.uint8),
        "depths": np.ascontiguousarray(depths.transpose(0, 2, 1)),
        "labels": np.ascontiguousarray(labels.transpose(0, 2, 1).astype(np.uint16)),
        "instances": np.ascontiguousarray(instances.transpose(0, 2, 1).astype(np.uint8)),
        "names": list(DENSE_CLASSES[1:]),
        "seeds": np.array([s.seed for s in scenes], np.int64),
    }


_MATLAB_CLASS = {"images": "uint8", "depths": "single", "labels": "uint16",
                 "instances": "uint8", "seeds": "int64"}


def _mat_header() -> bytes:
    text = (b"MATLAB 7.3 MAT-file, Platform: course_lib, Created on: (deterministic export) "
            b"HDF5 schema 1.00 .")
    return text.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"


def export_nyu(path, scenes, *, compression: int = 9) -> Path:
    """Write ``scenes`` as a MATLAB v7.3 (HDF5) file laid out like ``nyu_depth_v2_labeled.mat``.

    Parameters
    ----------
    path : str or Path
        The ``.mat`` file to write (its folder is created).
    scenes : sequence of Scene
        All the same size.
    compression : int
        gzip level of the datasets (the real file is uncompressed; h5py reads both).
    """
    import h5py

    arrays = nyu_arrays(scenes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w", libver="earliest", userblock_size=512, track_order=False) as f:
        for key, cls in _MATLAB_CLASS.items():
            data = arrays[key]
            chunks = (1,) + data.shape[1:] if data.ndim > 1 else None
            ds = f.create_dataset(key, data=data, chunks=chunks, track_times=False,
                                  compression="gzip" if chunks else None,
                                  compression_opts=compression if chunks else None,
                                  shuffle=bool(chunks))
            ds.attrs["MATLAB_class"] = np.bytes_(cls)
        refs = f.create_group("#refs#", track_order=False)
        ref_list = []
        for i, name in enumerate(arrays["names"]):
            chars = np.array([[ord(c)] for c in name], np.uint16)          # (len, 1) like MATLAB
            ds = refs.create_dataset(f"n{i}", data=chars, track_times=False)
            ds.attrs["MATLAB_class"] = np.bytes_("char")
            ds.attrs["MATLAB_int_decode"] = np.int32(2)
            ref_list.append(ds.ref)
        names = f.create_dataset("names", shape=(1, len(ref_list)), dtype=h5py.ref_dtype,
                                 track_times=False)
        names[0, :] = ref_list
        names.attrs["MATLAB_class"] = np.bytes_("cell")
    with open(tmp, "r+b") as fh:
        fh.write(_mat_header())
    os.replace(tmp, path)
    return path


def _nyu_help(path) -> str:
    return (f"{path}: expected nyu_depth_v2_labeled.mat (MATLAB v7.3 / HDF5) with datasets "
            "'images', 'depths', 'labels', 'names'. The committed mini file is regenerated by "
            "`make data`; the real file (2.8 GB) is at "
            "http://horatio.cs.nyu.edu/mit/silberman/nyu_depth_v2/nyu_depth_v2_labeled.mat")


def read_nyu(path, *, indices=None) -> dict:
    """Read a NYUv2 labeled ``.mat`` file (the real one or the mini export) into (H, W) arrays.

    Parameters
    ----------
    path : str or Path
    indices : sequence of int, optional
        Which images to read (default all).

    Returns
    -------
    dict
        ``images`` uint8 (N, H, W, 3), ``depths`` float32 (N, H, W) metres,
        ``labels`` int64 (N, H, W) (0 unlabeled, k is ``names[k - 1]``),
        ``instances`` int64 (N, H, W) or ``None``, ``names`` list of str,
        ``seeds`` int64 (N,) or ``None``.

    Raises
    ------
    FileNotFoundError, ValueError
        Missing file, not HDF5, or datasets missing; the message says how to get the data.
    """
    import h5py

    path = check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NYUv2 file {path} does not exist. " + _nyu_help(path))
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"NYUv2 file {path} is not a readable HDF5 file ({err}). "
                         + _nyu_help(path)) from err
    with f:
        missing = [k for k in ("images", "depths", "labels", "names") if k not in f]
        if missing:
            raise ValueError(f"NYUv2 file {path} lacks datasets {missing}. " + _nyu_help(path))
        n = f["images"].shape[0]
        idx = np.arange(n) if indices is None else \
            np.asarray(check_indices(indices, "indices", n), np.int64)
        order = np.argsort(idx)
        sel = idx[order]

        def get(key):
            data = np.stack([f[key][int(i)] for i in sel]) if sel.size else \
                np.zeros((0,) + f[key].shape[1:], f[key].dtype)
            out = np.empty_like(data)
            out[order] = data
            return out

        images = get("images").transpose(0, 3, 2, 1)
        depths = get("depths").transpose(0, 2, 1).astype(np.float32)
        labels = get("labels").transpose(0, 2, 1).astype(np.int64)
        instances = (get("instances").transpose(0, 2, 1).astype(np.int64)
                     if "instances" in f else None)
        names = ["".join(chr(int(c)) for c in np.asarray(f[ref]).ravel())
                 for ref in f["names"][0]]
        seeds = np.asarray(f["seeds"])[idx] if "seeds" in f else None
    return {"images": np.ascontiguousarray(images), "depths": np.ascontiguousarray(depths),
            "labels": np.ascontiguousarray(labels),
            "instances": None if instances is None else np.ascontiguousarray(instances),
            "names": names, "seeds": seeds}
