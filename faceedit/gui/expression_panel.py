"""Six expression sliders with the recognised intensity beside each, and resets (GUI thread)."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QLabel, QSlider, QToolButton, QWidget

from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets

STEPS = 100


class ExpressionPanel(QWidget):
    """Emits ``value_changed(name, value, dragging)``, ``reset(name)``, ``released()``."""

    value_changed = Signal(str, float, bool)
    reset = Signal(str)
    released = Signal()

    def __init__(self) -> None:
        super().__init__()
        grid = QGridLayout(self)
        grid.setColumnStretch(1, 1)
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        self.recognised_labels: dict[str, QLabel] = {}
        grid.addWidget(QLabel("<b>Expression</b>"), 0, 0)
        grid.addWidget(QLabel("<b>Target</b>"), 0, 2)
        grid.addWidget(QLabel("<b>In photo</b>"), 0, 3)
        for row, name in enumerate(EXPRESSIONS, start=1):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, STEPS)
            slider.setObjectName(f"slider-{name}")
            slider.valueChanged.connect(lambda v, n=name, s=slider: self.value_changed.emit(n, v / STEPS, s.isSliderDown()))
            slider.sliderReleased.connect(self.released)
            value, recognised = QLabel("–"), QLabel("–")
            value.setMinimumWidth(40)
            recognised.setToolTip("the intensity the model recognises in the face")
            reset = QToolButton()
            reset.setText("↺")
            reset.setToolTip(f"reset {name} to the intensity in the photo")
            reset.clicked.connect(lambda _=False, n=name: self.reset.emit(n))
            grid.addWidget(QLabel(name.capitalize()), row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            grid.addWidget(recognised, row, 3)
            grid.addWidget(reset, row, 4)
            self.sliders[name], self.values[name], self.recognised_labels[name] = slider, value, recognised
        self.show_state(None, ExpressionTargets())

    def show_state(self, recognised: Sequence[float] | None, targets: ExpressionTargets) -> None:
        """Put the sliders at ``targets`` (recognised where a target is unset), without signals."""
        resolved = targets.resolve(recognised) if recognised is not None else None
        for index, name in enumerate(EXPRESSIONS):
            slider = self.sliders[name]
            slider.blockSignals(True)
            slider.setEnabled(recognised is not None)
            slider.setValue(round(float(resolved[index]) * STEPS) if resolved is not None else 0)
            slider.blockSignals(False)
            changed = targets.values[index] is not None
            self.values[name].setText("–" if resolved is None else f"{resolved[index]:.2f}")
            self.values[name].setStyleSheet("font-weight: bold" if changed else "")
            self.recognised_labels[name].setText("–" if recognised is None else f"{recognised[index]:.2f}")
