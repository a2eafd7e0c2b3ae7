"""The family's tables drive the trainer: loss weights by field, the state saved and restored by network name."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import shared_file
from faceedit.core.errors import FaceeditError
from faceedit.core.models.file import TRAINING_STATE_FORMAT
from trainer.config import PARTS, LossWeights, resolve_config
from trainer.families import objective_for
from trainer.families.base import DiscriminatorUpdate
from trainer.families.exprgan import code_discriminator_loss
from trainer.loop import Trainer
from trainer.state import STATE_VERSION, TrainingState, load_state


def test_loss_weights_are_looked_up_by_field() -> None:
    weights = LossWeights(paired=0.25)
    assert weights.weight_of("G/paired") == 0.25 and weights.weight_of("D/q") == weights.q
    with pytest.raises(KeyError, match="no field 'sharpness'"):
        weights.weight_of("G/sharpness")
    with pytest.raises(ValueError, match="no loss weight named 'sharpness'"):
        DiscriminatorUpdate("d_z", code_discriminator_loss, weighted=("D/sharpness",))
    with pytest.raises(ValueError, match="no loss weight named 'nothing'"):
        DiscriminatorUpdate("d_z", code_discriminator_loss, needs_weight="nothing")


def test_the_exprgan_table_names_every_curriculum_part() -> None:
    objective = objective_for("exprgan")
    assert [spec.name for spec in objective.networks] == ["generator", "d_img", "d_z", "d_expr"]
    assert set(objective.parts) == set(PARTS)
    assert [row.network for row in objective.discriminators] == ["d_img", "d_z", "d_expr"]
    with pytest.raises(KeyError, match="no training objective"):
        objective_for("stargan")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def _trained(prepared: Path, run: Path, seed: int = 0) -> Trainer:
    """A smoke trainer one step into the refining stage (every network and optimiser has state)."""
    config = resolve_config("smoke", seed=seed)
    refining = replace(config.stages[-1], weights=config.stages[-1].weights.scaled(adv_expr=0.05))  # D_expr steps too
    config = replace(config, stages=(*config.stages[:-1], refining))
    trainer = Trainer(config, prepared, run, torch.device("cpu"))
    trainer.step = 6
    trainer.train_step()
    return trainer


def _assert_same(a: TrainingState, b: TrainingState) -> None:
    assert a.step == b.step and a.networks.keys() == b.networks.keys() and a.optimisers.keys() == b.optimisers.keys()
    for name in a.networks:
        for key, tensor in a.networks[name].items():
            assert torch.equal(tensor, b.networks[name][key]), f"{name}.{key}"
    for name in a.optimisers:
        for index, slot in a.optimisers[name]["state"].items():
            for key, value in slot.items():
                assert torch.equal(value, b.optimisers[name]["state"][index][key]), f"opt {name}.{index}.{key}"
    assert torch.equal(a.rng["torch"], b.rng["torch"])


def test_state_round_trips_every_network_and_optimiser_of_the_table(prepared: Path, tmp_path: Path) -> None:
    trainer = _trained(prepared, tmp_path)
    trainer.save()
    state = load_state(tmp_path / "checkpoint.pt")
    table = [spec.name for spec in trainer.objective.networks]
    assert list(state.networks) == list(state.optimisers) == table
    assert all(state.optimisers[name]["state"] for name in table)  # each optimiser took a step
    fresh = Trainer(trainer.config, prepared, tmp_path, torch.device("cpu"))
    fresh.load(state)
    _assert_same(fresh.state(), trainer.state())


def _version_1_payload(state: TrainingState) -> dict:
    """The checkpoint layout written before the network table (flat keys, "opt_g" …)."""
    short = {"generator": "g", "d_img": "d_img", "d_z": "d_z", "d_expr": "d_expr"}
    payload = {"format": TRAINING_STATE_FORMAT, "format_version": 1, "config": state.config, "prepared": state.prepared,
               "step": state.step, "rng": state.rng}
    payload.update(state.networks)
    payload.update({f"opt_{short[name]}": value for name, value in state.optimisers.items()})
    return payload


def test_version_1_checkpoints_still_load(prepared: Path, tmp_path: Path) -> None:
    trainer = _trained(prepared, tmp_path)
    saved = trainer.state()
    torch.save(_version_1_payload(saved), tmp_path / "v1.pt")
    state = load_state(tmp_path / "v1.pt")
    fresh = Trainer(trainer.config, prepared, tmp_path, torch.device("cpu"))
    fresh.load(state)
    _assert_same(fresh.state(), saved)

    # The oldest states have no D_expr: it keeps its fresh weights, the rest resumes.
    oldest = {k: v for k, v in _version_1_payload(saved).items() if k not in ("d_expr", "opt_d_expr")}
    torch.save(oldest, tmp_path / "oldest.pt")
    other = Trainer(trainer.config, prepared, tmp_path, torch.device("cpu"))
    untouched = {k: v.clone() for k, v in other.networks["d_expr"].state_dict().items()}
    other.load(load_state(tmp_path / "oldest.pt"))
    assert all(torch.equal(untouched[k], v) for k, v in other.networks["d_expr"].state_dict().items())
    assert all(torch.equal(v, saved.networks["generator"][k]) for k, v in other.networks["generator"].state_dict().items())
    assert other.step == saved.step

    # A state that lacks a network the table does not mark as added later is refused, in one line.
    del oldest["d_z"]
    torch.save(oldest, tmp_path / "broken.pt")
    with pytest.raises(FaceeditError, match="no d_z network"):
        other.load(load_state(tmp_path / "broken.pt"))


def test_load_state_refuses_other_files_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "state.pt"
    torch.save({"format": "faceedit-model", "format_version": 2}, path)
    with pytest.raises(FaceeditError, match="not a faceedit training state"):
        load_state(path)
    torch.save({"format": TRAINING_STATE_FORMAT, "format_version": STATE_VERSION + 1}, path)
    with pytest.raises(FaceeditError, match="newer faceedit-train"):
        load_state(path)
    torch.save({"format": TRAINING_STATE_FORMAT, "format_version": STATE_VERSION, "config": {}, "step": 1}, path)
    with pytest.raises(FaceeditError, match="incomplete"):
        load_state(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(FaceeditError, match="not a readable training state"):
        load_state(path)
    with pytest.raises(FaceeditError, match="no training state"):
        load_state(tmp_path / "missing.pt")


def test_two_good_states_are_kept_and_a_damaged_newest_falls_back(tmp_path: Path) -> None:
    from faceedit.training.runs import CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME
    from trainer.state import TrainingState, load_state

    def state(step: int) -> TrainingState:
        return TrainingState(step=step, config={"preset": "smoke"}, prepared="p",
                             networks={"g": {"w": torch.full((64, 64), float(step))}}, optimisers={"g": {}},
                             rng={"torch": torch.get_rng_state()})

    path = tmp_path / CHECKPOINT_NAME
    for step in (10, 20, 30):
        state(step).save(path)
    previous = tmp_path / PREVIOUS_CHECKPOINT_NAME
    assert load_state(path).step == 30 and load_state(previous).step == 20
    assert sorted(p.name for p in tmp_path.iterdir()) == [PREVIOUS_CHECKPOINT_NAME, CHECKPOINT_NAME]

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the weights: torch still loads it, the digest does not match
    path.write_bytes(bytes(data))
    notes: list[str] = []
    assert load_state(path, note=notes.append).step == 20
    assert len(notes) == 1 and "damaged" in notes[0] and "previous checkpoint" in notes[0] and "step 20" in notes[0]

    previous.write_bytes(b"not a state")
    with pytest.raises(FaceeditError, match="not a readable training state"):
        load_state(path, note=notes.append)
