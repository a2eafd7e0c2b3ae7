"""Missing system libraries of Qt's xcb platform: one clear message and exit 1, before Qt starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from faceedit.gui.system_libs import check_gui_libraries, install_hint, missing_libraries

# ldd's output for libqxcb.so on a fresh Debian without two xcb-util libraries (shortened).
LDD_TWO_MISSING = """\
\tlinux-vdso.so.1 (0x00007ffd5a3f2000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f8ee8053000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f8ee7f69000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f8ee7f5a000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f8ee8123000)
"""


def _fake_ldd(output: str):  # noqa: ANN202
    calls: list[list[str]] = []

    def run(command: list[str]) -> str:
        calls.append(command)
        return output

    return run, calls


def test_missing_libraries_are_read_from_ldd_and_named_with_their_packages(tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.touch()
    run, calls = _fake_ldd(LDD_TWO_MISSING)
    missing = missing_libraries(plugin, run)
    assert calls == [["ldd", str(plugin)]]
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]  # each once; libxcb-cursor is there
    hint = install_hint(missing)
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in hint
    assert "sudo dnf install xcb-util-keysyms xcb-util-wm" in hint
    assert "cursor" not in hint  # Qt's own message names libxcb-cursor0 whatever is missing


def test_nothing_missing_or_not_xcb_means_no_message(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    plugin = tmp_path / "libqxcb.so"
    plugin.touch()
    monkeypatch.setattr("faceedit.gui.system_libs.xcb_plugin", lambda: plugin)
    monkeypatch.setattr(sys, "platform", "linux")
    everything_there = LDD_TWO_MISSING.replace("not found", "/lib/x.so (0x1)")
    assert check_gui_libraries({"DISPLAY": ":0"}, _fake_ldd(everything_there)[0]) is None
    message, fatal = check_gui_libraries({}, _fake_ldd(everything_there)[0])
    assert fatal and "DISPLAY is not set" in message  # Qt would blame libxcb-cursor0 here as well
    run, calls = _fake_ldd(LDD_TWO_MISSING)
    assert check_gui_libraries({"QT_QPA_PLATFORM": "offscreen"}, run) is None
    assert check_gui_libraries({"QT_QPA_PLATFORM": "wayland"}, run) is None
    assert calls == []  # no ldd run where Qt will not use xcb
    message, fatal = check_gui_libraries({"QT_QPA_PLATFORM": "xcb"}, run)
    assert fatal and "libxcb-keysyms1" in message
    _, fatal = check_gui_libraries({"WAYLAND_DISPLAY": "wayland-0"}, run)
    assert not fatal  # Qt may start on Wayland: a warning only
    monkeypatch.setattr(sys, "platform", "win32")
    assert check_gui_libraries({}, run) is None


def test_the_app_stops_with_one_message_and_exit_1_before_qt_loads(tmp_path: Path) -> None:
    plugin = tmp_path / "libqxcb.so"
    plugin.touch()
    script = f"""
import sys
import faceedit.gui.system_libs as libs
sys.platform = "linux"
libs.xcb_plugin = lambda: __import__("pathlib").Path({str(plugin)!r})
libs._ldd = lambda command: {LDD_TWO_MISSING!r}
from faceedit.launcher import main
code = main([])
print("exit", code, "qt loaded" if any(m.startswith("PySide6") for m in sys.modules) else "qt not loaded")
"""
    env = {k: v for k, v in __import__("os").environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.stdout.strip() == "exit 1 qt not loaded", result.stderr
    assert result.stderr.count("faceedit: ") == 1 and "libxcb-icccm.so.4, libxcb-keysyms.so.1" in result.stderr
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in result.stderr
    assert "Traceback" not in result.stderr
