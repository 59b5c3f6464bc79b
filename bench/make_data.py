"""Generate the benchmark's attachments once: a real ~150 KB JPEG and a 100 MB file.

Run with the bench venv's Python (it needs Pillow and NumPy, which matplotlib
brings): ``python -m bench.make_data DIR``. Files that already match the
manifest are kept. The manifest (``DIR/manifest.json``) records each file's
path, size and SHA-256 so both drivers can check what the emulator received.
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path
import sys

import numpy as np
from PIL import Image

from .common import sha256_file, write_json

JPEG_NAME = "front_door.jpg"
BIG_NAME = "recording-100MB.bin"
#: The burst's attachment: "a 150 KB JPEG" (bytes, allowed +-3 %).
JPEG_TARGET = 150 * 1024
BIG_SIZE = 100 * 1024 * 1024
_SEED = 20261121


def _camera_like_image(width: int, height: int) -> Image.Image:
    """Return a photo-like image: smooth gradients, shapes and sensor noise."""
    rng = np.random.default_rng(_SEED)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    red = 120 + 80 * np.sin(x / 53.0) * np.cos(y / 71.0)
    green = 110 + 70 * np.cos((x + y) / 97.0)
    blue = 90 + 60 * np.sin(y / 41.0)
    pixels = np.stack([red, green, blue], axis=-1)
    for _ in range(40):  # some "objects"
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        radius = rng.integers(10, 80)
        mask = (x - cx) ** 2 + (y - cy) ** 2 < radius**2
        pixels[mask] = rng.integers(0, 255, size=3)
    pixels += rng.normal(0, 14, size=pixels.shape)  # sensor noise
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def make_jpeg(path: Path) -> None:
    """Write a JPEG whose size is within 3 % of ``JPEG_TARGET``."""
    image = _camera_like_image(1280, 720)
    best: bytes | None = None
    low, high = 5, 95
    while low <= high:  # binary search on the quality
        quality = (low + high) // 2
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True)
        data = buffer.getvalue()
        if best is None or abs(len(data) - JPEG_TARGET) < abs(len(best) - JPEG_TARGET):
            best = data
        if len(data) > JPEG_TARGET:
            high = quality - 1
        else:
            low = quality + 1
    assert best is not None
    if abs(len(best) - JPEG_TARGET) > JPEG_TARGET * 0.03:
        raise SystemExit(f"could not make a JPEG near {JPEG_TARGET} bytes")
    path.write_bytes(best)


def make_big(path: Path) -> None:
    """Write ``BIG_SIZE`` incompressible bytes (a stand-in for a video clip)."""
    rng = np.random.default_rng(_SEED)
    block = 4 * 1024 * 1024
    with path.open("wb") as file:
        for _ in range(BIG_SIZE // block):
            file.write(rng.integers(0, 256, size=block, dtype=np.uint8).tobytes())


def _entry(path: Path) -> dict[str, object]:
    return {"path": str(path), "size": path.stat().st_size, "sha256": sha256_file(path)}


def main(argv: list[str] | None = None) -> int:
    """Create the files (if missing) and the manifest."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    directory: Path = args.directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    jpeg, big = directory / JPEG_NAME, directory / BIG_NAME
    if (
        not jpeg.is_file()
        or manifest.get("jpeg", {}).get("size") != jpeg.stat().st_size
    ):
        make_jpeg(jpeg)
    if not big.is_file() or big.stat().st_size != BIG_SIZE:
        make_big(big)
    if (
        manifest.get("jpeg", {}).get("size") != jpeg.stat().st_size
        or manifest.get("big", {}).get("size") != BIG_SIZE
        or manifest.get("big", {}).get("mtime") != int(big.stat().st_mtime)
    ):
        manifest = {
            "jpeg": _entry(jpeg),
            "big": {**_entry(big), "mtime": int(big.stat().st_mtime)},
        }
        write_json(manifest_path, manifest)
    sys.stdout.write(f"{manifest_path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
