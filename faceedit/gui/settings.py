"""The app's persistent settings, typed, over QSettings (GUI thread).

Stored where Qt stores settings on each platform (an INI file under the user's config
folder on Linux, the registry on Windows, a plist on macOS).
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

MAX_RECENT = 8
# The precision names are faceedit.core.device's (resolve_precision validates them there);
# the texts are what the Model → Precision menu and the retrain dialog show.
PRECISION_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "auto (bfloat16 where the processor computes it natively)"),
    ("fp32", "float32"),
    ("bf16", "bfloat16"),
)


class AppSettings:
    def __init__(self, settings: QSettings | None = None) -> None:
        self._s = settings or QSettings("faceedit", "faceedit")

    def _str(self, key: str, default: str = "") -> str:
        value = self._s.value(key, default)
        return str(value) if value is not None else default

    # theme, device, model
    @property
    def theme(self) -> str:
        return self._str("theme", "dark")

    @theme.setter
    def theme(self, value: str) -> None:
        self._s.setValue("theme", value)

    @property
    def device(self) -> str:
        return self._str("device", "auto")

    @device.setter
    def device(self, value: str) -> None:
        self._s.setValue("device", value)

    @property
    def precision(self) -> str:
        """"auto", "fp32" or "bf16": what the model runs at (faceedit.core.device)."""
        return self._str("precision", "auto")

    @precision.setter
    def precision(self, value: str) -> None:
        self._s.setValue("precision", value)

    @property
    def model(self) -> str:
        return self._str("model")

    @model.setter
    def model(self, value: str) -> None:
        self._s.setValue("model", value)

    @property
    def quality(self) -> int:
        try:
            return int(self._s.value("save/quality", 95))
        except (TypeError, ValueError):
            return 95

    @quality.setter
    def quality(self, value: int) -> None:
        self._s.setValue("save/quality", int(value))

    # folders and files
    def folder(self, purpose: str) -> str:
        return self._str(f"folders/{purpose}")

    def set_folder(self, purpose: str, folder: str) -> None:
        self._s.setValue(f"folders/{purpose}", folder)

    @property
    def recent(self) -> list[str]:
        value = self._s.value("recent", [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in (value or [])]

    def add_recent(self, path: str) -> None:
        recent = [path, *[p for p in self.recent if p != path]][:MAX_RECENT]
        self._s.setValue("recent", recent)

    # window
    @property
    def geometry(self) -> QByteArray | None:
        value = self._s.value("window/geometry")
        return value if isinstance(value, QByteArray) else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self._s.setValue("window/geometry", value)
