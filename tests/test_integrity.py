"""Index integrity on real photos: what `locate` and `index verify` catch, and when.

Every check here tampers with a real index the way damage or a careless edit
would (a flipped byte, same file size) and asserts which command refuses it:

* ``faiss.index`` and ``photos.parquet``: every load hashes them (they are read
  whole anyway), so ``locate`` refuses before answering;
* re-ranking rows of a compressed index: checked against their CRC-32 as they
  are read, so ``locate`` refuses before a tampered distance is used;
* feature files: no query reads them (an exact index searches ``faiss.index``,
  a compressed one re-ranks from ``rerank/``), so ``locate`` answers exactly
  as before and ``index verify`` names the file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from im2gps.cli import EXIT_DATA, EXIT_OK, main
from im2gps.index import GeoIndex, IndexFormatError, build_index
from im2gps.index.store import manifest_digest

FAST = ["tiny", "color"]
N = 60


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("integrity")
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:N].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp / "db.csv", index=False)
    exact = build_index(tmp / "db.csv", tmp / "exact", features=FAST, progress=False)
    # the same features (extraction is checkpointed per output, so extract again: small)
    compressed = build_index(tmp / "db.csv", tmp / "ivfpq", features=FAST,
                             index_type="IVF4,PQ16x4", search={"nprobe": 4, "rerank": N},
                             progress=False)
    return {"exact": exact.path, "compressed": compressed.path,
            "photo": Path(table["image"].iloc[5])}


def _copy(path: Path, tmp_path: Path) -> Path:
    target = tmp_path / path.name
    shutil.copytree(path, target)
    return target


def _flip(file: Path, offset: int) -> None:
    data = bytearray(file.read_bytes())
    data[offset] ^= 0x5A
    file.write_bytes(bytes(data))


def _locate(index: Path, photo: Path, capsys) -> tuple[int, str, str]:
    code = main(["locate", str(index), str(photo), "--json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_intact_index_verifies(built, capsys):
    for path in (built["exact"], built["compressed"]):
        assert main(["index", "verify", str(path), "--json"]) == EXIT_OK
        report = json.loads(capsys.readouterr().out)
        assert report["ok"] and report["files"] >= 6


def test_tampered_feature_file_cannot_change_an_answer(built, tmp_path, capsys):
    """locate reads no feature file: same answer; index verify names the file."""
    for kind in ("exact", "compressed"):
        _, before, _ = _locate(built[kind], built["photo"], capsys)
        path = _copy(built[kind], tmp_path / kind)
        _flip(path / "features" / "color.npy", -100)
        code, after, _ = _locate(path, built["photo"], capsys)
        assert code == EXIT_OK and json.loads(after) == json.loads(before)
        assert main(["index", "verify", str(path)]) == EXIT_DATA
        err = capsys.readouterr().err
        assert "color.npy: sha256 does not match" in err and "rebuild" in err


def test_tampered_faiss_file_is_refused_by_locate(built, tmp_path, capsys):
    path = _copy(built["exact"], tmp_path)
    _flip(path / "faiss.index", (path / "faiss.index").stat().st_size // 2)
    code, out, err = _locate(path, built["photo"], capsys)
    assert code == EXIT_DATA and out == ""
    assert "faiss.index: sha256 does not match" in err


def test_tampered_rerank_row_is_refused_before_it_is_used(built, tmp_path, capsys):
    path = _copy(built["compressed"], tmp_path)
    vectors = path / "rerank" / "vectors.npy"
    codes = np.load(vectors, mmap_mode="r")
    header = vectors.stat().st_size - codes.size * codes.itemsize
    _flip(vectors, header + 5 * codes.shape[1] + 7)  # row 5: the query photo itself
    del codes
    GeoIndex.load(path)  # the load-time checks do not read rows
    code, out, err = _locate(path, built["photo"], capsys)
    assert code == EXIT_DATA and out == ""
    assert "vectors.npy" in err and "row 5" in err and "checksum" in err
    assert main(["index", "verify", str(path)]) == EXIT_DATA


def test_tampered_row_checksums_are_refused(built, tmp_path):
    path = _copy(built["compressed"], tmp_path)
    crc = path / "rerank" / "crc32.npy"
    _flip(crc, crc.stat().st_size - 4 * (N - 5))  # the checksum of row 5
    index = GeoIndex.load(path)
    with pytest.raises(IndexFormatError, match="crc32.npy: checksums of rows"):
        index.rerank_vectors(np.arange(N))


def test_edited_manifest_is_refused(built, tmp_path):
    path = _copy(built["exact"], tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["features"][0]["scale"] *= 2
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="manifest.*own sha256.*rebuild"):
        GeoIndex.load(path)


def test_format_1_is_refused_with_rebuild(built, tmp_path, capsys):
    path = _copy(built["exact"], tmp_path)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["format_version"] = 1
    manifest.pop("manifest_sha256")
    manifest["manifest_sha256"] = manifest_digest(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = _locate(path, built["photo"], capsys)
    assert code == EXIT_DATA
    assert "format version 1" in err and "rebuild it with `im2gps index build`" in err


def test_matrix_header_is_checked_at_load(built, tmp_path):
    """A feature file replaced by another matrix of the same byte size."""
    path = _copy(built["exact"], tmp_path)
    tiny = path / "features" / "tiny.npy"
    matrix = np.load(tiny)
    np.save(tiny, matrix.reshape(N * 2, -1))
    with pytest.raises(IndexFormatError, match=r"tiny\.npy: a float32 matrix of shape"):
        GeoIndex.load(path)


def test_verify_lists_every_damaged_file(built, tmp_path, capsys):
    """index verify checks every file: two damaged files are both listed, also in JSON."""
    path = _copy(built["compressed"], tmp_path)
    _flip(path / "features" / "color.npy", -100)
    (path / "skipped.csv").write_text("truncated")
    assert main(["index", "verify", str(path), "--json"]) == EXIT_DATA
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    assert {Path(p["file"]).name: p["reason"] for p in report["problems"]}.keys() == {
        "color.npy", "skipped.csv"}
    assert all("rebuild" in p["reason"] or "restore" in p["reason"] for p in report["problems"])
    assert main(["index", "verify", str(path)]) == EXIT_DATA
    err = capsys.readouterr().err
    assert "2 damaged file(s)" in err
    assert "color.npy: sha256 does not match" in err and "skipped.csv: " in err
    from im2gps.index.store import IndexDamagedError, verify_index

    with pytest.raises(IndexDamagedError, match="2 damaged") as caught:
        verify_index(path)
    assert len(caught.value.problems) == 2
    # a damaged manifest: JSON still says so
    (path / "manifest.json").write_text("{")
    assert main(["index", "verify", str(path), "--json"]) == EXIT_DATA
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["problems"][0]["file"].endswith("manifest.json")


def test_damaged_npy_header_text_is_a_format_error(built, tmp_path, capsys):
    """A header whose text no longer parses (a tokenize error in numpy) is named, exit 3."""
    path = _copy(built["exact"], tmp_path)
    file = path / "features" / "tiny.npy"
    data = file.read_bytes()
    at = data.index(b"'shape': (") + len("'shape': ")
    file.write_bytes(data[:at] + b")" + data[at + 1:])
    with pytest.raises(IndexFormatError, match=r"tiny\.npy: not a \.npy file"):
        GeoIndex.load(path)
    code, out, err = _locate(path, built["photo"], capsys)
    assert code == EXIT_DATA and out == "" and "tiny.npy" in err
    assert main(["index", "verify", str(path), "--json"]) == EXIT_DATA
    report = json.loads(capsys.readouterr().out)
    assert [Path(p["file"]).name for p in report["problems"]] == ["tiny.npy"]


def test_header_message_grammar(tmp_path):
    from im2gps.index.store import _check_header

    np.save(tmp_path / "m.npy", np.zeros((2, 3), np.int32))
    with pytest.raises(IndexFormatError, match=r"m\.npy: an int32 matrix of shape \(2, 3\)"):
        _check_header(tmp_path / "m.npy", (2, 3), "float32")
