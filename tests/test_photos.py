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
                 "line 5: duplicate image in manifest (first listed on line 2)",
                 "line 6: file not found"):
        assert word in reasons
    assert len(collection.skipped) == 4


def test_csv_missing_columns(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("image,lat,height\nx.jpg,1,2\n")
    with pytest.raises(PhotoError, match="no lon column in the header 'image,lat,height'"):
        PhotoCollection.from_csv(manifest)


# -- formats and sizes people have --------------------------------------------------
@pytest.mark.parametrize("suffix", [".heic", ".avif", ".webp", ".tif", ".png"])
def test_formats_with_gps(real_photo, tmp_path, suffix):
    """iPhone HEIC (pillow-heif), AVIF, WebP, TIFF, PNG: decoded, and their EXIF GPS read."""
    exif = _exif_with_gps(-33.8694, 151.2083)
    path = tmp_path / f"photo{suffix}"
    with Image.open(real_photo) as image:
        image.save(path, exif=exif.tobytes())  # Pillow's AVIF writer takes bytes only
    image = load_image(path)
    assert image.shape == (480, 640, 3) and 20 < image.mean() < 235
    assert np.abs(image.astype(int) - load_image(real_photo)).mean() < 12  # same picture
    assert read_gps(path) == pytest.approx((-33.8694, 151.2083), abs=1e-4)
    collection = PhotoCollection.open(tmp_path)
    assert collection.ids == [f"photo{suffix}"] and not collection.skipped


def test_big_jpeg_decoded_at_reduced_scale(real_photo, tmp_path):
    """A 12-megapixel JPEG decodes at 1/4 scale for features: its longer side >= 800."""
    from im2gps.photos import DECODE_SIDE

    path = tmp_path / "big.jpg"
    with Image.open(real_photo) as image:
        image.resize((4000, 3000), Image.BICUBIC).save(path, quality=90)
    full = load_image(path)
    reduced = load_image(path, max_side=DECODE_SIDE)
    assert full.shape == (3000, 4000, 3)
    assert reduced.shape == (750, 1000, 3)  # the DCT scale keeping >= 800 px
    small = np.asarray(Image.fromarray(full).resize((1000, 750), Image.BOX), dtype=float)
    assert np.abs(small - reduced).mean() < 3  # the same picture, not a crop or a blur
    assert load_image(real_photo, max_side=DECODE_SIDE).shape == (480, 640, 3)  # small: as is


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width x height`` pixels, with no pixel data."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def test_pixel_limit_for_big_phone_photos(tmp_path, real_photo):
    """108 and 200-megapixel photos pass the documented limit; 400 MP is refused;
    --max-pixels (max_pixels) moves the limit both ways."""
    for width, height in [(12000, 9000), (16320, 12240)]:
        path = tmp_path / f"{width}.png"
        path.write_bytes(_png_header(width, height))
        with pytest.raises(PhotoError) as caught:
            load_image(path)
        assert "pixel limit" not in caught.value.reason  # it fails later, on missing data
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(20000, 20000))
    with pytest.raises(PhotoError, match="over the pixel limit.*--max-pixels"):
        load_image(bomb)
    with pytest.raises(PhotoError, match="over the pixel limit"):
        load_image(real_photo, max_pixels=100_000)
    with pytest.raises(PhotoError) as caught:
        load_image(bomb, max_pixels=500_000_000)
    assert "pixel limit" not in caught.value.reason


@pytest.mark.parametrize("size", [(1, 1), (3, 3), (2000, 2), (2, 2000)])
def test_tiny_images_refused(tmp_path, size):
    path = tmp_path / "tiny.png"
    Image.new("RGB", size, "gray").save(path)
    with pytest.raises(PhotoError, match=f"too small: {size[0]}x{size[1]} pixels") as caught:
        load_image(path)
    assert caught.value.path == str(path)


