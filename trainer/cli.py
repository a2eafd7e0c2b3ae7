"""``faceedit-train``: prepare, merge, warp, train, evaluate, export, geometry, recognition, compare.

Each failure the user can act on prints one ``faceedit-train: error: …`` line and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from faceedit import __version__
from faceedit.core.errors import run_reporting_errors


def build_parser() -> argparse.ArgumentParser:
    from trainer.augment import add_augment_arguments
    from trainer.compare import add_compare_arguments
    from trainer.evaluate import add_evaluate_arguments
    from trainer.export import add_export_arguments
    from trainer.geometry import add_geometry_arguments
    from trainer.recognition import add_recognition_arguments
    from trainer.merge import add_merge_arguments
    from trainer.prepare import add_prepare_arguments
    from trainer.train import add_train_arguments
    from trainer.warp import add_warp_arguments

    parser = argparse.ArgumentParser(prog="faceedit-train", description="Build ExprGAN models for faceedit.")
    parser.add_argument("--version", action="version", version=f"faceedit-train {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_prepare_arguments(commands.add_parser("prepare", help="align a dataset (Oulu-CASIA, expression folders, pairs)"))
    add_merge_arguments(commands.add_parser("merge", help="combine prepared folders (same size) into one"))
    add_train_arguments(commands.add_parser("train", help="train a model with the paper's three-stage curriculum"))
    add_evaluate_arguments(commands.add_parser("evaluate", help="measure a model on a prepared test split"))
    add_export_arguments(commands.add_parser("export", help="write the app's model file from a run"))
    add_warp_arguments(commands.add_parser("warp", help="warp a prepared folder's faces onto its mean neutral face (to train appearance without shape)"))
    add_geometry_arguments(commands.add_parser("geometry", help="learn how each expression moves the face, into a model file"))
    add_recognition_arguments(commands.add_parser("recognition", help="teach a model where sliders start: refit its head, or --network: train a recogniser"))
    add_augment_arguments(commands.add_parser("augment-experiment",
                                              help="train the recogniser with and without the model's synthetic faces"))
    add_compare_arguments(commands.add_parser("compare", help="measure models of any family on one table (same data, judge, machine)"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from trainer.augment import run_augment
    from trainer.compare import run_compare
    from trainer.evaluate import run_evaluate
    from trainer.export import run_export
    from trainer.geometry import run_geometry
    from trainer.recognition import run_recognition
    from trainer.merge import run_merge
    from trainer.prepare import run_prepare
    from trainer.train import run_train
    from trainer.warp import run_warp

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    commands = {"prepare": run_prepare, "train": run_train, "evaluate": run_evaluate, "export": run_export,
                "merge": run_merge, "warp": run_warp, "geometry": run_geometry,
                "recognition": run_recognition, "augment-experiment": run_augment, "compare": run_compare}
    return run_reporting_errors("faceedit-train", lambda: commands[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
