"""``faceedit-train train``: start or resume a run; ``--dry-run`` prints the plan."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

from faceedit.core.device import resolve_precision
from faceedit.core.errors import FaceeditError
from faceedit.training.runs import CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME, Progress, RunConfig, new_run_dir
from faceedit.core.models.families import FAMILIES, family_named
from trainer.config import TrainConfig, resolve_config
from trainer.loop import AbortFn, ProgressFn, Trainer, TrainResult, World, init_world
from trainer.manifest import read_prepared
from trainer.state import TrainingState, load_state


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prepared", metavar="PREPARED", type=Path, help="a folder made by `faceedit-train prepare`")
    parser.add_argument("--family", choices=sorted(FAMILIES), default="exprgan",
                        help="the model family to train (default exprgan; docs/ARCHITECTURE.md, \"Model families\")")
    parser.add_argument("--preset", metavar="NAME",
                        help="network size and schedule of the family: exprgan has desktop (default), paper (GPU), "
                             "bundled (the shipped recipe) and smoke; the others cpu (default), gpu and smoke")
    parser.add_argument("--out", metavar="RUNS", type=Path, default=Path("runs"), help="folder for numbered run folders (default ./runs)")
    parser.add_argument("--resume", metavar="RUN", type=Path, help="continue this run folder from its checkpoint")
    parser.add_argument("--device", metavar="DEV", help="auto (default), cpu, cuda or cuda:N; under torchrun each process takes its GPU")
    parser.add_argument("--max-steps", type=int, metavar="N", help="shorten the curriculum to N steps in all (or stop a resumed run at step N)")
    parser.add_argument("--batch-size", type=int, metavar="B", help="faces per process per step (default: the preset's)")
    parser.add_argument("--seed", type=int, help="random seed (default 0)")
    parser.add_argument("--precision", metavar="P",
                        help="auto (default, or $FACEEDIT_PRECISION), fp32 or bf16; auto is bf16 where the CPU or GPU computes it natively")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and exit")


def _plan(config: TrainConfig, prepared: Path, device: str | None, world_size: int) -> str:
    from faceedit.core.device import resolve_device, resolve_precision

    torch_device = resolve_device(device)
    precision = resolve_precision(config.precision, torch_device)
    info, records = read_prepared(prepared)
    counts = {split: sum(1 for r in records if r.split == split) for split in ("train", "test")}
    m = config.model
    lines = [
        f"data       {prepared} ({info.kind}, {info.size} px): {counts['train']} train / {counts['test']} test faces",
        f"network    {family_named(config.family).describe(m)}",
        f"device     {torch_device}, {precision.describe()}; {world_size} process(es); batch {config.batch_size} per process",
        f"optimiser  Adam lr {config.lr:g}, betas {config.betas}",
    ]
    for stage in config.stages:
        weights = {k: v for k, v in stage.weights.__dict__.items() if v}
        lines.append(
            f"stage      {stage.name:15s} {stage.steps:7,d} steps  trains {', '.join(stage.trains)}"
            f"  losses {', '.join(f'{k}={v:g}' for k, v in weights.items())}"
        )
    lines.append(f"total      {config.total_steps:,} steps")
    return "\n".join(lines)


def _print_progress(progress: Progress) -> None:
    losses = "  ".join(f"{k} {v:.4f}" for k, v in sorted(progress.losses.items()))
    print(
        f"step {progress.step}/{progress.total_steps} [{progress.stage}] {progress.images_per_second:.1f} img/s "
        f"ETA {progress.eta_seconds / 60:.1f} min | {losses}",
        file=sys.stderr,
        flush=True,
    )


def train_run(
    prepared: Path | None,
    config: TrainConfig,
    runs: Path | None = None,
    resume: Path | None = None,
    device: str | None = None,
    stop_at: int | None = None,
    progress_fn: ProgressFn | None = None,
    abort_fn: AbortFn | None = None,
    resume_state: TrainingState | None = None,
) -> TrainResult:
    """Start a new run under ``runs`` (or resume ``resume``) and train it; the library entry point.

    Resuming takes the config from the run's checkpoint, ignoring ``config``; a caller that
    has loaded the checkpoint already passes it as ``resume_state`` (and the prepared folder
    it read from the run's config as ``prepared``) so neither file is read twice.
    """
    world, torch_device = init_world(device)
    state: TrainingState | None = None
    if resume is not None:
        state = resume_state if resume_state is not None else load_state(resume / CHECKPOINT_NAME)
        config = TrainConfig.from_dict(state.config)
        prepared = RunConfig.read(resume).prepared if prepared is None else prepared
        run = resume
    else:
        if runs is None:
            raise FaceeditError("a new run needs a runs folder")
        if prepared is None:
            raise FaceeditError("a new run needs a prepared dataset")
        read_prepared(prepared)  # a clear error before any run folder is made
        # The run records the precision it trains at, so that a resume keeps it.
        precision = resolve_precision(config.precision, torch_device)
        config = replace(config, precision=precision.name)
        run = new_run_dir(runs, config.preset) if world.is_main else runs
        if world.size > 1:
            run = _agree_on_run(run, world)
        if world.is_main:
            RunConfig(train=config.to_dict(), prepared=prepared.resolve(), world_size=world.size).write(run)
    trainer = Trainer(config, prepared, run, torch_device, world)
    if state is not None:
        trainer.load(state)
    return trainer.run_loop(progress_fn, abort_fn, stop_at)


def _agree_on_run(run: Path, world: World) -> Path:
    """All processes use the run folder rank 0 created."""
    import torch.distributed as dist

    names = [str(run)]
    dist.broadcast_object_list(names, src=0)
    return Path(names[0])


def listen_for_ctrl_c() -> None:
    """Make Ctrl-C (SIGINT) raise KeyboardInterrupt even where it was inherited as ignored.

    A shell starts background jobs (``faceedit &``, ``make test &``) with SIGINT ignored,
    their children inherit that, and Python then installs no handler: Ctrl-C and the app's
    Cancel, which sends SIGINT, would not stop the training to save it. Main thread only.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_train(args: argparse.Namespace) -> int:
    listen_for_ctrl_c()
    state: TrainingState | None = None  # loaded once here, handed to train_run
    if args.resume is not None:
        if not any((args.resume / name).exists() for name in (CHECKPOINT_NAME, PREVIOUS_CHECKPOINT_NAME)):
            raise FaceeditError(f"{args.resume} has no {CHECKPOINT_NAME} to resume from")
        state = load_state(args.resume / CHECKPOINT_NAME)
        config = TrainConfig.from_dict(state.config)
        prepared = RunConfig.read(args.resume).prepared
    else:
        if not args.prepared.is_dir():
            raise FaceeditError(f"prepared dataset {args.prepared} does not exist; run `faceedit-train prepare` first")
        try:
            config = resolve_config(args.preset, args.max_steps, args.family, batch_size=args.batch_size, seed=args.seed,
                                    precision=args.precision)
        except ValueError as error:
            raise FaceeditError(str(error)) from None
        prepared = args.prepared
    if args.dry_run:
        print(_plan(config, prepared, args.device, 1))
        return 0
    stop_at = args.max_steps if args.resume is not None else None
    result = train_run(prepared, config, None if args.resume else args.out, args.resume, args.device, stop_at, _print_progress,
                       resume_state=state)
    if result.status == "finished":
        print(f"finished {result.steps} steps in {result.run}; export with: faceedit-train export {result.run} -o model.pt")
        return 0
    print(f"stopped at step {result.steps} ({result.status}); state saved; resume with: faceedit-train train --resume {result.run} {prepared}")
    return 130 if result.status == "interrupted" else 0

