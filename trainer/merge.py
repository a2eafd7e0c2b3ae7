"""``faceedit-train merge``: several PREPARED folders combined into one.

So one training run and one evaluation can use, for instance, the London pairs (neutral
and happiness only, identities known) together with the expressions7 folders (all six
expressions). The inputs must share the crop size and the alignment template.

Each input gets a short unique name (its folder name, ``-2``, ``-3`` … where two share
one). Its crops go to ``OUT/faces/<name>/`` as hard links (copies across filesystems),
never modified; each record keeps its label, intensity, split and landmarks, with

- ``file`` rewritten to the new place,
- ``subject`` prefixed ``<name>:`` (when known), so identities of different sets never
  collide (the judge's leak guard and any subject split stay per set),
- ``source`` made absolute where it was relative to its input's root, so evaluate still
  finds every source photo (its identity measurement runs in photo space).

prepare.json has kind ``"merged"``, the inputs' common parent folder as ``root``, counts
recomputed, and ``options.sources`` listing the inputs. skipped.csv is the inputs'
concatenated, with a ``set`` column naming where each line came from. As in prepare,
prepare.json and manifest.jsonl are written last: an interrupted merge never leaves a
folder that reads as a prepared dataset.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from faceedit.core.atomic import write_text_atomic
from faceedit.core.errors import FaceeditError
from trainer.manifest import (
    count_faces,
    counts_table,
    FACES_DIR,
    INFO_NAME,
    MANIFEST_NAME,
    SKIPPED_NAME,
    FaceRecord,
    PreparedInfo,
    read_prepared,
    write_prepared,
)

MERGED_KIND = "merged"
JUDGE_CACHE_NAME = "judge.pt"  # trainer.judge.JUDGE_NAME (not imported: that pulls in torch)


@dataclass(frozen=True)
class MergeSource:
    """One input of a merge."""

    name: str  # unique short name: the folder under OUT/faces and the subject prefix
    path: Path  # the input PREPARED folder, resolved
    info: PreparedInfo
    records: list[FaceRecord]


@dataclass(frozen=True)
class MergeReport:
    """What ``merge`` did: faces per split × label, and per input."""

    out: Path
    sources: tuple[tuple[str, str, str, int], ...]  # (name, path, kind, faces)
    counts: dict[str, dict[str, int]]  # split → label → faces
    linked: int  # crops hard-linked
    copied: int  # crops copied (another filesystem, or links unsupported)
    skipped: int  # lines of the merged skipped.csv
    seconds: float

    @property
    def faces(self) -> int:
        return sum(sum(labels.values()) for labels in self.counts.values())

    def format(self) -> str:
        """A few lines for the terminal, shaped like prepare's report."""
        lines = [f"merged {self.faces} faces from {len(self.sources)} prepared sets in {self.out} in {self.seconds:.1f} s"]
        lines += counts_table(self.counts)
        name_width = max(len(name) for name, *_ in self.sources)
        lines += [f"  {name:{name_width}}  {faces:>6} faces ({kind}) from {path}" for name, path, kind, faces in self.sources]
        lines.append(f"crops: {self.linked} hard-linked, {self.copied} copied")
        if self.skipped:
            lines.append(f"the inputs skipped {self.skipped} files (see {SKIPPED_NAME})")
        return "\n".join(lines)


# ------------------------------------------------------------------------------ checks


def unique_names(folders: Sequence[Path]) -> list[str]:
    """Each folder's name, made unique with ``-2``, ``-3`` … in order of appearance."""
    names: list[str] = []
    for folder in folders:
        base = folder.name.replace(":", "_") or "set"
        name, number = base, 1
        while name in names:
            number += 1
            name = f"{base}-{number}"
        names.append(name)
    return names


def _check_inputs(inputs: Sequence[Path], out: Path, overwrite: bool) -> None:
    """At least two distinct inputs; OUT neither one of them, nor holding one, nor inside one; OUT new or empty."""
    from trainer.prepare import check_output

    if len(inputs) < 2:
        raise FaceeditError("merge needs at least two prepared folders")
    seen: dict[Path, Path] = {}
    out_abs = out.resolve()
    for folder in inputs:
        resolved = folder.resolve()
        if resolved in seen:
            raise FaceeditError(f"{folder} is given twice (as {seen[resolved]} and {folder})")
        seen[resolved] = folder
        if out_abs == resolved:
            raise FaceeditError(f"the output folder {out} is one of the inputs ({folder})")
        if out_abs in resolved.parents:
            raise FaceeditError(f"the output folder {out} must not contain the input {folder}")
        if resolved in out_abs.parents:
            raise FaceeditError(f"the output folder {out} must not lie inside the input {folder}")
    check_output(inputs[0], out, overwrite)  # exists as a file, or non-empty without --overwrite


def _read_sources(inputs: Sequence[Path]) -> list[MergeSource]:
    """Read every input; a FaceeditError naming the first size or template mismatch."""
    resolved = [folder.resolve() for folder in inputs]
    sources = []
    for name, folder, path in zip(unique_names(resolved), inputs, resolved):
        info, records = read_prepared(folder)
        sources.append(MergeSource(name, path, info, records))
    first = sources[0]
    for source, folder in zip(sources[1:], inputs[1:]):
        if source.info.size != first.info.size:
            raise FaceeditError(
                f"cannot merge: {inputs[0]} holds {first.info.size}-pixel faces but {folder} holds "
                f"{source.info.size}-pixel ones (prepare both with the same --size)"
            )
        a, b = np.asarray(first.info.template, np.float64), np.asarray(source.info.template, np.float64)
        if a.shape != b.shape or not np.allclose(a, b, atol=1e-6):
            raise FaceeditError(f"cannot merge: {inputs[0]} and {folder} were aligned with different templates")
    return sources


