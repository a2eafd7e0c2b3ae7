"""``faceedit-train export RUN -o model.pt``: the app's slim model file from a run."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

from faceedit.core.models.file import Provenance, load_model, save_model
from faceedit.core.errors import FaceeditError
from trainer.config import TrainConfig
from trainer.families import objective_for
from trainer.manifest import read_prepared
from faceedit.training.runs import CHECKPOINT_NAME, RunConfig
from trainer.state import load_state


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", type=Path,
                        help="a run folder made by `faceedit-train train`, or a model file to rewrite with new --metrics/--notes")
    parser.add_argument("-o", "--output", metavar="MODEL", type=Path, required=True, help="the model file to write")
    parser.add_argument("--metrics", metavar="JSON", type=Path, help="metrics.json from `faceedit-train evaluate` to store in the model")
    parser.add_argument("--half", action="store_true", help="store weights as float16 (half the size)")
    parser.add_argument("--notes", default="", help="free text stored in the model's provenance")
    parser.add_argument("--overwrite", action="store_true", help="replace MODEL if it exists")


def _commit() -> str:
    try:
        result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).resolve().parent)
        return result.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _numeric_metrics(path: Path | None) -> dict[str, float]:
    """Flatten metrics.json's numbers into "a/b" keys (nested objects become paths)."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise FaceeditError(f"cannot read metrics {path}: {error}") from error
    flat: dict[str, float] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            flat[prefix] = float(value)
        elif isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}/{key}" if prefix else str(key), inner)

    walk("", data)
    return flat


def export_run(run: Path, output: Path, *, metrics: Path | None = None, half: bool = False, notes: str = "", overwrite: bool = False) -> Path:
    """Write the generator of ``run``'s last checkpoint as a faceedit model file."""
    state = load_state(run / CHECKPOINT_NAME)
    config = TrainConfig.from_dict(state.config)
    objective = objective_for(config.family)
    generator = objective.spec(objective.generator).build(config.model)
    generator.load_state_dict(state.networks[objective.generator])
    prepared = RunConfig.read(run).prepared
    try:
        info, _ = read_prepared(prepared)
        data = f"{info.kind} dataset at {info.root} (prepared in {prepared})"
    except FaceeditError:
        data = f"prepared dataset {prepared} (no longer readable)"
    provenance = Provenance(data=data, steps=state.step, commit=_commit(),
                            notes=notes or f"preset {config.preset}; run {run.name}")
    save_model(output, generator, provenance=provenance, metrics=_numeric_metrics(metrics), half=half, overwrite=overwrite,
               family_name=config.family)
    return output


def export_model(model_path: Path, output: Path, *, metrics: Path | None = None, notes: str = "", overwrite: bool = False) -> Path:
    """Rewrite a model file with the metrics of its evaluation (and notes appended); weights as stored."""
    model = load_model(model_path, "cpu", "fp32")
    p = model.info.provenance
    provenance = Provenance(p.data, p.steps, p.commit, p.date, " ".join(n for n in (p.notes, notes) if n))
    save_model(output, model.network, provenance=provenance, metrics=_numeric_metrics(metrics) if metrics else model.info.metrics,
               template=model.info.template, half="float16" in model.info.storage_dtype, overwrite=overwrite,
               family_name=model.info.family.name)
    return output


def run_export(args: argparse.Namespace) -> int:
    if args.run.is_file():
        path = export_model(args.run, args.output, metrics=args.metrics, notes=args.notes, overwrite=args.overwrite)
        print(f"wrote {path}")
        return 0
    path = export_run(args.run, args.output, metrics=args.metrics, half=args.half, notes=args.notes, overwrite=args.overwrite)
    print(f"wrote {path}")
    return 0
