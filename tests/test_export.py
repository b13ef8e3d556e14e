"""Tests of course_lib.data.export: `make data` reproduces the committed files byte for byte."""

import numpy as np
import pytest

from course_lib import config
from course_lib.data import export, manifest


@pytest.mark.slow
def test_regenerated_exports_match_manifest(tmp_path):
    data = config.data_dir()
    entries, libs = manifest.read(data / manifest.MANIFEST_NAME)
    now = manifest.versions()
    changed = {k: (v, now.get(k)) for k, v in libs.items() if now.get(k) != v}
    if changed:
        pytest.skip(f"library versions differ from those that wrote data/ ({changed}); "
                    "JPEG/PNG/HDF5 bytes may legitimately differ")
    assert export.main(["--out", str(tmp_path)]) == 0       # the exact `make data` command
    regenerated = manifest.compute(tmp_path)
    assert sorted(regenerated) == sorted(entries), "different file lists"
    bad = [rel for rel, digest in entries.items() if regenerated[rel] != digest]
    assert not bad, f"{len(bad)} regenerated files differ from data/MANIFEST, e.g. {bad[:3]}"


def test_export_only_touches_its_folders(tmp_path):
    keep = tmp_path / "README.md"
    keep.write_text("keep me")
    stale = tmp_path / "voc" / "stale.txt"
    stale.parent.mkdir()
    stale.write_text("old")
    sp = export.ExportSpec(size=64, train=3, val=2, nyu=2)
    paths = export.export(tmp_path, sp, only=("voc", "nyu"))
    assert keep.read_text() == "keep me" and not stale.exists()
    assert not (tmp_path / "coco").exists()
    names = (paths["voc"] / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").read_text()
    assert names.split() == ["pasture_100000", "pasture_100001"]
    assert paths["nyu"].is_file()


def test_spec_of_profiles():
    assert export.spec("quick") == export.QUICK == export.ExportSpec(128, 300, 100, 100)
    full = export.spec("full")
    assert full.size == config.settings("full").image_size and full.nyu <= full.train


def test_export_rejects_bad_spec_and_format(tmp_path):
    with pytest.raises(ValueError, match="spec.nyu"):
        export.export(tmp_path, export.ExportSpec(train=2, val=1, nyu=5))
    with pytest.raises(ValueError, match="only must name formats"):
        export.export(tmp_path, export.ExportSpec(train=2, val=1, nyu=1), only=("kitti",))
    with pytest.raises(TypeError, match="sp must be an ExportSpec"):
        export.export(tmp_path, {"train": 2})


def test_export_full_writes_once_into_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(export, "spec", lambda profile=None: export.ExportSpec(48, 2, 1, 1))
    paths = export.export_full(verbose=False)
    assert paths["voc"] == tmp_path / "pasture_full" / "voc" and paths["nyu"].is_file()
    stamp = tmp_path / "pasture_full" / "EXPORT_SPEC"
    mtime = paths["nyu"].stat().st_mtime_ns
    assert export.export_full(verbose=False) == paths                   # cached: not rewritten
    assert paths["nyu"].stat().st_mtime_ns == mtime and stamp.is_file()


# --------------------------------------------------------------------------- issue 13 findings
@pytest.mark.parametrize("kwargs, error, match", [
    ({"size": True}, TypeError, r"^spec.size must be an integer, got bool"),
    ({"size": 128.0}, TypeError, r"^spec.size must be an integer, got float"),
    ({"train": "2"}, TypeError, r"^spec.train must be an integer, got str"),
    ({"size": 16}, ValueError, r"^spec.size must be an integer >= 32, got 16"),
    ({"val": 0}, ValueError, r"^spec.val must be an integer >= 1, got 0"),
])
def test_export_spec_of_a_wrong_type_or_range(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        export.export(tmp_path, export.ExportSpec(**{"train": 2, "val": 1, "nyu": 1, **kwargs}))
    assert not any(tmp_path.iterdir())                  # refused before writing anything


def test_export_spec_accepts_numpy_integers():
    export._check_spec(export.ExportSpec(np.int64(64), np.int32(2), np.int64(1), np.int16(1)))