# ------------------------------------------------------------------------------ the merge


def _clear_output(out: Path) -> None:
    """Remove what an earlier prepare or merge wrote (and only that); prepare.json first."""
    for name in (INFO_NAME, MANIFEST_NAME, SKIPPED_NAME, JUDGE_CACHE_NAME):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / FACES_DIR, ignore_errors=True)


def _absolute_source(info: PreparedInfo, source: str) -> str:
    """The source photo as evaluate finds it (absolute, under the root, or from here), made absolute."""
    path = Path(source)
    if path.is_absolute():
        return source
    under_root = Path(info.root) / path
    for candidate in (under_root, path):
        if candidate.is_file():
            return str(candidate.resolve())
    return str(under_root.absolute())  # not found either way: keep the root's reading of it


def _new_file(name: str, file: str) -> str:
    """``faces/000123.png`` of input ``name`` → ``faces/<name>/000123.png``."""
    relative = Path(file)
    parts = relative.parts[1:] if relative.parts[:1] == (FACES_DIR,) else relative.parts
    return Path(FACES_DIR, name, *parts).as_posix()


def _place(source: Path, target: Path) -> bool:
    """Hard-link ``source`` at ``target`` (True), or copy it where a link is impossible (False)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return True
    except OSError:  # another filesystem (EXDEV), or no hard links there
        shutil.copyfile(source, target)
        return False


def _crop_path(source: MergeSource, file: str) -> Path:
    path = (source.path / file).resolve()
    if Path(file).is_absolute() or ".." in Path(file).parts or source.path not in path.parents:
        raise FaceeditError(f"{source.path} has a record whose crop {file} lies outside the folder")
    if not path.is_file():
        raise FaceeditError(f"prepared dataset {source.path} is incomplete: its crop {file} is missing")
    return path


def _read_skipped(source: MergeSource) -> list[list[str]] | None:
    """The input's skipped.csv as [set, source, reason] rows; None where it has none."""
    path = source.path / SKIPPED_NAME
    if not path.is_file():
        return None
    rows = []
    for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        inner = row.get("set")  # a merged input names its own sets
        rows.append([f"{source.name}:{inner}" if inner else source.name, row.get("source") or "", row.get("reason") or ""])
    return rows


def _common_root(sources: Sequence[MergeSource]) -> str:
    """The inputs' dataset roots' common parent folder, else a description (``london + e7``)."""
    roots = [Path(s.info.root) for s in sources]
    if all(root.is_absolute() for root in roots):
        common = Path(os.path.commonpath([str(root) for root in roots]))
        if common != Path(common.anchor):
            return str(common)
    return " + ".join(s.name for s in sources)


def merge_prepared(inputs: Sequence[Path | str], out: Path | str, *, overwrite: bool = False) -> MergeReport:
    """Merge the PREPARED folders ``inputs`` into ``out``; returns what was done.

    Raises FaceeditError for fewer than two inputs, an input that is not a prepared
    dataset (or lacks a crop), inputs of different sizes or templates, an output that is
    one of the inputs (or holds or lies in one), or an output that exists non-empty
    without ``overwrite``.
    """
    started = time.perf_counter()
    inputs, out = [Path(p) for p in inputs], Path(out)
    _check_inputs(inputs, out, overwrite)
    sources = _read_sources(inputs)

    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        _clear_output(out)
    (out / FACES_DIR).mkdir()
    records: list[FaceRecord] = []
    linked = copied = 0
    skipped: list[list[str]] = []
    any_skipped = False
    for source in sources:
        placed: dict[str, str] = {}  # old file → new file (two records may share a crop)
        for record in source.records:
            if record.file not in placed:
                placed[record.file] = _new_file(source.name, record.file)
                if _place(_crop_path(source, record.file), out / placed[record.file]):
                    linked += 1
                else:
                    copied += 1
            records.append(replace(
                record,
                file=placed[record.file],
                source=_absolute_source(source.info, record.source),
                subject=f"{source.name}:{record.subject}" if record.subject else "",
            ))  # fmt: skip
        rows = _read_skipped(source)
        if rows is not None:
            any_skipped = True
            skipped += rows

    counts = count_faces(records)
    options: dict[str, Any] = {"sources": [
        {"name": s.name, "path": str(s.path), "kind": s.info.kind, "root": s.info.root, "faces": len(s.records)}
        for s in sources
    ]}  # fmt: skip
    first = sources[0].info
    info = PreparedInfo(
        kind=MERGED_KIND, root=_common_root(sources), size=first.size, template=first.template,
        counts=counts, options=options,
    )  # fmt: skip
    if any_skipped:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["set", "source", "reason"])
        writer.writerows(skipped)
        write_text_atomic(out / SKIPPED_NAME, buffer.getvalue(), overwrite=True)
    write_prepared(out, info, records)  # last: until now the folder does not read as prepared
    return MergeReport(
        out=out,
        sources=tuple((s.name, str(s.path), s.info.kind, len(s.records)) for s in sources),
        counts=counts,
        linked=linked,
        copied=copied,
        skipped=len(skipped),
        seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------------ command line


def add_merge_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``faceedit-train merge`` (the trainer's cli builds the parser)."""
    parser.add_argument("inputs", type=Path, nargs="+", metavar="PREPARED", help="prepared folders (at least two, same --size)")
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="OUT", help="output folder (new or empty)")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier prepare or merge in OUT")


def run_merge(args: argparse.Namespace) -> int:
    """Run ``merge`` and print its report; FaceeditError propagates to the cli (one line, exit 1)."""
    report = merge_prepared(args.inputs, args.out, overwrite=args.overwrite)
    print(report.format())
    return 0
