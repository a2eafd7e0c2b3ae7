"""Render the application icon (resources/icons/faceedit.svg) to the PNG, ICO and ICNS files.

Run by hand after editing the SVG (``python packaging/render_icons.py``); the outputs are
committed, so neither a build nor an install needs a renderer. QtSvg (in
PySide6-Essentials) draws the PNGs; Pillow writes the Windows ``.ico`` and the macOS
``.icns`` from them.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# The sizes freedesktop icon themes, Windows and macOS ask for.
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"


def render_png(svg: Path, size: int, out: Path) -> None:
    """Draw the SVG at ``size`` × ``size`` pixels with QtSvg (antialiased, transparent)."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _ = QGuiApplication.instance() or QGuiApplication(["render_icons"])
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"{svg} is not a valid SVG")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    if not image.save(str(out), "PNG"):
        raise SystemExit(f"could not write {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icons", type=Path, default=ICONS, help="folder with faceedit.svg (outputs go beside it)")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # no display needed to render

    from PIL import Image

    svg = args.icons / "faceedit.svg"
    pngs = {}
    for size in PNG_SIZES:
        pngs[size] = args.icons / f"faceedit-{size}.png"
        render_png(svg, size, pngs[size])
    # Pillow scales one large image down for every ICO size; each size drawn from the SVG
    # is sharper, so hand it the rendered ones where they exist.
    largest = Image.open(pngs[256]).convert("RGBA")
    largest.save(args.icons / "faceedit.ico", sizes=[(s, s) for s in ICO_SIZES],
                 append_images=[Image.open(pngs[s]).convert("RGBA") for s in ICO_SIZES if s in pngs])
    Image.open(pngs[512]).convert("RGBA").save(
        args.icons / "faceedit.icns", append_images=[Image.open(pngs[s]).convert("RGBA") for s in (16, 32, 64, 128, 256)])
    print(f"wrote {len(pngs)} PNGs, faceedit.ico and faceedit.icns to {args.icons}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
