"""Before Qt starts on Linux: are the system libraries of Qt's xcb (X11) platform there?

Without them Qt aborts with its own message, which names ``libxcb-cursor0`` whatever is
actually missing. This module asks the dynamic loader (``ldd``) which libraries the
PySide6 xcb plugin cannot find, and says which packages bring them, for apt and dnf.
It imports no Qt (PySide6 is located, not imported) and does nothing at import time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

# soname → (Debian/Ubuntu package, Fedora package): every system library that Qt's xcb
# plugin (libqxcb.so), libQt6XcbQpa, Gui, Core, Widgets and DBus link to directly.
PACKAGES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libfreetype.so.6": ("libfreetype6", "freetype"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libgthread-2.0.so.0": ("libglib2.0-0", "glib2"),
    "libzstd.so.1": ("libzstd1", "libzstd"),
    "libz.so.1": ("zlib1g", "zlib"),
}

NO_DISPLAY = ("faceedit: there is no display to open the window on (DISPLAY is not set). Start it from a "
              "desktop session, or over ssh with -X.")

Runner = Callable[[list[str]], str]


def xcb_platform_expected(environ: Mapping[str, str] | None = None, platform: str | None = None) -> bool:
    """True where Qt will use its xcb platform: Linux, and QT_QPA_PLATFORM unset or xcb."""
    env = os.environ if environ is None else environ
    if not (platform or sys.platform).startswith("linux"):
        return False
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    return not chosen or chosen.split(";")[0].split(":")[0] == "xcb"


def xcb_plugin() -> Path | None:
    """PySide6's libqxcb.so, found without importing PySide6; None where there is none."""
    spec = importlib.util.find_spec("PySide6")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        plugin = Path(folder) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def _ldd(command: list[str]) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=20, check=False)
    return result.stdout


def missing_libraries(plugin: Path | None = None, run: Runner | None = None) -> list[str]:
    """Sonames the xcb plugin needs (directly or through Qt's own libraries) that the loader cannot find.

    Empty where nothing is missing, or where it cannot be told (no plugin, no ``ldd``).
    """
    plugin = plugin or xcb_plugin()
    if plugin is None:
        return []
    try:
        output = (run or _ldd)(["ldd", str(plugin)])
    except (OSError, subprocess.SubprocessError):
        return []
    missing = []
    for line in output.splitlines():
        name, _, where = line.strip().partition("=>")
        if "not found" in where and name.strip() not in missing:
            missing.append(name.strip())
    return missing


def install_hint(missing: list[str]) -> str:
    """One message: what is missing, and the apt and dnf commands that install it."""
    debian = sorted({PACKAGES[name][0] for name in missing if name in PACKAGES})
    fedora = sorted({PACKAGES[name][1] for name in missing if name in PACKAGES})
    lines = [f"faceedit: Qt's X11 (xcb) platform needs system libraries that are missing: {', '.join(missing)}."]
    if debian:
        lines += ["Install them with", f"  Debian/Ubuntu:  sudo apt install {' '.join(debian)}",
                  f"  Fedora:         sudo dnf install {' '.join(fedora)}"]
    unknown = [name for name in missing if name not in PACKAGES]
    if unknown:
        lines.append(f"{'Also install' if debian else 'Install'} the packages of your system that provide {', '.join(unknown)}.")
    lines.append("(README.md, \"The two commands\", lists every package the app needs.)")
    return "\n".join(lines)


def check_gui_libraries(environ: Mapping[str, str] | None = None, run: Runner | None = None) -> tuple[str, bool] | None:
    """Before Qt starts: (message, fatal) when libraries Qt's xcb platform needs are missing, else None.

    Fatal (the app should stop with the message rather than let Qt abort) unless this is a
    Wayland session with QT_QPA_PLATFORM unset: there Qt may well start on Wayland, so the
    message is only a warning. No X display (DISPLAY unset) and no Wayland one is fatal too.
    """
    env = os.environ if environ is None else environ
    if not xcb_platform_expected(env):
        return None
    missing = missing_libraries(run=run)
    wayland = bool(env.get("WAYLAND_DISPLAY")) and not env.get("QT_QPA_PLATFORM")
    if missing:
        return install_hint(missing), not wayland
    if not env.get("DISPLAY") and not wayland:  # Qt would abort naming libxcb-cursor0 here too
        return NO_DISPLAY, True
    return None
