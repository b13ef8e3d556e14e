"""Tests of course_lib.data.formats: every export round-trips through its real loader.

Tolerances: labels, instance maps, RLE masks and NYU arrays are compared exactly;
JPEG images (quality 90) within a mean absolute difference of 5/255 (measured on
the 400 committed images: mean 3.4/255, worst 4.2/255); COCO polygons decode to
the visible mask with IoU >= 0.9 required (measured: 1.0, exact, on all 1569
polygon annotations of the committed export).
"""

import contextlib
import io
import json

import h5py
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from torchvision.datasets import VOCSegmentation

from course_lib.data import formats, pasture
from course_lib.data.classes import DENSE_CLASSES, VOC_VOID

JPEG_MAD = 5.0  # mean |decoded - original| in grey levels
# pycocotools 2.0.x under NumPy 2 warns on every decode; harmless.
pytestmark = pytest.mark.filterwarnings("ignore:.*__array__ implementation:DeprecationWarning")


@pytest.fixture(scope="module")
def split_scenes():
    return pasture.scenes(6, seed=0), pasture.scenes(3, seed=100000)


@pytest.fixture(scope="module")
def exported(tmp_path_factory, split_scenes):
    train, val = split_scenes
    root = tmp_path_factory.mktemp("export")
    formats.export_voc(root / "voc", train, val)
    formats.export_coco(root / "coco", train, val)
    formats.export_nyu(root / "nyu" / formats.NYU_FILE_NAME, train)
    return root


def _coco(path):
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def test_voc_colormap_known_entries():
    cmap = formats.voc_colormap()
    assert cmap.shape == (256, 3) and cmap.dtype == np.uint8
    assert tuple(cmap[0]) == (0, 0, 0)
    assert tuple(cmap[1]) == (128, 0, 0)        # aeroplane
    assert tuple(cmap[15]) == (192, 128, 128)   # person
    assert tuple(cmap[255]) == (224, 224, 192)  # void


def test_voc_round_trip_through_torchvision(exported, split_scenes):
    train, val = split_scenes
    for split, scenes in (("train", train), ("val", val), ("trainval", train + val)):
        ds = VOCSegmentation(str(exported / "voc"), year="2012", image_set=split,
                             download=False)
        assert len(ds) == len(scenes)
        for (img, target), s in zip(ds, scenes):
            assert target.mode == "P"
            assert target.getpalette()[:48] == formats.voc_colormap(16).ravel().tolist()
            cls, _ = formats.voc_targets(s)
            np.testing.assert_array_equal(np.asarray(target), cls)
            diff = np.abs(np.asarray(img, np.float64) - s.image)
            assert diff.mean() < JPEG_MAD, f"JPEG mean abs diff {diff.mean():.2f}"


def test_voc_targets_void_and_objects(split_scenes):
    s = split_scenes[0][0]
    cls, obj = formats.voc_targets(s)
    void = cls == VOC_VOID
    assert 0 < void.mean() < 0.3
    np.testing.assert_array_equal(cls[~void], s.label[~void])
    np.testing.assert_array_equal(obj == VOC_VOID, void | np.isin(
        s.instances, [o.instance_id for o in s.objects if o.iscrowd]))
    keep = obj != VOC_VOID
    np.testing.assert_array_equal(obj[keep], s.instances[keep])


def test_voc_object_png_round_trip(exported, split_scenes):
    s = split_scenes[0][1]
    path = exported / "voc/VOCdevkit/VOC2012/SegmentationObject" / f"{formats.voc_stem(s.seed)}.png"
    np.testing.assert_array_equal(formats.read_label_png(path), formats.voc_targets(s)[1])


