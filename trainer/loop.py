"""The training loop: walks the curriculum table, one process or many (torchrun).

``train()`` can be driven from the command line, from a test, or from the GUI's retrain
dialog (through ``faceedit-train`` in a separate process): ``progress_fn`` is called at
every logged step, and ``abort_fn`` is polled every step (returning True saves and stops).

Multi-process: under ``torchrun`` each process trains on its slice of the global batch and
gradients are averaged across processes before every optimiser step (what
DistributedDataParallel does; done by hand because the curriculum freezes different parts
per stage and calls the encoder twice per step, which DDP's wrapper does not allow).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceedit.core.models.file import TRAINING_STATE_FORMAT
from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.pixels import model_to_uint8, uint8_to_model
from faceedit.core.models.exprgan import Generator, IdentityCodeDiscriminator, ImageDiscriminator
from trainer.config import TrainConfig
from trainer.data import FaceSet, batch_at, load_split
from trainer.objective import (
    ExpressionFromIdentity,
    IdentityFn,
    Networks,
    code_discriminator_loss,
    expression_adversary_loss,
    generator_pass,
    image_discriminator_loss,
)
from trainer.runs import CHECKPOINT_NAME, Progress, RunLog, save_sample_grid

STATE_VERSION = 1
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
    """Holds networks, optimisers and data for one run; :meth:`run` walks the stages."""

    def __init__(self, config: TrainConfig, prepared: Path, run: Path, device: torch.device, world: World = World()) -> None:
        self.config, self.prepared, self.run, self.device, self.world = config, prepared, run, device, world
        torch.manual_seed(config.seed)
        model = config.model
        self.nets = Networks(
            Generator(model), ImageDiscriminator(model), IdentityCodeDiscriminator(model), ExpressionFromIdentity(model)
        )
        for module in self.modules:
            module.to(device, memory_format=torch.channels_last)
        _broadcast_parameters(self.modules, world)
        self.opt_g = torch.optim.Adam(self.nets.generator.parameters(), lr=config.lr, betas=config.betas)
        self.opt_d_img = torch.optim.Adam(self.nets.d_img.parameters(), lr=config.lr, betas=config.betas)
        self.opt_d_z = torch.optim.Adam(self.nets.d_z.parameters(), lr=config.lr, betas=config.betas)
        self.opt_d_expr = torch.optim.Adam(self.nets.d_expr.parameters(), lr=config.lr, betas=config.betas)
        self.train_set = load_split(prepared, "train", model.image_channels, model.image_size)
        if len(self.train_set) == 0:
            raise FaceeditError(f"{prepared} has no training faces")
        test_set = load_split(prepared, "test", model.image_channels, model.image_size)
        self.sample_set: FaceSet = test_set if len(test_set) else self.train_set
        self.step = 0
        self._identity = None

    @property
    def modules(self) -> list[nn.Module]:
        return [self.nets.generator, self.nets.d_img, self.nets.d_z, self.nets.d_expr]

    def identity_loss(self) -> IdentityFn | None:
        uses = any(s.weights.identity > 0 or s.weights.identity_edit > 0 for s in self.config.stages)
        if uses and self._identity is None:
            from faceedit.core.identity import IdentityLoss

            self._identity = IdentityLoss(self.config.identity_layers).to(self.device)
        return self._identity

    # --- state -------------------------------------------------------------------------

    def state(self) -> dict:
        return {
            "format": TRAINING_STATE_FORMAT,
            "format_version": STATE_VERSION,
            "config": self.config.to_dict(),
            "prepared": str(self.prepared),
            "step": self.step,
            "generator": self.nets.generator.state_dict(),
            "d_img": self.nets.d_img.state_dict(),
            "d_z": self.nets.d_z.state_dict(),
            "d_expr": self.nets.d_expr.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d_img": self.opt_d_img.state_dict(),
            "opt_d_z": self.opt_d_z.state_dict(),
            "opt_d_expr": self.opt_d_expr.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
        }

    def save(self) -> None:
        if self.world.is_main:
            from faceedit.core.atomic import atomic_path

            with atomic_path(self.run / CHECKPOINT_NAME, overwrite=True) as tmp:
                torch.save(self.state(), tmp)

    def load(self, state: dict) -> None:
        self.nets.generator.load_state_dict(state["generator"])
        self.nets.d_img.load_state_dict(state["d_img"])
        self.nets.d_z.load_state_dict(state["d_z"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d_img.load_state_dict(state["opt_d_img"])
        self.opt_d_z.load_state_dict(state["opt_d_z"])
        if "d_expr" in state:  # states written before D_expr existed lack it
            self.nets.d_expr.load_state_dict(state["d_expr"])
            self.opt_d_expr.load_state_dict(state["opt_d_expr"])
        torch.set_rng_state(state["rng"]["torch"])
        self.step = int(state["step"])

    # --- one step ------------------------------------------------------------------------

    def train_step(self) -> dict[str, float]:
        config, nets = self.config, self.nets
        _, stage = config.stage_at(self.step)
        batch = batch_at(
            self.train_set, self.step, batch_size=config.batch_size, seed=config.seed, z_dim=config.model.z_dim,
            mix_probability=config.mix_probability, flips=config.flips, rank=self.world.rank,
            world=self.world.size, device=self.device, balanced=config.balanced, paired_fraction=config.paired_fraction,
        )
        trains = set(stage.trains)
        generator_parts = [getattr(nets.generator, p) for p in ("encoder", "decoder") if p in trains]
        for module in self.modules:
            module.train()
            module.requires_grad_(False)
        for part in generator_parts:
            part.requires_grad_(True)
        with self._autocast():
            g = generator_pass(nets, batch, stage, self.identity_loss())
        losses = {k: v.detach() for k, v in g.losses.items()}
        self.opt_g.zero_grad(set_to_none=True)
        if g.total.requires_grad:
            g.total.backward()
            _average_gradients([p for part in generator_parts for p in part.parameters()], self.world)
            self.opt_g.step()

        if "d_img" in trains:
            losses.update(self._update(nets.d_img, self.opt_d_img, lambda: image_discriminator_loss(nets, batch, g.edits, stage),
                                       weights={"D/q": stage.weights.q}))
        if "d_z" in trains and g.z is not None:
            losses.update(self._update(nets.d_z, self.opt_d_z, lambda: code_discriminator_loss(nets, batch, g.z)))
        if "d_expr" in trains and g.z is not None and stage.weights.adv_expr > 0:
            losses.update(self._update(nets.d_expr, self.opt_d_expr, lambda: expression_adversary_loss(nets, batch, g.z)))
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

    def _autocast(self) -> torch.autocast:
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda")

    def _update(
        self, module: nn.Module, optimiser: torch.optim.Optimizer, compute: Callable[[], dict[str, torch.Tensor]],
        weights: dict[str, float] | None = None,
    ) -> dict[str, torch.Tensor]:
        """One optimiser step of a discriminator on its losses (weight 1 unless ``weights`` says)."""
        module.requires_grad_(True)
        with self._autocast():
            losses = compute()
        total = sum((weights or {}).get(name, 1.0) * value for name, value in losses.items())
        optimiser.zero_grad(set_to_none=True)
        total.backward()
        _average_gradients(list(module.parameters()), self.world)
        optimiser.step()
        return {k: v.detach() for k, v in losses.items()}

    # --- samples -------------------------------------------------------------------------

    @torch.no_grad()
    def sample_rows(self) -> list[list[np.ndarray]]:
        """Fixed faces × [input, reconstruction at the recognised intensities, six expressions at 1.0]."""
        g = self.nets.generator
        g.eval()
        count = min(self.config.sample_faces, len(self.sample_set))
        images = uint8_to_model(self.sample_set.images[:count].to(self.device))
        encoding = g.encode(images)
        columns = [images, g.decode(encoding.z, encoding.intensities)]
        for k in range(len(EXPRESSIONS)):
            target = torch.zeros(count, len(EXPRESSIONS), device=self.device)
            target[:, k] = 1.0
            columns.append(g.decode(encoding.z, target))
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


def load_state(path: Path) -> dict:
    """A training state, loaded safely; a clear error when the file is something else."""
    if not path.exists():
        raise FaceeditError(f"no training state at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise FaceeditError(f"{path} is not a readable training state ({type(error).__name__})") from error
    if not isinstance(state, dict) or state.get("format") != TRAINING_STATE_FORMAT:
        raise FaceeditError(f"{path} is not a faceedit training state")
    if int(state.get("format_version", 0)) > STATE_VERSION:
        raise FaceeditError(f"{path} was written by a newer faceedit-train")
    return state
