"""Tests of course_lib.data.datasets on the committed exports and on broken copies of them.

Labels, masks, boxes and NYU arrays must equal the re-rendered Pasture scenes exactly;
JPEG images within a mean absolute difference of 5/255.
"""

import shutil

import numpy as np
import pytest
import torch

from course_lib.data import datasets as D
from course_lib.data import export, formats, pasture

MAD = 5.0 / 255


@pytest.fixture(scope="module")
def val_scenes():
    return pasture.scenes(3, seed=export.VAL_SEED)


@pytest.fixture()
def small_copy(tmp_path):
    """A tiny export in tmp_path that tests may break."""
    export.export(tmp_path, export.ExportSpec(size=48, train=2, val=1, nyu=2))
    return tmp_path


def test_committed_paths_exist():
    assert (D.pasture_voc_root() / "VOCdevkit/VOC2012/JPEGImages").is_dir()
    assert (D.pasture_coco_root() / "annotations/instances_val2017.json").is_file()
    assert D.pasture_nyu_path().is_file()


def test_voc_dataset_items_match_scenes(val_scenes):
    ds = D.VOCSegmentationDataset(D.pasture_voc_root(), "val")
    assert len(ds) == export.QUICK.val
    assert len(D.VOCSegmentationDataset(D.pasture_voc_root(), "train")) == export.QUICK.train
    for i, s in enumerate(val_scenes):
        image, label = ds[i]
        assert image.shape == (3, 128, 128) and image.dtype == torch.float32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert label.dtype == torch.int64 and label.shape == (128, 128)
        expected = torch.from_numpy(s.image).permute(2, 0, 1).float() / 255
        assert (image - expected).abs().mean() < MAD
        cls, obj = formats.voc_targets(s)
        torch.testing.assert_close(label, torch.from_numpy(cls), rtol=0, atol=0)
        assert (label == 255).any()
    _, obj_label = D.VOCSegmentationDataset(D.pasture_voc_root(), "val", target="object")[0]
    torch.testing.assert_close(obj_label, torch.from_numpy(formats.voc_targets(val_scenes[0])[1]),
                               rtol=0, atol=0)


def test_voc_transforms_are_applied():
    flip = lambda image, label: (image.flip(-1), label.flip(-1))
    plain = D.VOCSegmentationDataset(D.pasture_voc_root(), "val")[1]
    flipped = D.VOCSegmentationDataset(D.pasture_voc_root(), "val", transforms=flip)[1]
    torch.testing.assert_close(flipped[1], plain[1].flip(-1))


def test_coco_dataset_items_match_scenes(val_scenes):
    ds = D.COCOInstancesDataset(D.pasture_coco_root(), "val")
    assert len(ds) == export.QUICK.val
    for i, s in enumerate(val_scenes):
        image, target = ds[i]
        assert target["image_id"] == s.seed + 1
        k = len(s.objects)
        assert target["masks"].shape == (k, 128, 128) and target["masks"].dtype == torch.uint8
        torch.testing.assert_close(target["boxes"], torch.from_numpy(s.boxes))
        assert target["labels"].tolist() == [o.coco_id for o in s.objects]
        assert target["iscrowd"].tolist() == [int(o.iscrowd) for o in s.objects]
        for m, am, o in zip(target["masks"], target["amodal_masks"], s.objects):
            assert torch.equal(m.bool(), torch.from_numpy(o.visible_mask))
            assert torch.equal(am.bool(), torch.from_numpy(o.amodal_mask))
        expected = torch.from_numpy(s.image).permute(2, 0, 1).float() / 255
        assert (image - expected).abs().mean() < MAD


def test_coco_contiguous_labels():
    ds = D.COCOInstancesDataset(D.pasture_coco_root(), "val", contiguous_labels=True)
    assert ds.label_names == {1: "person", 2: "dog", 3: "horse", 4: "sheep", 5: "cow"}
    raw = D.COCOInstancesDataset(D.pasture_coco_root(), "val")
    mapping = {1: 1, 18: 2, 19: 3, 20: 4, 21: 5}
    assert ds[0][1]["labels"].tolist() == [mapping[c] for c in raw[0][1]["labels"].tolist()]


def test_nyu_dataset_items_match_scenes():
    ds = D.NYUv2Dataset(D.pasture_nyu_path())
    assert len(ds) == export.QUICK.nyu
    assert ds.names[:4] == ["sky", "grass", "tree", "fence"]
    for i in (0, 7):
        s = pasture.render_scene(i)
        image, label, depth = ds[i]
        assert image.shape == (3, 128, 128) and label.dtype == torch.int64
        torch.testing.assert_close(image, torch.from_numpy(s.image).permute(2, 0, 1) / 255.0,
                                   rtol=0, atol=0)
        torch.testing.assert_close(depth, torch.from_numpy(s.depth), rtol=0, atol=0)
        expected = np.where(formats.nyu_unlabeled(s), 0, s.dense)
        torch.testing.assert_close(label, torch.from_numpy(expected), rtol=0, atol=0)
    sub = D.NYUv2Dataset(D.pasture_nyu_path(), indices=[7])
    torch.testing.assert_close(sub[0][2], ds[7][2])


def test_nyu_dataset_survives_pickling():
    import pickle

    ds = D.NYUv2Dataset(D.pasture_nyu_path(), indices=[0, 1])
    ds[0]                                     # opens the file
    clone = pickle.loads(pickle.dumps(ds))
    torch.testing.assert_close(clone[1][1], ds[1][1])


