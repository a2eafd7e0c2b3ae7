"""EditState: per-face slider states of the open photo, with exact undo and redo."""

from __future__ import annotations

import pytest

from faceedit.core.expressions import ExpressionTargets

pytest.importorskip("pytestqt")

EMPTY = ExpressionTargets()


@pytest.fixture()
def state(qtbot):  # noqa: ANN001, ANN201
    """A state over a three-face photo; ``state.seen`` lists what ``on_change`` was told."""
    from faceedit.gui.edit_state import EditState

    seen: list[tuple[ExpressionTargets, ...]] = []
    edit_state = EditState(seen.append)
    edit_state.reset_photo(3)
    edit_state.seen = seen
    return edit_state


def test_a_new_photo_starts_every_face_at_its_recognised_expression(state) -> None:  # noqa: ANN001
    assert state.states == (EMPTY, EMPTY, EMPTY)
    assert state.seen == [(EMPTY, EMPTY, EMPTY)]
    state.set_value([0], "anger", 0.5)
    assert state.undo_stack.canUndo()
    state.reset_photo(2)  # another photo: new faces, and the old history is gone
    assert state.states == (EMPTY, EMPTY) and state.seen[-1] == (EMPTY, EMPTY)
    assert state.undo_stack.count() == 0 and not state.undo_stack.canUndo()


def test_set_value_changes_only_the_chosen_faces(state) -> None:  # noqa: ANN001
    state.set_value([0, 2], "happiness", 0.75)
    happy = EMPTY.with_value("happiness", 0.75)
    assert state.states == (happy, EMPTY, happy)
    assert state.seen[-1] == state.states
    assert state.undo_stack.undoText() == "happiness 0.75"
    state.set_value([0], "happiness", None)  # per-slider reset: back to the recognised value
    assert state.states == (EMPTY, EMPTY, happy)
    assert state.undo_stack.undoText() == "happiness reset"


def test_undo_and_redo_restore_the_exact_states(state) -> None:  # noqa: ANN001
    steps = [([0], "anger", 0.25), ([1], "surprise", 1.0), ([0, 1, 2], "anger", 0.5)]
    history = [state.states]
    for faces, name, value in steps:
        state.set_value(faces, name, value)
        history.append(state.states)
    assert state.undo_stack.count() == 3
    for expected in reversed(history[:-1]):
        state.undo_stack.undo()
        assert state.states == expected and state.seen[-1] == expected
    assert not state.undo_stack.canUndo()
    for expected in history[1:]:
        state.undo_stack.redo()
        assert state.states == expected and state.seen[-1] == expected


def test_a_change_to_the_same_states_is_not_an_undo_step(state) -> None:  # noqa: ANN001
    state.set_value([1], "fear", 0.5)
    told = len(state.seen)
    state.set_value([1], "fear", 0.5)
    state.set_value([0], "fear", None)  # already unset
    assert state.undo_stack.count() == 1 and len(state.seen) == told


def test_a_drag_undoes_in_one_step_until_the_slider_is_released(state) -> None:  # noqa: ANN001
    for value in (0.1, 0.2, 0.3, 0.4):
        state.set_value([0], "sadness", value, dragging=True)
    assert state.undo_stack.count() == 1
    assert state.states[0] == EMPTY.with_value("sadness", 0.4)
    state.close_merge()  # released: the next drag is a step of its own
    state.set_value([0], "sadness", 0.6, dragging=True)
    state.set_value([0], "sadness", 0.7, dragging=True)
    assert state.undo_stack.count() == 2
    state.undo_stack.undo()
    assert state.states[0] == EMPTY.with_value("sadness", 0.4)
    state.undo_stack.undo()
    assert state.states == (EMPTY, EMPTY, EMPTY)


def test_only_moves_of_one_slider_on_the_same_faces_merge(state) -> None:  # noqa: ANN001
    state.set_value([0], "anger", 0.1, dragging=True)
    state.set_value([0], "disgust", 0.1, dragging=True)  # another slider
    state.set_value([1], "disgust", 0.2, dragging=True)  # other faces
    state.set_value([1], "disgust", 0.3)  # a click, not a drag
    state.set_value([1], "disgust", 0.4)
    assert state.undo_stack.count() == 5
