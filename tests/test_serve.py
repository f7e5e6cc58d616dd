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
    # far beyond the limit: refused before the body is read (the page checks the size
    # before sending, with the same message)
    with pytest.raises(urllib.error.URLError):
        post(url, "huger.jpg", b"0" * (4 * 2**20))
    assert list(app.upload_dir.iterdir()) == []  # refused uploads are not kept


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
    (stored,) = app.upload_dir.iterdir()
    assert stored.name.startswith(doc["upload"]) and stored.suffix == ".jpg"
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
