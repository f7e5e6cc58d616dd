"""im2gps.photos: decoding, orientation, modes, EXIF GPS, collections, bad input."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from im2gps.photos import PhotoCollection, PhotoError, load_image, read_gps


@pytest.fixture()
def real_photo(data_dir) -> Path:
    return data_dir / "im2gps2k" / "images" / "1001087035.jpg"


def _exif_with_gps(lat: float, lon: float) -> Image.Exif:
    exif = Image.Exif()
    gps = exif.get_ifd(0x8825)

    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        d = int(value)
        m = int((value - d) * 60)
        return (float(d), float(m), round((value - d - m / 60) * 3600, 4))

    gps[1] = "N" if lat >= 0 else "S"
    gps[2] = dms(lat)
    gps[3] = "E" if lon >= 0 else "W"
    gps[4] = dms(lon)
    return exif


def test_load_real_photo(real_photo):
    image = load_image(real_photo)
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[:2] == (480, 640)
    assert 20 < image.mean() < 235  # a real photo, not blank


def test_exif_gps_matches_manifest(data_dir, db_table):
    for row in db_table.head(20).itertuples():
        lat, lon = read_gps(data_dir / "im2gps2k" / row.image)
        assert lat == pytest.approx(row.lat, abs=1e-4)
        assert lon == pytest.approx(row.lon, abs=1e-4)


def test_exif_orientation_applied(real_photo, tmp_path):
    upright = load_image(real_photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored rotated: viewer must rotate 90 degrees clockwise
    stored = Image.fromarray(np.rot90(upright, k=1))  # counter-clockwise on disk
    path = tmp_path / "rotated.jpg"
    stored.save(path, quality=95, exif=exif)
    loaded = load_image(path)
    assert loaded.shape == upright.shape
    assert np.abs(loaded.astype(int) - upright.astype(int)).mean() < 6


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1"])
def test_every_mode_becomes_rgb(real_photo, tmp_path, mode):
    rgb = Image.open(real_photo).convert("RGB").resize((64, 48))
    if mode == "I;16":
        values = (np.asarray(rgb.convert("L"), np.uint16) * 257).astype(np.uint16)
        image = Image.fromarray(values)  # uint16 arrays become mode I;16
        assert image.mode == "I;16"
        path = tmp_path / "x.png"
    elif mode in ("I", "F"):
        image = rgb.convert(mode)
        path = tmp_path / "x.tif"
    else:
        image = rgb.convert(mode)
        path = tmp_path / ("x.jpg" if mode in ("L", "CMYK") else "x.png")
    image.save(path)
    loaded = load_image(path)
    assert loaded.dtype == np.uint8 and loaded.shape == (48, 64, 3)
    if mode in ("L", "I;16", "I", "F"):
        gray = np.asarray(rgb.convert("L"), float)
        # 16-bit must be rescaled, not clipped to white
        assert np.corrcoef(loaded[..., 0].ravel(), gray.ravel())[0, 1] > 0.95
        assert loaded.mean() < 250


def test_transparency_over_white(tmp_path):
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:10, :, 3] = 0  # top half transparent
    rgba[10:, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    loaded = load_image(tmp_path / "a.png")
    assert (loaded[:10] == 255).all()
    assert (loaded[10:] == [255, 0, 0]).all()


def test_bad_inputs_each_name_file_and_reason(real_photo, tmp_path):
    cases = {}
    cases["missing"] = (tmp_path / "nope.jpg", "not found")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    cases["empty"] = (empty, "empty")
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo")
    cases["not image"] = (text, "not an image")
    data = real_photo.read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])
    cases["truncated"] = (truncated, "truncated")
    corrupt = tmp_path / "corrupt.jpg"
    broken = bytearray(data)
    broken[600:4000] = bytes(range(256)) * 13 + bytes(3400 - 256 * 13)
    corrupt.write_bytes(bytes(broken))
    for name, (path, reason) in cases.items():
        with pytest.raises(PhotoError) as info:
            load_image(path)
        assert str(path) in str(info.value), name
        if name != "corrupt":
            assert reason in info.value.reason, (name, info.value.reason)
    # the corrupt file either fails with a clear PhotoError or decodes to an array
    try:
        assert load_image(corrupt).shape[2] == 3
    except PhotoError as err:
        assert str(corrupt) in str(err)


def test_pixel_limit(real_photo):
    with pytest.raises(PhotoError, match="pixel limit"):
        load_image(real_photo, max_pixels=100_000)


def test_decompression_bomb_header(tmp_path):
    # a PNG that claims 30000 x 30000 pixels but is tiny on disk
    buffer = io.BytesIO()
    Image.new("L", (30000, 30000)).save(buffer, "PNG")
    path = tmp_path / "bomb.png"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 2_000_000
    with pytest.raises(PhotoError, match="pixel limit"):
        load_image(path)


def test_no_gps_tags(data_dir):
    path = data_dir / "im2gps237" / "images" / "104123223.jpg"  # test photos carry no metadata
    with pytest.raises(PhotoError, match="no GPS"):
        read_gps(path)


@pytest.mark.parametrize(("lat", "lon", "message"), [(95.0, 10.0, "latitude"),
                                                     (10.0, 200.0, "longitude")])
def test_gps_out_of_range(real_photo, tmp_path, lat, lon, message):
    path = tmp_path / "bad_gps.jpg"
    Image.open(real_photo).save(path, exif=_exif_with_gps(lat, lon))
    with pytest.raises(PhotoError, match=message):
        read_gps(path)


def test_folder_collection(data_dir, db_table, tmp_path):
    rows = db_table.head(8)
    folder = tmp_path / "photos"
    (folder / "trip").mkdir(parents=True)
    for i, row in enumerate(rows.itertuples()):
        target = folder / ("trip" if i % 2 else "") / Path(row.image).name
        shutil.copy(data_dir / "im2gps2k" / row.image, target)
    shutil.copy(data_dir / "im2gps237" / "images" / "104123223.jpg", folder / "nogps.jpg")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8garbage")
    (folder / "readme.txt").write_text("not a photo, reported")
    collection = PhotoCollection.open(folder)
    assert len(collection) == 8
    reasons = {Path(s.path).name: s.reason for s in collection.skipped}
    assert set(reasons) == {"nogps.jpg", "broken.jpg", "readme.txt"}
    assert "no GPS position" in reasons["nogps.jpg"]
    assert "not an image" in reasons["readme.txt"]
    by_name = {Path(p).name: c for p, c in zip(collection.paths, collection.coords, strict=True)}
    for row in rows.itertuples():
        assert by_name[Path(row.image).name] == pytest.approx([row.lat, row.lon], abs=1e-4)
    skipped_csv = tmp_path / "skipped.csv"
    collection.write_skipped(skipped_csv)
    frame = pd.read_csv(skipped_csv)
    assert list(frame.columns) == ["path", "reason"] and len(frame) == 3


def test_csv_collection_keeps_extra_columns(data_dir):
    collection = PhotoCollection.open(data_dir / "im2gps237" / "photos.csv")
    assert len(collection) == 237 and not collection.skipped
    assert set(collection.column("scene")) == {"indoor", "natural", "urban"}
    assert Path(collection.paths[0]).is_file()
    assert collection.coords.shape == (237, 2)


def test_csv_collection_skips_bad_rows(data_dir, tmp_path):
    images = data_dir / "im2gps2k" / "images"
    names = sorted(p.name for p in images.iterdir())[:3]
    manifest = tmp_path / "photos.csv"
    lines = ["image,lat,lon,author"]
    lines.append(f"{images / names[0]},10.5,20.5,a")
    lines.append(f"{images / names[1]},nan,20.5,b")  # not finite
    lines.append(f"{images / names[2]},-91,20.5,c")  # out of range
    lines.append(f"{images / names[0]},10.5,20.5,a")  # duplicate
    lines.append("missing.jpg,1,2,d")  # missing file
    manifest.write_text("\n".join(lines) + "\n")
    collection = PhotoCollection.from_csv(manifest)
    assert len(collection) == 1 and collection.table["author"].tolist() == ["a"]
    reasons = " | ".join(s.reason for s in collection.skipped)
    for word in ("line 3: lat 'nan' is not a number", "line 4: latitude -91.0 out of range",
                 "duplicate image in manifest (line 5; first listed on line 2)",
                 "line 6: file not found"):
        assert word in reasons
    assert len(collection.skipped) == 4


def test_csv_missing_columns(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,lat,height\nx.jpg,1,2\n")
    with pytest.raises(PhotoError, match="no lon column in the header 'image,lat,height'"):
        PhotoCollection.from_csv(manifest)
