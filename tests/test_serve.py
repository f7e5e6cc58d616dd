"""im2gps serve with an index and a PlaNet model side by side: upload errors with clear
messages (the page refuses an oversized photo before sending it), uploads kept in a
temporary folder, and the page driven in headless Chromium (a real photo uploaded, both
answers and maps rendered, PlaNet's explanation, no console errors) through the DevTools
protocol."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from im2gps.cli import EXIT_OK, main
from im2gps.serve import App, listen_in_thread

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def index_dir(data_dir, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:60].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp / "db.csv", index=False)
    out = tmp / "trips"
    assert main(["index", "build", str(tmp / "db.csv"), "--out", str(out),
                 "--features", "tiny,color", "--no-progress"]) == EXIT_OK
    return out


@pytest.fixture(scope="module")
def planet_dir(index_dir):
    """A small PlaNet model (tiny images, a few epochs) over the same 60 photos, saved."""
    from im2gps.photos import PhotoCollection
    from im2gps.planet import PlaNet

    out = index_dir.parent / "planet"
    PlaNet(feature="tiny", t_max=20, t_min=2, max_epochs=10, seed=1).fit_photos(
        PhotoCollection.from_csv(index_dir.parent / "db.csv")).save(out)
    return out


@pytest.fixture(scope="module")
def server(index_dir, planet_dir):
    """An index and a PlaNet model side by side, on a free port, in a thread with its own
    event loop (1 MB upload limit)."""
    app = App([index_dir, planet_dir], max_upload_mb=1)
    port, stop = listen_in_thread(app, timeout=30)
    yield app, f"http://127.0.0.1:{port}"
    stop()
    app.close()
    assert not app.upload_dir.exists()  # uploads leave nothing behind


def post(url: str, name: str, body: bytes) -> tuple[int, dict]:
    boundary = "im2gps-test-boundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"photo\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    form += body + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/locate", data=form, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=120) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_upload_errors_have_clear_messages(server, tmp_path):
    app, url = server
    status, doc = post(url, "notes.txt", b"these are my holiday notes, not a photo")
    assert status == 415 and "notes.txt is not a photo" in doc["error"]
    status, doc = post(url, "empty.jpg", b"")
    assert status == 415 and "empty" in doc["error"]
    status, doc = post(url, "huge.jpg", b"\xff\xd8" + b"0" * (3 * 2**19))  # 1.5 MB
    assert status == 413 and "up to 1 MB" in doc["error"]
    # far beyond the limit: the same message (the page checks the size before sending)
    status, doc = post(url, "huger.jpg", b"0" * (4 * 2**20))
    assert status == 413 and "is 4.0 MB" in doc["error"] and "up to 1 MB" in doc["error"]
    assert list(app.upload_dir.iterdir()) == []  # refused uploads are not kept


def test_an_upload_far_over_the_limit_is_refused_at_once(server):
    """A 300 MB upload as curl sends it (Content-Length, Expect: 100-continue): the 413
    message at once, before any of the body; a body of unknown length (chunked) is counted
    as it arrives and dropped, and gets the same message."""
    import http.client

    app, url = server
    port = int(url.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.putrequest("POST", "/locate")
    connection.putheader("Content-Type", "multipart/form-data; boundary=x")
    connection.putheader("Content-Length", str(300 * 2**20))
    connection.putheader("Expect", "100-continue")
    connection.endheaders()
    reply = connection.getresponse()
    doc = json.loads(reply.read())
    connection.close()
    assert reply.status == 413
    assert doc["error"] == "the photo is 300.0 MB; this server takes photos up to 1 MB"

    def chunks():
        for _ in range(16):
            yield b"0" * 2**19

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("POST", "/locate", body=chunks(), encode_chunked=True,
                       headers={"Content-Type": "multipart/form-data; boundary=x"})
    reply = connection.getresponse()
    doc = json.loads(reply.read())
    connection.close()
    assert reply.status == 413 and "over 1 MB" in doc["error"] and "up to 1 MB" in doc["error"]
    assert list(app.upload_dir.iterdir()) == []


def png_claiming(width: int, height: int, real: Path) -> bytes:
    """A small real PNG whose header claims ``width`` x ``height`` pixels (as a decompression
    bomb does: 17000 x 17000 pixels of one colour fit in under 1 MB)."""
    import struct
    import zlib

    from PIL import Image

    buffer = __import__("io").BytesIO()
    Image.open(real).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def test_the_pixel_limit_is_checked_before_decoding(server, data_dir, monkeypatch):
    import im2gps.photos

    app, url = server
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"  # 640 x 426

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded a photo over the pixel limit")

    # refused from the header: nothing decoded, nothing kept
    monkeypatch.setattr(im2gps.photos, "load_image", no_decoding)
    status, doc = post(url, "bomb.png", png_claiming(17000, 17000, photo))
    assert status == 415
    assert doc["error"] == ("bomb.png is 17000x17000 = 289 megapixels; this server takes "
                            "photos up to 50 megapixels (im2gps serve --max-pixels raises "
                            "the limit)")
    monkeypatch.setattr(app, "max_pixels", 200_000)  # as `--max-pixels 200000` sets it
    status, doc = post(url, "photo.jpg", photo.read_bytes())
    assert status == 415 and "photo.jpg is 640x426" in doc["error"]
    assert "up to 0.2 megapixels" in doc["error"]
    assert list(app.upload_dir.iterdir()) == []


def test_serve_options(index_dir, capsys):
    import socket

    from im2gps import serve
    from im2gps.cli import SERVE_MAX_PIXELS, build_parser

    assert SERVE_MAX_PIXELS == serve.MAX_PIXELS == 50_000_000
    parser = build_parser()
    assert parser.parse_args(["serve", "m"]).max_pixels == 50_000_000
    assert parser.parse_args(["serve", "m", "--max-pixels", "200000000"]).max_pixels == 2 * 10**8
    for port in ("99999", "-1", "65536"):
        with pytest.raises(SystemExit) as stop:
            main(["serve", str(index_dir), "--port", port])
        assert stop.value.code == 2
        assert "a port number from 0 to 65535" in capsys.readouterr().err
    # a port in use: the reason, exit 2; and a network address: a warning first
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", str(index_dir), "--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert f"im2gps serve: error: port {port} is in use (" in err, err
        assert "Traceback" not in err and "warning" not in err
        assert main(["serve", str(index_dir), "--port", str(port), "--host", "0.0.0.0"]) == 2
        err = capsys.readouterr().err
        assert "warning: --host 0.0.0.0 makes the page reachable from the network, with no " \
               "authentication" in err
        assert f"port {port} is in use" in err


@pytest.mark.parametrize(("signum", "host"), [("SIGTERM", "127.0.0.1"), ("SIGHUP", "::1")])
def test_a_stop_signal_removes_the_uploads(index_dir, data_dir, tmp_path, signum, host):
    """`timeout`, `kill`, systemd and a closed terminal stop the server as Ctrl-C does: the
    upload folder is removed and the exit code is 0. (IPv6: the URL in brackets.)"""
    import re
    import signal

    env = {**os.environ, "TMPDIR": str(tmp_path), "PYTHONPATH": str(Path(__file__).parents[1])}
    process = subprocess.Popen(
        [__import__("sys").executable, "-m", "im2gps", "serve", str(index_dir), "--port", "0",
         "--host", host], stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = process.stderr.readline()
        found = re.search(r"on (http://\S+/) ", line)
        assert found, line
        url = found.group(1).rstrip("/")
        if host == "::1":
            assert url.startswith("http://[::1]:"), line
        photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
        status, _ = post(url, "photo.jpg", photo.read_bytes())
        assert status == 200
        (folder,) = tmp_path.glob("im2gps-serve-*")
        assert len(list(folder.iterdir())) == 1  # the upload, kept while serving
        process.send_signal(getattr(signal, signum))
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()
    assert "Traceback" not in process.stderr.read()
    assert list(tmp_path.glob("im2gps-serve-*")) == []


def test_a_heic_upload_gets_a_jpeg_preview(server, data_dir):
    """Chromium cannot show HEIC: the answer carries a JPEG of the decoded photo."""
    import base64
    import io

    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    app, url = server
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"  # 640 x 426
    buffer = io.BytesIO()
    Image.open(photo).save(buffer, format="HEIF", quality=80)
    status, doc = post(url, "IMG_0001.HEIC", buffer.getvalue())
    assert status == 200 and all(not a["failed"] for a in doc["answers"])
    head, data = doc["preview"].split(",", 1)
    assert head == "data:image/jpeg;base64"
    preview = Image.open(io.BytesIO(base64.b64decode(data)))
    assert preview.format == "JPEG" and preview.size == (512, 341)
    # the same scene as the photo (a HEIC re-encoding: close, not equal)
    import numpy as np

    original = np.asarray(Image.open(photo).convert("RGB").resize(preview.size), np.float64)
    assert np.abs(np.asarray(preview, np.float64) - original).mean() < 8
    stored = [p for p in app.upload_dir.iterdir() if p.name.startswith(doc["upload"])]
    assert [p.suffix for p in stored] == [".heic"]


def test_upload_of_a_real_photo(server, planet_dir, data_dir):
    app, url = server
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
    status, doc = post(url, "../../etc/photo.jpg", photo.read_bytes())
    assert status == 200
    assert [(a["model"], a["kind"]) for a in doc["answers"]] == [("trips", "im2gps"),
                                                                ("planet", "planet")]
    for answer in doc["answers"]:
        assert not answer["failed"]
        assert -90 <= answer["lat"] <= 90 and -180 <= answer["lon"] <= 180 and answer["place"]
        assert answer["map"].startswith("data:image/png;base64,")
        assert answer["distribution"] and all(d["place"] for d in answer["distribution"])
    index, planet = doc["answers"]
    assert len(index["neighbors"]) == 8 and "note" not in index
    # PlaNet: the most probable cells, best first, the estimate in the best one's place
    from im2gps.planet import PlaNet

    probs = PlaNet.load(planet_dir).predict([str(photo)]).cell_probs[0]
    cells = planet["distribution"]
    assert [c["weight"] for c in cells] == pytest.approx(sorted(probs, reverse=True)[:len(cells)])
    assert (cells[0]["lat"], cells[0]["lon"]) == pytest.approx((planet["lat"], planet["lon"]))
    assert all(c["label"].startswith("cell ") for c in cells)
    assert planet["neighbors"] == [] and "S2 cells" in planet["note"]
    # the upload sits in the server's temporary folder under a random name
    (stored,) = (p for p in app.upload_dir.iterdir() if p.name.startswith(doc["upload"]))
    assert stored.name.startswith(doc["upload"]) and stored.suffix == ".jpg"
    assert doc["preview"].startswith("data:image/jpeg;base64,")
    assert Path(app.upload_dir).is_relative_to(Path(os.environ.get("TMPDIR", "/tmp")))
    for model in (0, 1):  # the vote map of the index, the cell probabilities of PlaNet
        with urllib.request.urlopen(f"{url}/explain?upload={doc['upload']}&model={model}",
                                    timeout=120) as reply:
            assert json.loads(reply.read())["figure"].startswith("data:image/png;base64,")


# -- headless Chromium, driven through the DevTools protocol ------------------------
class Browser:
    """One headless Chromium page over the DevTools protocol (Tornado's websocket client)."""

    def __init__(self, profile: Path) -> None:
        if not CHROMIUM.is_file():
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium "
                        "(apt-get install -y chromium), as `make test` does")
        self.process = subprocess.Popen(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1280,1000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        self.errors: list[str] = []
        self._id = 0

    async def connect(self) -> None:
        from tornado.websocket import websocket_connect

        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json/list") as r:
                    pages = [t for t in json.loads(r.read()) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            await asyncio.sleep(0.1)
        self.socket = await websocket_connect(pages[0]["webSocketDebuggerUrl"],
                                              max_message_size=64 * 2**20)
        for domain in ("Runtime", "Log", "Page", "DOM"):
            await self.call(f"{domain}.enable")

    async def call(self, method: str, **params) -> dict:
        self._id += 1
        await self.socket.write_message(json.dumps({"id": self._id, "method": method,
                                                    "params": params}))
        while True:
            message = json.loads(await self.socket.read_message())
            if message.get("id") == self._id:
                assert "error" not in message, message
                return message["result"]
            self._event(message)

    def _event(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            self.errors.append(str(params["exceptionDetails"]))
        elif method == "Runtime.consoleAPICalled" and params["type"] == "error":
            self.errors.append(str(params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            self.errors.append(params["entry"]["text"])

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not await self.evaluate(expression):
            assert time.monotonic() < deadline, f"timed out waiting for {expression}"
            await asyncio.sleep(0.2)

    async def upload(self, path: Path) -> None:
        root = (await self.call("DOM.getDocument"))["root"]["nodeId"]
        node = (await self.call("DOM.querySelector", nodeId=root, selector="#file"))["nodeId"]
        await self.call("DOM.setFileInputFiles", files=[str(path)], nodeId=node)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def test_page_in_headless_chromium(server, data_dir, tmp_path):
    _, url = server
    photo = data_dir / "im2gps237" / "images" / "104123223.jpg"
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    huge = tmp_path / "huge.jpg"  # 3x the 1 MB limit: Tornado would reset the connection
    huge.write_bytes(photo.read_bytes() + bytes(3 * 2**20 - photo.stat().st_size))
    import pillow_heif
    from PIL import Image

    pillow_heif.register_heif_opener()
    heic = tmp_path / "IMG_0001.HEIC"  # as an iPhone writes it: Chromium cannot show it
    Image.open(photo).save(heic, format="HEIF", quality=80)
    browser = Browser(tmp_path / "profile")

    async def scenario() -> None:
        await browser.connect()
        await browser.call("Page.navigate", url=url + "/")
        await browser.wait_for("document.readyState === 'complete' && !!document.getElementById"
                               "('file')")
        await browser.upload(notes)  # a non-image: the server's message on the page
        await browser.wait_for("document.getElementById('error').textContent.length > 0")
        assert "is not a photo" in await browser.evaluate(
            "document.getElementById('error').textContent")
        # the browser logs the refused request itself (status 415), nothing else
        assert [e for e in browser.errors if "status of 415" not in e] == []
        browser.errors.clear()
        # a file over the limit: the page says so before sending anything
        await browser.evaluate("window.sent = 0; window.fetch = (f => (...a) => "
                               "(window.sent++, f(...a)))(window.fetch); true")
        await browser.upload(huge)
        await browser.wait_for("document.getElementById('error').textContent.length > 0")
        message = await browser.evaluate("document.getElementById('error').textContent")
        assert "huge.jpg is 3.0 MB" in message and "up to 1 MB" in message, message
        assert await browser.evaluate("document.getElementById('preview').hidden")
        assert await browser.evaluate("window.sent") == 0  # no request left the page
        # a HEIC photo: the page shows the server's JPEG preview of it
        await browser.upload(heic)
        await browser.wait_for("document.getElementById('status').textContent === 'answered'")
        shown = await browser.evaluate(
            "(p => !p.hidden && p.complete && p.src.startsWith('data:image/jpeg') && "
            "p.naturalWidth)(document.getElementById('preview'))")
        assert shown == 512
        await browser.evaluate("document.getElementById('status').textContent = ''")
        await browser.upload(photo)
        await browser.wait_for("document.getElementById('status').textContent === 'answered'")
        kinds = await browser.evaluate(
            "[...document.querySelectorAll('.answer h2')].map(h => h.textContent)")
        assert kinds == ["trips (im2gps)", "planet (planet)"]  # side by side, one per model
        rendered = await browser.evaluate(
            "[...document.querySelectorAll('img.map')].map(i => i.complete && i.naturalWidth)")
        assert len(rendered) == 2 and all(width > 300 for width in rendered)
        estimates = await browser.evaluate(
            "[...document.querySelectorAll('.estimate')].map(e => e.textContent)")
        assert len(estimates) == 2 and all("near" in e for e in estimates)
        index_card, planet_card = "'.answer:nth-child(1) ", "'.answer:nth-child(2) "
        assert await browser.evaluate(f"document.querySelectorAll({index_card}.neighbours "
                                      "tr').length") == 9  # header + 8 photos
        assert await browser.evaluate(f"document.querySelector({planet_card}.neighbours') "
                                      "=== null")
        assert "S2 cells" in await browser.evaluate(
            f"document.querySelector({planet_card}.note').textContent")
        header = await browser.evaluate(
            f"document.querySelector({planet_card}.distribution th').textContent")
        assert header == "cell"
        # the explanation on demand: PlaNet's cell probabilities
        await browser.evaluate(f"document.querySelector({planet_card}button').click()")
        await browser.wait_for(f"(i => i && i.complete && i.naturalWidth > 300)"
                               f"(document.querySelector({planet_card}img.figure'))")
        assert await browser.evaluate("document.getElementById('error').textContent") == ""
        shot = await browser.call("Page.captureScreenshot", format="png")
        (tmp_path / "serve.png").write_bytes(__import__("base64").b64decode(shot["data"]))

    try:
        asyncio.run(scenario())
    finally:
        browser.close()
    assert browser.errors == []
    assert (tmp_path / "serve.png").stat().st_size > 10_000


def test_uploads_kept_are_bounded_and_a_failing_model_answers_in_json(
        index_dir, data_dir, tmp_path, monkeypatch):
    """A long-running server keeps only the last MAX_KEPT_UPLOADS uploads (older ones are
    removed, their explanations no longer offered); a model that fails on a photo (here an
    index whose re-ranking rows were damaged after it was loaded) gives the page a JSON
    message, not an HTML error page."""
    import im2gps.serve as serve_module

    photo = (data_dir / "im2gps237" / "images" / "104123223.jpg").read_bytes()
    monkeypatch.setattr(serve_module, "MAX_KEPT_UPLOADS", 3)
    app = App([index_dir])
    try:
        ids = [app.accept(photo, f"p{i}.jpg")[0] for i in range(5)]
        assert len(list(app.upload_dir.iterdir())) == 3
        for upload in ids[:2]:
            with pytest.raises(KeyError):
                app.upload_path(upload)
        assert all(app.upload_path(upload).is_file() for upload in ids[2:])
    finally:
        app.close()

    table = pd.read_csv(data_dir / "im2gps2k" / "photos.csv").iloc[:60].copy()
    table["image"] = [str(data_dir / "im2gps2k" / p) for p in table["image"]]
    table.to_csv(tmp_path / "db.csv", index=False)
    compressed = tmp_path / "ivf"
    assert main(["index", "build", str(tmp_path / "db.csv"), "--out", str(compressed),
                 "--features", "tiny", "--index-type", "IVF2,SQ8", "--no-progress"]) == EXIT_OK
    app = App([compressed])
    port, stop = listen_in_thread(app, timeout=30)
    try:
        vectors = compressed / "rerank" / "vectors.npy"
        data = bytearray(vectors.read_bytes())
        data[-5] ^= 0xFF  # a byte of the last photo's row, read by every re-ranking
        vectors.write_bytes(bytes(data))
        status, answer = post(f"http://127.0.0.1:{port}", "photo.jpg", photo)
        assert status == 500 and "the models could not answer" in answer["error"]
        assert "do not match their checksums" in answer["error"]
    finally:
        stop()
