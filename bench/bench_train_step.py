"""Time trainer steps of one preset in whichever faceedit tree is on PYTHONPATH (old or new).

For before/after comparisons across commits, where bench_train.py's own imports may not exist:

    git worktree add /tmp/base 6b30de1
    python -c "import sys; sys.path.insert(0, 'bench'); import bench_train; from pathlib import Path; \\
               bench_train.synthetic_prepared(Path('/tmp/prep64'), 64)"
    (cd /tmp/base && PYTHONPATH=/tmp/base python /work/main/bench/bench_train_step.py bundled /tmp/prep64 6)
    PYTHONPATH=. python bench/bench_train_step.py bundled /tmp/prep64 6 bf16

Each step is timed at the start of the preset's last stage (the heaviest); two warm-up
steps first; prints the median, minimum and maximum. Only standard trainer APIs that both
old and new trees have are used (``resolve_config``, ``Trainer``, ``train_step``).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__)
        return 2
    preset, prepared, steps = argv[0], Path(argv[1]), int(argv[2])
    precision = argv[3] if len(argv) > 3 else None
    from trainer.config import resolve_config
    from trainer.loop import Trainer

    config = resolve_config(preset, **({"precision": precision} if precision else {}))
    trainer = Trainer(config, prepared, Path(tempfile.mkdtemp(prefix="bench-step-")), torch.device("cpu"))
    start = config.total_steps - config.stages[-1].steps
    times = []
    for index in range(steps + 2):
        trainer.step = start
        began = time.perf_counter()
        trainer.train_step()
        if index >= 2:
            times.append(time.perf_counter() - began)
    print(f"{preset} {precision or 'fp32 (old trainer)'}: median {statistics.median(times) * 1000:.0f} ms, "
          f"min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}, batch {config.batch_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
