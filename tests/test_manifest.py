"""Tests of course_lib.data.manifest: --check passes on the committed data and names bad files."""

import shutil

import pytest

from course_lib import config
from course_lib.data import export, manifest


@pytest.fixture()
def tiny_data(tmp_path):
    export.export(tmp_path, export.ExportSpec(size=48, train=2, val=1, nyu=1))
    manifest.write(tmp_path)
    return tmp_path


def test_committed_data_matches_manifest():
    assert manifest.check(config.data_dir()) == []


def test_check_cli_ok(tiny_data, capsys):
    assert manifest.main(["--check", "--root", str(tiny_data)]) == 0
    assert "data check OK" in capsys.readouterr().out


def test_check_names_changed_file(tiny_data, capsys):
    png = next((tiny_data / "voc").rglob("*.png"))
    png.write_bytes(png.read_bytes() + b"\0")
    assert manifest.main(["--check", "--root", str(tiny_data)]) == 1
    err = capsys.readouterr().err
    assert f"changed: {png}" in err and "make data" in err


def test_check_names_missing_file(tiny_data, capsys):
    mat = next((tiny_data / "nyu").glob("*.mat"))
    mat.unlink()
    assert manifest.main(["--root", str(tiny_data)]) == 1
    err = capsys.readouterr().err
    assert f"missing: {mat}" in err and "make data" in err


def test_check_reports_unlisted_file(tiny_data):
    extra = tiny_data / "coco" / "extra.json"
    extra.write_text("{}")
    assert manifest.check(tiny_data) == [f"unexpected: {extra} (not listed in MANIFEST)"]


def test_missing_manifest_says_how_to_fix(tiny_data, capsys):
    (tiny_data / "MANIFEST").unlink()
    assert manifest.main(["--check", "--root", str(tiny_data)]) == 1
    assert "make data" in capsys.readouterr().err


def test_malformed_manifest_line(tiny_data):
    path = tiny_data / "MANIFEST"
    path.write_text(path.read_text() + "not a checksum line\n")
    with pytest.raises(ValueError, match="expected '<sha256>  <path>'"):
        manifest.read(path)


def test_write_refuses_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no export files"):
        manifest.write(tmp_path)


def test_manifest_records_versions(tiny_data):
    entries, libs = manifest.read(tiny_data / "MANIFEST")
    assert libs == manifest.versions()
    assert all(len(d) == 64 for d in entries.values())
    shutil.rmtree(tiny_data / "voc")
    assert all(p.startswith("missing") for p in manifest.check(tiny_data)
               if "/voc/" in p)
