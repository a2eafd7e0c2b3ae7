"""Precision of search by expression on held-out labelled faces, through the app's own path.

    .venv/bin/python bench/eval_search.py PREPARED [--model FILE] [--precision auto]

The test split of a PREPARED folder (e.g. the bundled model's merged London +
expressions7 set: its test identities were never trained on) names held-out photos and
their labels. Their *source photos* are linked into a temporary folder, indexed exactly as
``faceedit search`` indexes a folder (detection, alignment, the model's reading), and each
indexed face is used as a query against the others of its source (London, expressions7):

- precision@5 / @10: the share of the top 5 / 10 with the query's label (chance = the
  label's share among the others);
- London, smiling queries: how many of the top 10 are the same person's neutral photo
  (at most 1), and the mean rank of that photo (lower = identity crowds the top).

Faces the detector misses are not indexed (counted). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repo, when not installed
from machine import machine_line  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("prepared", type=Path)
    parser.add_argument("--model", default=None)
    parser.add_argument("--precision", default=None, help="auto (default), fp32 or bf16")
    args = parser.parse_args()

    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.faces import face_detector
    from faceedit.core.models.file import load_model
    from faceedit.core.resources import default_model_path
    from faceedit.core.search import model_digest, rank, update_index
    from trainer.manifest import read_prepared

    info, records = read_prepared(args.prepared)
    test = [r for r in records if r.split == "test"]
    model_path = default_model_path(args.model)
    model = load_model(model_path, "cpu", args.precision)
    editor = ExpressionEditor(model)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "held-out"
        meta: dict[str, tuple[str, str, str]] = {}  # relative path → (source set, label, subject)
        for i, record in enumerate(test):
            source = Path(record.source)
            if not source.is_absolute():
                source = Path(info.root) / source
            if not source.is_file():  # a prepared folder's links may be gone: the shared data by label and name
                source = Path(__file__).resolve().parents[2] / "shared" / "data" / "expressions7" / record.label / source.name
            source = source.resolve()
            if not source.is_file():
                continue
            group = "london" if "london" in str(source) else "expressions7"
            relative = f"{group}/{i:04d}{source.suffix.lower()}"
            (folder / group).mkdir(parents=True, exist_ok=True)
            os.symlink(source, folder / relative)
            meta[relative] = (group, record.label, record.subject if group == "london" else "")
        update = update_index(folder, editor, face_detector(), model_digest(model_path, model.precision.name), use_cache=False)
        index = update.index
        print(machine_line())
        print(f"model {model_path.name} at {model.precision.name}; {len(meta)} held-out photos linked, "
              f"{len(index)} faces indexed ({len({p for p in index.paths})} photos with a face)")
        paths = index.paths
        lines = ["| set | faces (queries) | precision@5 | precision@10 | chance (label share) |", "|---|---:|---:|---:|---:|"]
        same_person_in_top10, same_person_rank = [], []
        london_others = 0
        for group in ("london", "expressions7"):
            rows = [i for i, p in enumerate(paths) if meta[p][0] == group and index.faces[i] == 0]
            if len(rows) < 11:
                continue
            vectors = index.vectors[rows]
            labels = [meta[paths[i]][1] for i in rows]
            subjects = [meta[paths[i]][2] for i in rows]
            p5, p10, chance = [], [], []
            counts = Counter(labels)
            for q in range(len(rows)):
                order, _ = rank(vectors, vectors[q])
                order = [o for o in order if o != q]
                hits = [labels[o] == labels[q] for o in order]
                p5.append(np.mean(hits[:5]))
                p10.append(np.mean(hits[:10]))
                chance.append((counts[labels[q]] - 1) / (len(rows) - 1))
                if group == "london" and labels[q] == "happiness":
                    london_others = len(rows) - 1
                    twin = [k for k, o in enumerate(order) if subjects[o] == subjects[q] and labels[o] == "neutral"]
                    if twin:
                        same_person_rank.append(twin[0] + 1)
                        same_person_in_top10.append(int(twin[0] < 10))
            lines.append(f"| {group} | {len(rows)} | {100 * np.mean(p5):.1f} % | {100 * np.mean(p10):.1f} % | {100 * np.mean(chance):.1f} % |")
        print("\n".join(lines))
        if same_person_rank:
            print(f"\nLondon smiling queries ({len(same_person_rank)}): the same person's neutral photo is in the top 10 for "
                  f"{sum(same_person_in_top10)} (mean {np.mean(same_person_in_top10):.2f} per query); its rank: median "
                  f"{np.median(same_person_rank):.0f}, mean {np.mean(same_person_rank):.1f} of {london_others}")
        missed = len(meta) - len({p for p in paths})
        print(f"photos without a detected face (not indexed): {missed} of {len(meta)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