def test_coco_round_trip_through_pycocotools(exported, split_scenes):
    train, val = split_scenes
    for split, scenes in (("train", train), ("val", val)):
        coco = _coco(exported / f"coco/annotations/instances_{split}2017.json")
        assert sorted(coco.getCatIds()) == [1, 18, 19, 20, 21]
        assert coco.cats[21]["name"] == "cow" and coco.cats[1]["supercategory"] == "person"
        for s in scenes:
            info = coco.imgs[s.seed + 1]
            img = np.asarray(Image.open(exported / f"coco/{split}2017" / info["file_name"]))
            assert np.abs(img.astype(float) - s.image).mean() < JPEG_MAD
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[s.seed + 1]))
            assert len(anns) == len(s.objects)
            for a, o in zip(anns, s.objects):
                assert a["category_id"] == o.coco_id and a["iscrowd"] == int(o.iscrowd)
                x0, y0, x1, y1 = o.box
                assert a["bbox"] == [x0, y0, x1 - x0, y1 - y0]
                assert a["area"] == o.visible_mask.sum()
                mask = coco.annToMask(a).astype(bool)
                if o.iscrowd:
                    assert isinstance(a["segmentation"]["counts"], str)
                    np.testing.assert_array_equal(mask, o.visible_mask)        # RLE: exact
                else:
                    assert isinstance(a["segmentation"], list)
                    iou = (mask & o.visible_mask).sum() / (mask | o.visible_mask).sum()
                    assert iou >= 0.9, f"polygon IoU {iou:.3f}"
                amodal = formats.decode_rle(a["amodal_segmentation"])
                np.testing.assert_array_equal(amodal, o.amodal_mask)


def test_polygons_exact_on_holes_and_thin_parts():
    mask = np.zeros((12, 12), bool)
    mask[2:10, 2:10] = True
    mask[4:6, 4:7] = False            # a hole
    mask[0:12, 11] = True             # a one-pixel-wide line
    mask[0, 0] = True                 # an isolated pixel
    polys = formats.mask_to_polygons(mask)
    from pycocotools import mask as mask_utils
    decoded = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polys, 12, 12)))
    np.testing.assert_array_equal(decoded.astype(bool), mask)
    assert formats.mask_to_polygons(np.zeros((5, 5), bool)) == []


def test_rle_round_trip():
    rng = np.random.default_rng(0)
    mask = rng.random((17, 23)) < 0.3
    rle = formats.encode_rle(mask)
    assert rle["size"] == [17, 23] and isinstance(rle["counts"], str)
    json.dumps(rle)
    np.testing.assert_array_equal(formats.decode_rle(rle), mask)


def test_coco_json_has_no_volatile_fields(exported):
    text = (exported / "coco/annotations/instances_val2017.json").read_text()
    data = json.loads(text)
    assert "date_created" not in data["info"]
    assert all("date_captured" not in im for im in data["images"])


def test_nyu_round_trip(exported, split_scenes):
    train = split_scenes[0]
    path = exported / "nyu" / formats.NYU_FILE_NAME
    with h5py.File(path, "r") as f:                      # the real file's stored layout
        assert f["images"].shape == (len(train), 3, 128, 128) and f["images"].dtype == np.uint8
        assert f["labels"].dtype == np.uint16 and f["depths"].dtype == np.float32
        assert f["images"].attrs["MATLAB_class"] == b"uint8"
        raw = f["images"][2]
    np.testing.assert_array_equal(raw.transpose(2, 1, 0), train[2].image)
    assert path.read_bytes()[:19] == b"MATLAB 7.3 MAT-file"
    d = formats.read_nyu(path)
    assert d["names"] == list(DENSE_CLASSES[1:])
    np.testing.assert_array_equal(d["seeds"], [s.seed for s in train])
    for i, s in enumerate(train):
        np.testing.assert_array_equal(d["images"][i], s.image)
        np.testing.assert_array_equal(d["depths"][i], s.depth)
        np.testing.assert_array_equal(d["instances"][i], s.instances)
        unlabeled = formats.nyu_unlabeled(s)
        np.testing.assert_array_equal(d["labels"][i], np.where(unlabeled, 0, s.dense))
    coverage = (d["labels"] > 0).mean()
    assert 0.8 <= coverage <= 0.95, f"NYU-like label coverage expected, got {coverage:.3f}"
    sub = formats.read_nyu(path, indices=[4, 1])
    np.testing.assert_array_equal(sub["labels"], d["labels"][[4, 1]])
    np.testing.assert_array_equal(sub["seeds"], [4, 1])


