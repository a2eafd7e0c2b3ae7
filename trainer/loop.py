"""The training loop: walks the curriculum table, one process or many (torchrun).

The loop knows no network by name: the family's objective (:mod:`trainer.families`) gives
it a table of networks (each built from the model config, with one optimiser) and a table
of discriminator updates; a step is the generator pass, then the rows in order
(docs/ARCHITECTURE.md, "A training step"). The state is saved and restored by walking the
network table (:mod:`trainer.state`).

:meth:`Trainer.run_loop` (reached through :func:`trainer.train.train_run`) can be driven
from the command line, from a test, or from the GUI's retrain dialog (through
``faceedit-train`` in a separate process): ``progress_fn`` is called at every logged step,
and ``abort_fn`` is polled every step (returning True saves and stops).

Multi-process: under ``torchrun`` each process trains on its slice of the global batch and
gradients are averaged across processes before every optimiser step (what
DistributedDataParallel does; done by hand because the curriculum freezes different parts
per stage and calls the encoder twice per step, which DDP's wrapper does not allow).
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceedit.core.device import resolve_precision
from faceedit.core.errors import FaceeditError
from faceedit.core.models.pixels import model_to_uint8, uint8_to_model
from trainer.config import Stage, TrainConfig
from trainer.data import Batch, FaceSet, batch_at, load_split
from trainer.families import objective_for
from trainer.families.base import DiscriminatorUpdate, FamilyObjective, GeneratorPass, IdentityFn
from faceedit.training.runs import CHECKPOINT_NAME, Progress
from trainer.runs import RunLog, save_sample_grid
from trainer.state import TrainingState

ProgressFn = Callable[[Progress], None]
AbortFn = Callable[[], bool]


class TrainingStopped(FaceeditError):
    """Training stopped early: diverged, or interrupted (the state was saved where it could be)."""


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (torchrun sets the variables)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class TrainResult:
    run: Path
    steps: int
    status: str  # "finished", "aborted" or "interrupted"
    last_losses: dict[str, float]


def init_world(device_choice: str | None) -> tuple[World, torch.device]:
    """Join the process group when launched by torchrun; choose this process's device."""
    from faceedit.core.device import resolve_device

    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World(), resolve_device(device_choice)
    import torch.distributed as dist

    world = World(int(os.environ["RANK"]), size, int(os.environ.get("LOCAL_RANK", "0")))
    wants_cuda = (device_choice or "auto") != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if wants_cuda else "gloo")
    device = torch.device(f"cuda:{world.local_rank}") if wants_cuda else torch.device("cpu")
    if wants_cuda:
        torch.cuda.set_device(device)
    return world, device


def _average_gradients(parameters: list[nn.Parameter], world: World) -> None:
    if world.size == 1:
        return
    import torch.distributed as dist

    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world.size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _broadcast_parameters(modules: list[nn.Module], world: World) -> None:
    """Every process starts from rank 0's weights (they agree anyway: same seed)."""
    if world.size == 1:
        return
    import torch.distributed as dist

    for module in modules:
        for tensor in module.state_dict().values():
            dist.broadcast(tensor, src=0)


