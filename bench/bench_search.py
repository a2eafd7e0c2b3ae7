"""Time search by expression on a synthetic index of 10,000 photos (one face each).

    .venv/bin/python bench/bench_search.py [--photos 10000] [--runs 20]

Prints median and 5–95 % range of:

- rank: the ranking alone (one numpy matrix-vector product over N×6 vectors, then top 10);
- search: ``ExpressionIndex.search`` for the top 10 (ranking + the hits' records);
- load: reading the cached index file (``load_index``);
- warm search: what a second ``faceedit search`` of an indexed folder costs after the
  model and query are read: list the folder, stat every photo, load the cache, find
  nothing to read, rank. The folder holds N one-byte files named like photos whose
  stamps match the cache, so no photo is decoded (reading a new photo costs a face
  detection and a model read, ~0.1–0.3 s each; that is indexing, done once).

The vectors are random in [0, 1]^6 (the speed does not depend on their values).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repo, when not installed
from machine import machine_line, time_it  # noqa: E402

from faceedit.core.search import (  # noqa: E402
    ExpressionIndex,
    FileStamp,
    index_path,
    load_index,
    rank,
    save_index,
    update_index,
)

EXPRESSIONS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")


class _NeverReads:
    """Stand-in editor and detector: a warm search must not read any photo."""

    model = type("M", (), {"info": type("I", (), {"expressions": EXPRESSIONS})()})()

    def recognise(self, *_: object) -> np.ndarray:
        raise AssertionError("a photo was read: the cache did not match")

    def detect(self, *_: object) -> list:
        raise AssertionError("a photo was read: the cache did not match")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    n = args.photos
    vectors = rng.random((n, len(EXPRESSIONS)), dtype=np.float32)
    query = rng.random(len(EXPRESSIONS), dtype=np.float32)
    with tempfile.TemporaryDirectory() as scratch:
        folder, cache = Path(scratch) / "photos", Path(scratch) / "cache"
        files = []
        for i in range(n):
            path = folder / f"{i // 1000:02d}" / f"{i:05d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
            stat = path.stat()
            files.append(FileStamp(path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns, 1))
        index = ExpressionIndex(folder, "bench", EXPRESSIONS, files, [f.path for f in files], np.zeros(n, np.int32),
                                np.tile(np.array([10, 10, 110, 110], np.int32), (n, 1)), vectors)
        cache_file = index_path(folder, "bench", cache)
        save_index(index, cache_file)
        fake = _NeverReads()
        check = update_index(folder, fake, fake, "bench", directory=cache)  # type: ignore[arg-type]
        assert check.read == 0 and check.reused == n and len(check.index) == n

        print(machine_line())
        print(f"index: {n} photos, {n} faces, {len(EXPRESSIONS)} values each; cache file {cache_file.stat().st_size / 1e6:.2f} MB")
        print(f"rank (top 10)            {time_it(lambda: rank(vectors, query, 10), runs=args.runs)}")
        print(f"search (top 10, hits)    {time_it(lambda: index.search(query, 10), runs=args.runs)}")
        print(f"load the cached index    {time_it(lambda: load_index(cache_file, folder, 'bench'), runs=args.runs)}")
        warm = time_it(lambda: update_index(folder, fake, fake, "bench", directory=cache).index.search(query, 10),  # type: ignore[arg-type]
                       runs=max(3, args.runs // 4), warmup=1)
        print(f"warm search (list, stat, load, rank)  {warm}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