# ----------------------------------------------------------------- errors
def test_missing_roots_raise_with_help(tmp_path):
    with pytest.raises(D.DatasetNotFoundError, match="VOC root .* does not exist.*make data"):
        D.VOCSegmentationDataset(tmp_path / "nowhere", "train")
    with pytest.raises(FileNotFoundError, match="COCO root .* does not exist.*cocodataset.org"):
        D.COCOInstancesDataset(tmp_path / "nowhere", "val")
    with pytest.raises(FileNotFoundError, match="NYUv2 file .* does not exist.*make data"):
        D.NYUv2Dataset(tmp_path / "nyu.mat")


def test_voc_missing_split_list(small_copy):
    with pytest.raises(D.DatasetNotFoundError, match="test.txt does not exist"):
        D.VOCSegmentationDataset(small_copy / "voc", "test")


def test_voc_missing_image_names_file(small_copy):
    ds = D.VOCSegmentationDataset(small_copy / "voc", "val")
    ds.images[0].unlink()
    with pytest.raises(FileNotFoundError, match="pasture_100000.jpg does not exist.*VOC"):
        ds[0]


def test_voc_corrupt_png_names_file(small_copy):
    ds = D.VOCSegmentationDataset(small_copy / "voc", "val")
    data = ds.targets[0].read_bytes()
    ds.targets[0].write_bytes(data[: len(data) // 2])            # truncated PNG
    with pytest.raises(D.CorruptFileError, match="pasture_100000.png"):
        ds[0]


def test_coco_missing_annotation_file(small_copy):
    (small_copy / "coco/annotations/instances_val2017.json").unlink()
    with pytest.raises(FileNotFoundError, match="instances_val2017.json does not exist"):
        D.COCOInstancesDataset(small_copy / "coco", "val")


def test_coco_corrupt_json_names_file(small_copy):
    path = small_copy / "coco/annotations/instances_val2017.json"
    path.write_text(path.read_text()[:100])
    with pytest.raises(ValueError, match="instances_val2017.json is corrupt"):
        D.COCOInstancesDataset(small_copy / "coco", "val")


def test_coco_missing_image_folder(small_copy):
    shutil.rmtree(small_copy / "coco/val2017")
    with pytest.raises(D.DatasetNotFoundError, match="val2017 does not exist"):
        D.COCOInstancesDataset(small_copy / "coco", "val")


def test_nyu_not_hdf5(tmp_path):
    bad = tmp_path / "nyu.mat"
    bad.write_bytes(b"garbage" * 50)
    with pytest.raises(D.CorruptFileError, match="nyu.mat is not a readable HDF5"):
        D.NYUv2Dataset(bad)


def test_nyu_bad_indices(small_copy):
    with pytest.raises(ValueError, match=r"indices must be in \[0, 2\)"):
        D.NYUv2Dataset(small_copy / "nyu" / formats.NYU_FILE_NAME, indices=[5])


def test_bad_arguments():
    with pytest.raises(ValueError, match="target must be 'class' or 'object'"):
        D.VOCSegmentationDataset(D.pasture_voc_root(), "val", target="parts")
    with pytest.raises(TypeError, match="transforms must be callable"):
        D.VOCSegmentationDataset(D.pasture_voc_root(), "val", transforms=3)
    with pytest.raises(TypeError, match="root must be a str or Path"):
        D.COCOInstancesDataset(None, "val")
    with pytest.raises(ValueError, match="profile must be one of"):
        D.pasture_voc_root("huge")
    with pytest.raises(IndexError, match="out of range"):
        D.VOCSegmentationDataset(D.pasture_voc_root(), "val")[1000]


def test_collate_instances_with_dataloader():
    ds = D.COCOInstancesDataset(D.pasture_coco_root(), "val")
    loader = torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=D.collate_instances)
    images, targets = next(iter(loader))
    assert images.shape == (3, 3, 128, 128) and len(targets) == 3
    assert [t["image_id"] for t in targets] == [100001, 100002, 100003]


# --------------------------------------------------------------------------- issue 13 findings
def test_coco_without_categories_is_a_corrupt_file(small_copy):
    import json
    path = small_copy / "coco/annotations/instances_val2017.json"
    data = json.loads(path.read_text())
    del data["categories"]
    path.write_text(json.dumps(data))
    with pytest.raises(D.CorruptFileError, match=r"instances_val2017.json lacks .*'categories'"):
        D.COCOInstancesDataset(small_copy / "coco", "val")


@pytest.mark.parametrize("indices, error, match", [
    ("12", TypeError, "indices must be a sequence of integers, got str"),
    ([0.0], TypeError, r"indices\[0\] must be an integer, got float"),
    ([True], TypeError, r"indices\[0\] must be an integer, got bool"),
])
def test_nyu_indices_must_be_integers(small_copy, indices, error, match):
    path = small_copy / "nyu" / formats.NYU_FILE_NAME
    with pytest.raises(error, match=match):
        D.NYUv2Dataset(path, indices=indices)
    with pytest.raises(error, match=match):
        formats.read_nyu(path, indices=indices)
    assert len(D.NYUv2Dataset(path, indices=np.array([1, 0]))) == 2


def test_voc_target_of_another_type_is_refused():
    # found by tests/test_properties.py (issue 13): an array target gave "truth value ambiguous"
    for bad in (np.zeros((0, 0, 3)), np.array(["class"]), 1):
        with pytest.raises(ValueError, match=r"^target must be 'class' or 'object'"):
            D.VOCSegmentationDataset(D.pasture_voc_root(), "val", target=bad)
