"""The editing state of a photo: one slider state per face, with undo and redo (GUI thread).

Each state is immutable (:class:`ExpressionTargets`); an undo step stores the whole tuple
before and after, so undo is exact. Consecutive moves of one slider merge into one step
until the slider is released, so a drag undoes in one go.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtGui import QUndoCommand, QUndoStack

from faceedit.core.expressions import ExpressionTargets

States = tuple[ExpressionTargets, ...]


class _SetStates(QUndoCommand):
    def __init__(self, model: EditState, before: States, after: States, text: str, merge_key: str | None) -> None:
        super().__init__(text)
        self._model, self.before, self.after, self.merge_key = model, before, after, merge_key
        self.open = merge_key is not None

    def redo(self) -> None:
        self._model._apply(self.after)

    def undo(self) -> None:
        self._model._apply(self.before)

    def id(self) -> int:  # noqa: A003 (Qt's name)
        return 1 if self.merge_key else -1

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 (Qt's name)
        if isinstance(other, _SetStates) and self.open and other.merge_key == self.merge_key:
            self.after = other.after
            return True
        return False


class _Step(QUndoCommand):
    """An undo step that is not a slider state (e.g. Face Is Neutral): what to do, and to undo."""

    def __init__(self, text: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        super().__init__(text)
        self._do, self._undo = do, undo

    def redo(self) -> None:
        self._do()

    def undo(self) -> None:
        self._undo()


class EditState:
    """Per-face slider states of the open photo, and the undo stack over them."""

    def __init__(self, on_change: Callable[[States], None]) -> None:
        self.undo_stack = QUndoStack()
        self._states: States = ()
        self._on_change = on_change

    @property
    def states(self) -> States:
        return self._states

    @property
    def has_unsaved_edits(self) -> bool:
        """Sliders moved since the photo opened or was last saved, and not all back at the photo's own values."""
        return not self.undo_stack.isClean() and any(not s.is_empty for s in self._states)

    def mark_saved(self) -> None:
        """The current states are saved: nothing is lost by leaving them."""
        self.undo_stack.setClean()

    def reset_photo(self, faces: int) -> None:
        """A new photo: every face at its recognised expression; the history is cleared."""
        self.undo_stack.clear()
        self._apply((ExpressionTargets(),) * faces)

    def change(self, after: States, text: str, merge_key: str | None = None) -> None:
        if after != self._states:
            self.undo_stack.push(_SetStates(self, self._states, after, text, merge_key))

    def set_value(self, faces: list[int], name: str, value: float | None, *, dragging: bool = False) -> None:
        """Set one expression on some faces. While ``dragging``, moves merge into one step."""
        after = tuple(s.with_value(name, value) if i in faces else s for i, s in enumerate(self._states))
        label = f"{name} {'reset' if value is None else f'{value:.2f}'}"
        self.change(after, label, merge_key=f"{name}:{sorted(faces)}" if dragging else None)

    def push_step(self, text: str, do: Callable[[], None], undo: Callable[[], None]) -> None:
        """Do something other than a slider change as one undo step (``do`` runs now)."""
        self.undo_stack.push(_Step(text, do, undo))

    def close_merge(self) -> None:
        """The slider was released: the next move starts a new undo step."""
        command = self.undo_stack.command(self.undo_stack.count() - 1) if self.undo_stack.count() else None
        if isinstance(command, _SetStates):
            command.open = False

    def _apply(self, states: States) -> None:
        self._states = states
        self._on_change(states)