class Trainer:
    """Holds networks, optimisers and data for one run; :meth:`run_loop` walks the stages."""

    def __init__(
        self, config: TrainConfig, prepared: Path, run: Path, device: torch.device, world: World = World(),
        objective: FamilyObjective | None = None,
    ) -> None:
        self.config, self.prepared, self.run, self.device, self.world = config, prepared, run, device, world
        # float32 or bfloat16 autocast; "auto" only reaches here from an old run's config.
        self.precision = resolve_precision(config.precision, device)
        self.objective = objective or objective_for(config.family)
        unknown = {part for stage in config.stages for part in stage.trains} - set(self.objective.parts)
        if unknown:
            raise FaceeditError(f"the curriculum trains {sorted(unknown)}, which the {self.objective.family} family does not have")
        torch.manual_seed(config.seed)
        model = config.model
        # Built in the table's order right after seeding: that order fixes the initial weights.
        self.networks: dict[str, nn.Module] = {spec.name: spec.build(model) for spec in self.objective.networks}
        for module in self.modules:
            module.to(device, memory_format=torch.channels_last)
        _broadcast_parameters(self.modules, world)
        self.optimisers: dict[str, torch.optim.Optimizer] = {
            spec.name: spec.optimiser(self.networks[spec.name].parameters(), config) for spec in self.objective.networks
        }
        self.nets = self.objective.bundle(self.networks)  # the family's typed view, for its losses
        self.train_set = load_split(prepared, "train", model.image_channels, model.image_size)
        if len(self.train_set) == 0:
            raise FaceeditError(f"{prepared} has no training faces")
        test_set = load_split(prepared, "test", model.image_channels, model.image_size)
        self.sample_set: FaceSet = test_set if len(test_set) else self.train_set
        self.step = 0
        self._identity = None

    @property
    def modules(self) -> list[nn.Module]:
        return list(self.networks.values())

    @property
    def generator(self) -> nn.Module:
        return self.networks[self.objective.generator]

    def identity_loss(self) -> IdentityFn | None:
        uses = any(s.weights.identity > 0 or s.weights.identity_edit > 0 for s in self.config.stages)
        if uses and self._identity is None:
            from faceedit.core.identity import IdentityLoss

            self._identity = IdentityLoss(self.config.identity_layers).to(self.device)
        return self._identity

    # --- state -------------------------------------------------------------------------

    def state(self) -> TrainingState:
        """Every network and optimiser of the table, by name, with the step and the RNG."""
        return TrainingState(
            step=self.step,
            config=self.config.to_dict(),
            prepared=str(self.prepared),
            networks={name: module.state_dict() for name, module in self.networks.items()},
            optimisers={name: optimiser.state_dict() for name, optimiser in self.optimisers.items()},
            rng={"torch": torch.get_rng_state()},
        )

    def save(self) -> None:
        if self.world.is_main:
            self.state().save(self.run / CHECKPOINT_NAME)

    def load(self, state: TrainingState) -> None:
        """Continue from ``state``: every network of the table and its optimiser, the step, the RNG."""
        for spec in self.objective.networks:
            if spec.name not in state.networks or spec.name not in state.optimisers:
                if spec.added_later:  # states written before it existed: it starts fresh
                    continue
                raise FaceeditError(f"the training state has no {spec.name} network or optimiser to resume from")
            self.networks[spec.name].load_state_dict(state.networks[spec.name])
            self.optimisers[spec.name].load_state_dict(state.optimisers[spec.name])
        torch.set_rng_state(state.rng["torch"])
        self.step = state.step

    # --- one step ------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        config, objective = self.config, self.objective
        _, stage = config.stage_at(self.step)
        batch = batch_at(
            self.train_set, self.step, batch_size=config.batch_size, seed=config.seed,
            z_dim=getattr(config.model, "z_dim", 1),  # the noise prior of families that have one
            mix_probability=config.mix_probability, flips=config.flips, rank=self.world.rank,
            world=self.world.size, device=self.device, balanced=config.balanced, paired_fraction=config.paired_fraction,
        )
        generator_parts = objective.spec(objective.generator).trained_modules(self.generator, stage.trains)
        for module in self.modules:
            module.train()
            module.requires_grad_(False)
        for part in generator_parts:
            part.requires_grad_(True)
        with self._autocast():
            g = objective.generator_pass(self.nets, batch, stage, self.identity_loss())
        losses = {k: v.detach() for k, v in g.losses.items()}
        optimiser = self.optimisers[objective.generator]
        optimiser.zero_grad(set_to_none=True)
        if g.total.requires_grad:
            g.total.backward()
            _average_gradients([p for part in generator_parts for p in part.parameters()], self.world)
            optimiser.step()
        for row in objective.discriminators:
            if row.runs(stage, g):
                losses.update(self._update(row, batch, g, stage))
        self.step += 1
        values = {k: float(v) for k, v in losses.items()}
        values["G/total"] = float(g.total.detach())
        bad = {k: v for k, v in values.items() if not math.isfinite(v) or abs(v) > config.divergence_limit}
        if bad:
            name, value = next(iter(bad.items()))
            raise TrainingStopped(
                f"training diverged at step {self.step} ({name} = {value}); the last good checkpoint is kept in "
                f"{self.run / CHECKPOINT_NAME}; try a lower learning rate"
            )
        return values

    def _autocast(self) -> contextlib.AbstractContextManager:
        return self.precision.autocast()

    def _update(self, row: DiscriminatorUpdate, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
        """One optimiser step of the row's network on its losses (weight 1 unless the row names the key)."""
        module, optimiser = self.networks[row.network], self.optimisers[row.network]
        module.requires_grad_(True)
        with self._autocast():
            losses = row.loss(self.nets, batch, g, stage)
        weights = row.weights(stage)
        total = sum(weights.get(name, 1.0) * value for name, value in losses.items())
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        _average_gradients(list(module.parameters()), self.world)
        optimiser.step()
        return {k: v.detach() for k, v in losses.items()}

    # --- samples -------------------------------------------------------------------------

    @torch.no_grad()
    def sample_rows(self) -> list[list[np.ndarray]]:
        """Fixed faces × the family's sample columns (ExprGAN: input, reconstruction, six expressions)."""
        g = self.generator
        g.eval()
        count = min(self.config.sample_faces, len(self.sample_set))
        images = uint8_to_model(self.sample_set.images[:count].to(self.device))
        columns = self.objective.sample_columns(g, images)
        g.train()
        tiles = [model_to_uint8(column) for column in columns]
        tiles = [np.repeat(t, 3, axis=3) if t.shape[3] == 1 else t for t in tiles]
        return [[column[i] for column in tiles] for i in range(count)]

    # --- the loop ------------------------------------------------------------------------

    def run_loop(self, progress_fn: ProgressFn | None = None, abort_fn: AbortFn | None = None, stop_at: int | None = None) -> TrainResult:
        config = self.config
        end = min(config.total_steps, stop_at) if stop_at else config.total_steps
        log = RunLog(self.run) if self.world.is_main else None
        last: dict[str, float] = {}
        started, started_step = time.monotonic(), self.step
        window_time, window_step = started, self.step
        status = "finished"
        try:
            while self.step < end:
                if abort_fn is not None and abort_fn():
                    status = "aborted"
                    break
                last = self.train_step()
                at_log = self.step % config.log_every == 0 or self.step == end
                at_sample = self.step % config.sample_every == 0 or self.step == end
                if self.step % config.checkpoint_every == 0 or self.step == end or self.step == _stage_end(config, self.step):
                    self.save()
                if at_log or at_sample:
                    now = time.monotonic()
                    rate = (self.step - window_step) * config.batch_size * self.world.size / max(now - window_time, 1e-9)
                    per_step = (now - started) / max(self.step - started_step, 1)
                    sample = None
                    if at_sample and self.world.is_main:
                        sample = str(save_sample_grid(self.run, self.step, self.sample_rows()))
                    progress = Progress(self.step, config.total_steps, config.stage_at(self.step - 1)[1].name, last,
                                        rate, per_step * (end - self.step), sample)
                    window_time, window_step = now, self.step
                    if log is not None:
                        log.write(progress)
                    if progress_fn is not None and self.world.is_main:
                        progress_fn(progress)
        except KeyboardInterrupt:
            status = "interrupted"
        finally:
            if log is not None:
                log.close()
        if status != "finished":
            self.save()
        return TrainResult(self.run, self.step, status, last)


def _stage_end(config: TrainConfig, step: int) -> int:
    """The step count at which the stage containing step ``step − 1`` ends."""
    end = 0
    for stage in config.stages:
        end += stage.steps
        if step <= end:
            return end
    return end

