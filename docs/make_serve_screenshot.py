"""Screenshot of ``im2gps serve`` for the README: ``docs/serve.png``.

The page is driven in headless Chromium exactly as ``tests/test_serve.py``
drives it (its :class:`Browser`), with three models side by side: a
classical index, a CNN index and a PlaNet model over CNN embeddings, all of
the same 200 im2gps2k photos (built once into ``.cache/``). The uploaded
photo is one this script makes itself (a drawn beach scene: sky, sea, sand
and a palm), because the photos of
``../shared/data`` are mostly all rights reserved and must not appear in a
committed figure; the page shows no database photo (neighbours are listed by
id and location only).

Run ``python docs/make_serve_screenshot.py``.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
CACHE = REPO / ".cache"


def beach_photo(path: Path) -> Path:
    """A 640x427 beach scene drawn here (no one else's pixels)."""
    rng = np.random.default_rng(7)
    width, height = 640, 427
    y = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - y) * np.array([90, 150, 230]) + y * np.array([200, 225, 250])
    pixels = np.broadcast_to(sky, (height, width, 3)).copy()
    pixels[200:290] = np.array([20, 110, 160]) + rng.normal(0, 8, (90, width, 3))
    pixels[290:] = np.array([225, 200, 150]) + rng.normal(0, 10, (height - 290, width, 3))
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    draw.ellipse((500, 40, 560, 100), fill=(255, 240, 180))
    draw.line((150, 330, 180, 150), fill=(110, 80, 50), width=12)
    for angle in np.linspace(0, 2 * np.pi, 9)[:-1]:
        draw.line((180, 150, 180 + 80 * np.cos(angle), 150 + 35 * np.sin(angle) + 20),
                  fill=(40, 120, 50), width=8)
    image.filter(ImageFilter.GaussianBlur(0.8)).save(path, quality=92)
    return path


def index(name: str, features: str) -> Path:
    out = CACHE / name
    if (out / "manifest.json").is_file():
        return out
    table = pd.read_csv(DATA / "im2gps2k" / "photos.csv").iloc[:200].copy()
    table["image"] = [str(DATA / "im2gps2k" / p) for p in table["image"]]
    CACHE.mkdir(exist_ok=True)
    table.to_csv(CACHE / f"{name}.csv", index=False)
    subprocess.run([sys.executable, "-m", "im2gps", "index", "build", str(CACHE / f"{name}.csv"),
                    "--out", str(out), "--features", features, "--jobs", "2",
                    "--fit-sample", "100", "--no-progress"], check=True)
    return out


def planet(name: str) -> Path:
    """A PlaNet model over the CNN embeddings of the photos of ``index(..., "cnn")``."""
    from im2gps.photos import PhotoCollection
    from im2gps.planet import PlaNet

    out = CACHE / name
    if (out / "planet.json").is_file():
        return out
    index("serve-cnn", "cnn")  # its table, and the embeddings in the feature cache
    PlaNet(feature="cnn", t_max=25, t_min=3, max_epochs=60, patience=8, seed=1).fit_photos(
        PhotoCollection.from_csv(CACHE / "serve-cnn.csv")).save(out)
    return out


def main() -> None:
    from im2gps.serve import App, listen_in_thread

    spec = importlib.util.spec_from_file_location("test_serve", REPO / "tests" / "test_serve.py")
    test_serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(test_serve)

    models = [index("serve-classical", "tiny,color,texton,gist,lines"),
              index("serve-cnn", "cnn"), planet("serve-planet")]
    app = App(models)
    port, stop = listen_in_thread(app)
    with tempfile.TemporaryDirectory() as tmp:
        photo = beach_photo(Path(tmp) / "beach.jpg")
        browser = test_serve.Browser(Path(tmp) / "profile")

        async def scenario() -> bytes:
            await browser.connect()
            await browser.call("Emulation.setDeviceMetricsOverride", width=1280, height=1100,
                               deviceScaleFactor=1, mobile=False)
            await browser.call("Page.navigate", url=f"http://127.0.0.1:{port}/")
            await browser.wait_for("!!document.getElementById('file')")
            await browser.upload(photo)
            await browser.wait_for("document.getElementById('status').textContent === "
                                   "'answered'", timeout=300)
            shot = await browser.call("Page.captureScreenshot", format="png")
            return base64.b64decode(shot["data"])

        try:
            data = asyncio.run(scenario())
        finally:
            browser.close()
    stop()
    app.close()
    if browser.errors:
        raise SystemExit(f"console errors: {browser.errors}")
    (REPO / "docs" / "serve.png").write_bytes(data)
    print(REPO / "docs" / "serve.png")


if __name__ == "__main__":
    main()
