"""The trainer: smoke runs end to end, exact resume, divergence, export, bad input."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import shared_file
from trainer.config import PRESETS, LossWeights, resolve_config
from trainer.data import batch_at, load_split
from trainer.loop import TrainingStopped
from faceedit.training.runs import CHECKPOINT_NAME
from trainer.state import load_state
from trainer.train import train_run


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def test_curriculum_is_the_papers_table() -> None:
    stages = PRESETS["paper"].stages
    assert [s.name for s in stages] == ["controller", "reconstruction", "refining"]
    assert not stages[0].uses_encoder and set(stages[0].trains) == {"decoder", "d_img"}
    assert stages[1].weights.adv_img == 0 and stages[1].weights.adv_z == 0 and stages[1].weights.pixel == 1
    w = stages[2].weights
    assert (w.identity, w.q, w.adv_img, w.adv_z, w.tv) == (1.0, 1.0, 0.01, 0.01, 0.001)
    short = resolve_config("paper", max_steps=60)
    assert short.total_steps == 60 and [s.steps for s in short.stages] == [10, 20, 30]


def test_batches_depend_only_on_seed_and_step(prepared: Path) -> None:
    faces = load_split(prepared, "train")
    kwargs = dict(batch_size=4, seed=3, z_dim=50, mix_probability=0.5, flips=True)
    a, b = batch_at(faces, 7, **kwargs), batch_at(faces, 7, **kwargs)
    assert torch.equal(a.images, b.images) and torch.equal(a.targets, b.targets)
    assert not torch.equal(batch_at(faces, 8, **kwargs).images, a.images)
    # two processes of batch 2 see the same faces as one of batch 4
    whole = batch_at(faces, 7, **kwargs)
    halves = [batch_at(faces, 7, **{**kwargs, "batch_size": 2}, rank=r, world=2) for r in (0, 1)]
    assert torch.equal(torch.cat([h.images for h in halves]), whole.images)
    # targets are one expression, sometimes two
    assert ((whole.targets > 0).sum(dim=1) <= 2).all()


def test_smoke_run_end_to_end_then_export_and_edit(prepared: Path, tmp_path: Path, london_neutral: Path) -> None:
    seen = []
    config = resolve_config("smoke")
    result = train_run(prepared, config, runs=tmp_path / "runs", device="cpu", progress_fn=seen.append)
    assert result.status == "finished" and result.steps == config.total_steps == 9
    run = result.run
    assert run.name == "00000-smoke"
    assert (run / "config.json").exists() and (run / CHECKPOINT_NAME).exists()
    lines = [json.loads(line) for line in (run / "progress.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == list(range(1, 10))
    assert {line["stage"] for line in lines} == {"controller", "reconstruction", "refining"}
    refining = lines[-1]["losses"]
    for key in ("G/pixel", "G/identity", "G/q", "G/adv_img", "G/adv_z", "G/tv", "D/img", "D/z", "G/recognition"):
        assert key in refining and math.isfinite(refining[key]), key
    assert "G/pixel" not in lines[0]["losses"]  # the controller stage has no encoder
    assert (run / "samples" / "latest.png").exists() and any((run / "tensorboard").iterdir())
    assert seen and seen[-1].step == 9 and seen[-1].sample
    # the next run gets the next number
    assert train_run(prepared, replace(config, stages=config.stages[:1]), runs=tmp_path / "runs", device="cpu").run.name == "00001-smoke"

    from faceedit.cli import main as faceedit_main
    from trainer.cli import main as train_main

    model = tmp_path / "model.pt"
    assert train_main(["export", str(run), "-o", str(model)]) == 0
    out = tmp_path / "edited.jpg"
    assert faceedit_main(["edit", str(london_neutral), "-o", str(out), "--happiness", "1", "--model", str(model)]) == 0
    assert out.exists()
    from faceedit.core.models.file import read_model_info

    info = read_model_info(model)
    assert info.provenance.steps == 9 and "pairs" in info.provenance.data


def test_resume_gives_the_same_state_as_an_uninterrupted_run(prepared: Path, tmp_path: Path) -> None:
    config = resolve_config("smoke")
    straight = train_run(prepared, config, runs=tmp_path / "a", device="cpu")
    stops = iter([False] * 5 + [True])
    interrupted = train_run(prepared, config, runs=tmp_path / "b", device="cpu", abort_fn=lambda: next(stops))
    assert interrupted.status == "aborted" and interrupted.steps == 5
    resumed = train_run(None, config, resume=interrupted.run, device="cpu")
    assert resumed.status == "finished" and resumed.steps == 9
    a = load_state(straight.run / CHECKPOINT_NAME)
    b = load_state(resumed.run / CHECKPOINT_NAME)
    assert a.networks.keys() == b.networks.keys() == {"generator", "d_img", "d_z", "d_expr"}
    for part in a.networks:
        for name, tensor in a.networks[part].items():
            assert torch.equal(tensor, b.networks[part][name]), f"{part}.{name}"
    assert torch.equal(a.optimisers["generator"]["state"][0]["exp_avg"], b.optimisers["generator"]["state"][0]["exp_avg"])
    # the same losses at every step after the resume as without the interruption
    def losses(run: Path) -> dict[int, dict[str, float]]:
        return {line["step"]: line["losses"] for line in map(json.loads, (run / "progress.jsonl").read_text().splitlines())}

    straight_losses, resumed_losses = losses(straight.run), losses(resumed.run)
    assert all(resumed_losses[step] == straight_losses[step] for step in range(6, 10))


def test_divergence_stops_and_keeps_the_last_good_checkpoint(prepared: Path, tmp_path: Path) -> None:
    config = resolve_config("smoke", lr=1e3)
    config = replace(config, divergence_limit=50.0, checkpoint_every=1)
    with pytest.raises(TrainingStopped, match="diverged"):
        train_run(prepared, replace(config, stages=tuple(replace(s, weights=LossWeights(adv_img=1.0)) for s in config.stages)),
                  runs=tmp_path, device="cpu")
    runs = list(tmp_path.iterdir())
    state = load_state(runs[0] / CHECKPOINT_NAME)
    assert all(torch.isfinite(t).all() for t in state.networks["generator"].values() if t.is_floating_point())


def test_train_command_dry_run_and_bad_input(prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    assert main(["train", str(prepared), "--preset", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "controller" in out and "refining" in out and "60,000 steps" in out
    assert main(["train", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 1
    assert "does not exist" in capsys.readouterr().err
    not_prepared = tmp_path / "empty"
    not_prepared.mkdir()
    assert main(["train", str(not_prepared), "--out", str(tmp_path / "runs")]) == 1
    assert "not a prepared dataset" in capsys.readouterr().err
    assert main(["train", str(prepared), "--resume", str(tmp_path)]) == 1
    assert "no checkpoint.pt" in capsys.readouterr().err
    assert main(["export", str(tmp_path), "-o", str(tmp_path / "m.pt")]) == 1
    assert "no training state" in capsys.readouterr().err


def test_ctrl_c_saves_and_resumes(prepared: Path, tmp_path: Path) -> None:
    def interrupt(progress) -> None:  # noqa: ANN001
        if progress.step == 2:
            raise KeyboardInterrupt

    result = train_run(prepared, resolve_config("smoke"), runs=tmp_path, device="cpu", progress_fn=interrupt)
    assert result.status == "interrupted" and result.steps == 2
    assert load_state(result.run / CHECKPOINT_NAME).step == 2
    assert train_run(None, resolve_config("smoke"), resume=result.run, device="cpu").steps == 9


def test_runs_folder_that_is_a_file(prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    (tmp_path / "runs").write_text("not a folder")
    assert main(["train", str(prepared), "--preset", "smoke", "--out", str(tmp_path / "runs")]) == 1
    assert "is a file" in capsys.readouterr().err


def test_precision_is_resolved_recorded_and_bf16_losses_track_fp32(prepared: Path, tmp_path: Path) -> None:
    """A run records the precision it trains at; a short bfloat16 run's losses stay near float32's."""
    from faceedit.training.runs import RunConfig

    losses = {}
    for precision in ("fp32", "bf16"):
        seen = []
        config = resolve_config("smoke", precision=precision)
        result = train_run(prepared, config, runs=tmp_path / precision, device="cpu", progress_fn=seen.append)
        assert RunConfig.read(result.run).train["precision"] == precision
        assert load_state(result.run / CHECKPOINT_NAME).config["precision"] == precision
        losses[precision] = seen[-1].losses
    # "auto" is resolved before the run starts (conftest sets FACEEDIT_PRECISION=fp32).
    auto = train_run(prepared, resolve_config("smoke", max_steps=1), runs=tmp_path / "auto", device="cpu")
    assert RunConfig.read(auto.run).train["precision"] == "fp32"
    assert losses["fp32"]["G/pixel"] != losses["bf16"]["G/pixel"]  # bfloat16 really ran
    for key in ("G/pixel", "D/img"):
        fp32, bf16 = losses["fp32"][key], losses["bf16"][key]
        assert abs(bf16 - fp32) <= 0.05 * abs(fp32) + 1e-3, (key, fp32, bf16)


def test_training_listens_for_ctrl_c_even_when_started_with_it_ignored() -> None:
    """A background job inherits SIGINT as ignored; the app's Cancel sends SIGINT all the same."""
    import signal

    from trainer.train import listen_for_ctrl_c

    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        listen_for_ctrl_c()
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, before)