def test_exports_are_byte_for_byte_deterministic(tmp_path, exported, split_scenes):
    train, val = split_scenes
    formats.export_voc(tmp_path / "voc", train, val)
    formats.export_coco(tmp_path / "coco", train, val)
    formats.export_nyu(tmp_path / "nyu" / formats.NYU_FILE_NAME, train)
    files = sorted(p.relative_to(exported) for p in exported.rglob("*") if p.is_file())
    again = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert files == again and len(files) > 20
    for rel in files:
        assert (exported / rel).read_bytes() == (tmp_path / rel).read_bytes(), str(rel)


def test_write_label_png_rejects_out_of_range(tmp_path):
    with pytest.raises(ValueError, match=r"label values must be in \[0, 255\]"):
        formats.write_label_png(tmp_path / "x.png", np.full((4, 4), 300))


def test_write_jpeg_rejects_non_uint8(tmp_path):
    with pytest.raises(ValueError, match=r"image must be a non-empty uint8 \(H, W, 3\)"):
        formats.write_jpeg(tmp_path / "x.jpg", np.zeros((4, 4, 3), np.float32))


def test_read_label_png_missing_and_corrupt(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        formats.read_label_png(tmp_path / "none.png")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    with pytest.raises(ValueError, match="bad.png is corrupt"):
        formats.read_label_png(bad)


def test_mask_to_polygons_rejects_3d():
    with pytest.raises(ValueError, match="mask must be 2-D"):
        formats.mask_to_polygons(np.zeros((2, 3, 3), bool))


def test_export_rejects_single_scene_and_duplicate_seeds(tmp_path, split_scenes):
    train, _ = split_scenes
    with pytest.raises(TypeError, match="train must be a sequence of Scene"):
        formats.export_voc(tmp_path, train[0], [])
    with pytest.raises(ValueError, match="distinct seeds"):
        formats.export_coco(tmp_path, train[:2], train[:1])


def test_read_nyu_missing_and_not_hdf5(tmp_path):
    with pytest.raises(FileNotFoundError, match="nyu_depth_v2_labeled.mat"):
        formats.read_nyu(tmp_path / "missing.mat")
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    with pytest.raises(ValueError, match="not a readable HDF5"):
        formats.read_nyu(bad)


# --------------------------------------------------------------------------- issue 13 findings
def test_rle_and_polygons_follow_one_mask_rule():
    mask = np.zeros((6, 6))
    mask[1:4, 2:5] = 1.0                          # a float 0/1 mask: both accept it alike
    from pycocotools import mask as mask_utils
    decoded = formats.decode_rle(formats.encode_rle(mask))
    assert decoded.sum() == 9
    rle = mask_utils.frPyObjects(formats.mask_to_polygons(mask), 6, 6)
    assert mask_utils.decode(mask_utils.merge(rle)).astype(bool).sum() == 9
    half = mask * 0.5                             # 0.5 used to be "in" for one, "out" for the other
    for fn in (formats.encode_rle, formats.mask_to_polygons):
        with pytest.raises(ValueError, match=r"mask must hold only 0 and 1.*\[0.5\]"):
            fn(half)


@pytest.mark.parametrize("rle, error, match", [
    ({"size": [4, 4, 1], "counts": "0"}, ValueError, r"rle\['size'\] must be \[height, width\]"),
    ({"size": [4.5, 4], "counts": "0"}, TypeError, r"rle\['size'\]\[0\] must be an integer"),
    ({"size": [2, 2], "counts": 7}, TypeError, r"rle\['counts'\] must be a list"),
    ({"size": [2, 2], "counts": [1, 2]}, ValueError, "runs add up to 3 pixels"),
])
def test_decode_rle_rejects_malformed_rle(rle, error, match):
    with pytest.raises(error, match=match):
        formats.decode_rle(rle)