def test_folder_reports_every_file_it_does_not_take(data_dir, tmp_path):
    shutil.copy(data_dir / "im2gps2k" / "images" / "1001087035.jpg", tmp_path / "a.jpg")
    (tmp_path / "IMG_0002.CR2").write_bytes(b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(64))
    (tmp_path / "IMG_0003.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + bytes(64))
    (tmp_path / ".DS_Store").write_bytes(bytes(64))
    (tmp_path / "notes.txt").write_text("trip notes")
    collection = PhotoCollection.open(tmp_path)
    assert collection.ids == ["a.jpg"]
    reasons = {Path(s.path).name: s.reason for s in collection.skipped}
    assert set(reasons) == {"IMG_0002.CR2", "IMG_0003.MOV", ".DS_Store", "notes.txt"}
    assert "camera raw (.cr2)" in reasons["IMG_0002.CR2"]
    assert "video (.mov)" in reasons["IMG_0003.MOV"]
    assert "hidden file" in reasons[".DS_Store"]
    assert "not an image" in reasons["notes.txt"]


# -- manifests ------------------------------------------------------------------------
def test_csv_headers_and_coordinate_notations(data_dir, tmp_path):
    images = data_dir / "im2gps2k" / "images"
    names = sorted(p.name for p in images.iterdir())[:4]
    manifest = tmp_path / "photos.csv"
    manifest.write_text(
        "\ufeff Image , Latitude ,LONGITUDE, Author\n"
        f"{images / names[0]},40°14'36.1\"N,3°42'W,a\n"
        f"{images / names[1]},40.2434N,3.7W,b\n"
        f"{images / names[2]},-33.8694,151.2083,c\n"
        f"{images / names[3]},S 33 52 10,E 151 12 30,d\n", encoding="utf-8")
    collection = PhotoCollection.from_csv(manifest)
    assert not collection.skipped and collection.table["author"].tolist() == list("abcd")
    assert collection.coords == pytest.approx(np.array([
        [40.24336111, -3.7], [40.2434, -3.7], [-33.8694, 151.2083],
        [-33.86944444, 151.20833333]]), abs=1e-6)
    geo = tmp_path / "geoestimation.csv"  # GeoEstimation's im2gps3k metadata layout
    geo.write_text("IMG_ID,AUTHOR,LAT,LON\n" + "".join(
        f"{name},x{i},{10 + i},{20 + i}\n" for i, name in enumerate(names[:2])))
    collection = PhotoCollection.from_csv(geo, images=images)
    assert collection.ids == names[:2]
    assert collection.column("author").tolist() == ["x0", "x1"]


def test_csv_errors_quote_text_and_line(data_dir, tmp_path):
    images = data_dir / "im2gps2k" / "images"
    name = sorted(p.name for p in images.iterdir())[0]
    manifest = tmp_path / "photos.csv"
    manifest.write_text("image,lat,lon\n"
                        + "".join(f"{images / name},1,{i}\n".replace(name, f"{i}.jpg")
                                  for i in range(11))
                        + f"{images / name},\"40,24\",3.5\n"
                        + f"{images / name},12N,4W,extra\n")
    collection = PhotoCollection.from_csv(manifest, check_files=False)
    reasons = [s.reason for s in collection.skipped]
    assert "line 13: lat '40,24' is not a number (a decimal comma? write degrees with a " \
           "decimal point)" in reasons
    assert "line 14: 4 fields, the header has 3" in reasons
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(PhotoError, match="empty.csv: empty CSV manifest"):
        PhotoCollection.from_csv(empty)
    latin = tmp_path / "latin.csv"
    latin.write_bytes("image,lat,lon\nS\xe3o Paulo.jpg,-23.5,-46.6\n".encode("latin-1"))
    with pytest.raises(PhotoError, match=r"latin.csv: not UTF-8 text \(byte 0xe3"):
        PhotoCollection.from_csv(latin)


def test_odd_files_and_ambiguous_manifests(data_dir, tmp_path):
    import os

    shutil.copy(data_dir / "im2gps2k" / "images" / "1001087035.jpg", tmp_path / "a.jpg")
    os.mkfifo(tmp_path / "pipe.jpg")
    collection = PhotoCollection.open(tmp_path)  # must not hang on the FIFO
    assert collection.ids == ["a.jpg"]
    assert "not a regular file" in collection.skipped[0].reason
    manifest = tmp_path / "both.csv"
    manifest.write_text("image,latitude,longitude,lat,lon\na.jpg,10.5,20.5,11,21\n")
    with pytest.raises(PhotoError, match=r"columns \['latitude', 'lat'\] all name the latitude"):
        PhotoCollection.from_csv(manifest)
    manifest = tmp_path / "odd.csv"
    (tmp_path / "folder").mkdir()
    manifest.write_text("image,lat,lon\na.jpg,-40.2434N,3\nfolder,1,2\na.jpg,1e1,2.05E1\n")
    collection = PhotoCollection.from_csv(manifest)
    reasons = [s.reason for s in collection.skipped]
    assert "line 2: lat '-40.2434N': the minus sign and the hemisphere disagree" in reasons
    assert "line 3: is a directory, not an image" in reasons
    assert collection.coords.tolist() == [[10.0, 20.5]]


def test_other_programs_manifest_is_not_an_index(data_dir, tmp_path):
    """A photo folder holding another program's manifest.json is read as photos."""
    (tmp_path / "trip").mkdir()
    shutil.copy(data_dir / "im2gps2k" / "images" / "1001087035.jpg", tmp_path / "trip" / "a.jpg")
    (tmp_path / "trip" / "manifest.json").write_text('{"app": "photo exporter", "count": 1}')
    collection = PhotoCollection.open(tmp_path)
    assert collection.ids == ["trip/a.jpg"]
    assert [Path(s.path).name for s in collection.skipped] == ["manifest.json"]
