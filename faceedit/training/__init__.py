"""What the trainer, the engine, the GUI and the CLI share about training (no torch, no Qt).

The trainer runs in its own process and the engine may not import it, so the facts both
sides rely on live here, each with one owner: the presets (:mod:`.presets`), the run
folder and the files in it (:mod:`.runs`), and dataset layouts (:mod:`.datasets`).
Only the standard library, numpy, platformdirs and torch-free parts of
:mod:`faceedit.core` may be imported here (an import-linter contract checks it); see
docs/ARCHITECTURE.md for the layering.
"""
