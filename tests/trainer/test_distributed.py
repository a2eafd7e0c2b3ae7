"""torchrun with two CPU processes (gloo) trains like one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import shared_file
from faceedit.core.models.exprgan import Generator
from faceedit.training.runs import CHECKPOINT_NAME
from trainer.state import load_state
from trainer.train import train_run

HERE = Path(__file__).resolve().parent


def _torchrun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": f"{HERE}{os.pathsep}{HERE.parent}", "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def test_two_processes_agree_with_one(prepared: Path, tmp_path: Path) -> None:
    from distributed_run import reconstruction_config

    result = _torchrun(str(HERE / "distributed_run.py"), str(prepared), str(tmp_path / "two"), "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    single = train_run(prepared, reconstruction_config(4), runs=tmp_path / "one", device="cpu")
    two_run = next((tmp_path / "two").iterdir())
    a, b = load_state(single.run / CHECKPOINT_NAME), load_state(two_run / CHECKPOINT_NAME)
    torch.manual_seed(0)  # the runs' initial weights (Trainer seeds, then builds the Generator first)
    start = Generator(reconstruction_config(4).model).state_dict()
    moved_one = torch.cat([(a.networks["generator"][k] - start[k]).flatten() for k in start if start[k].is_floating_point()])
    moved_two = torch.cat([(b.networks["generator"][k] - start[k]).flatten() for k in start if start[k].is_floating_point()])
    assert moved_one.norm() > 0
    # Same global batch, gradients averaged: the updates agree. Not bit for bit: Adam's first
    # steps turn tiny gradients that a different summation order flips into ±lr moves.
    cosine = torch.nn.functional.cosine_similarity(moved_one, moved_two, dim=0).item()
    # A control: the same run on other batches (another seed) moves the weights differently.
    from dataclasses import replace

    other = train_run(prepared, replace(reconstruction_config(4), seed=1), runs=tmp_path / "other", device="cpu")
    c = load_state(other.run / CHECKPOINT_NAME)
    torch.manual_seed(1)
    start_c = Generator(reconstruction_config(4).model).state_dict()
    moved_other = torch.cat([(c.networks["generator"][k] - start_c[k]).flatten() for k in start_c if start_c[k].is_floating_point()])
    control = torch.nn.functional.cosine_similarity(moved_one, moved_other, dim=0).item()
    print(f"cosine two-vs-one {cosine:.5f}, control {control:.5f}")
    assert cosine > 0.99 and control < cosine - 0.05, (cosine, control)
    one_losses = [json.loads(line)["losses"]["G/pixel"] for line in (single.run / "progress.jsonl").read_text().splitlines()]
    two_losses = [json.loads(line)["losses"]["G/pixel"] for line in (two_run / "progress.jsonl").read_text().splitlines()]
    # rank 0 logs its half of the batch, so losses differ a little; the weights above must not
    assert len(one_losses) == len(two_losses) == 3


def test_train_command_runs_under_torchrun(prepared: Path, tmp_path: Path) -> None:
    result = _torchrun("-m", "trainer.cli", "train", str(prepared), "--preset", "smoke", "--max-steps", "3",
                       "--batch-size", "2", "--out", str(tmp_path / "runs"), "--device", "cpu", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1  # one run folder, made by rank 0 and shared
    state = load_state(runs[0] / CHECKPOINT_NAME)
    assert state.step == 3 and all(torch.isfinite(t).all() for t in state.networks["generator"].values())
