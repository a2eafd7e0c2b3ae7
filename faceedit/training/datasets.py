"""Dataset layouts: the kinds, the expression folder names, and a cheap look at a folder.

``check_dataset`` reads folder names and counts files, never pixels. The engine calls it
for the retrain dialog's hint (with a cap on the folders it looks at: someone may pick
their home folder); the trainer's :func:`trainer.datasets.detect_kind` calls it without
the cap to decide. Pure Python: any thread.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from faceedit.core.expressions import NEUTRAL
from faceedit.core.imageio import is_photo_path

KINDS: tuple[str, ...] = ("oulu", "folders", "pairs")
"""The dataset layouts ``prepare`` reads (see trainer/datasets.py for each)."""

KIND_CHOICES: tuple[str, ...] = ("auto", *KINDS)
"""What ``--kind`` and the retrain dialog offer: "auto" detects the layout."""

INFO_NAME = "prepare.json"
"""The file in a PREPARED folder that describes it (trainer.manifest.PreparedInfo)."""

# Folder names (lower case) → label. Adjectives are common in downloaded folder datasets.
LABEL_ALIASES: dict[str, str] = {
    "anger": "anger", "angry": "anger",
    "disgust": "disgust", "disgusted": "disgust",
    "fear": "fear", "fearful": "fear", "afraid": "fear",
    "happiness": "happiness", "happy": "happiness", "smiling": "happiness", "smile": "happiness",
    "sadness": "sadness", "sad": "sadness",
    "surprise": "surprise", "surprised": "surprise",
    "neutral": NEUTRAL,
}  # fmt: skip

PAIR_NEUTRAL: tuple[str, ...] = ("neutral",)
PAIR_SMILING: tuple[str, ...] = ("smiling", "smile")

OULU_ORIGINAL_TREES: tuple[str, ...] = ("originalimg",)
OULU_CROPPED_TREES: tuple[str, ...] = ("preprocess_img", "preprocessimg")
_SUBJECT = re.compile(r"^p\d{3}$", re.IGNORECASE)

SEARCH_DEPTH = 4
"""How many unpacking levels above a dataset's own folders are searched."""

MAX_FOLDERS = 3000
"""The engine's cap on the folders searched for an Oulu-CASIA tree: a look, not a crawl."""

EXPECTED_LAYOUTS = (
    "an Oulu-CASIA tree (…/OriginalImg/VL/Strong/P001/Anger/000.jpeg), "
    "a folder of expression folders (anger/, happiness/, neutral/ …) "
    "or paired neutral/ and smiling/ folders of the same people"
)
"""The layouts faceedit reads, in one phrase for the person choosing a folder."""


@dataclass(frozen=True)
class DatasetCheck:
    """What a dataset folder looks like, from a cheap look at its folders (no pixels read).

    For the retrain dialog only a hint: ``prepare`` decides, and its one-line error is what
    the user sees when the two disagree.
    """

    kind: str | None  # one of KINDS, or None when not recognised
    description: str  # what was found, or why nothing was

    @property
    def ok(self) -> bool:
        return self.kind is not None


@dataclass(frozen=True)
class PreparedHeader:
    """What prepare.json says about a prepared folder that the app needs: where from, what size, what layout."""

    root: Path
    size: int
    kind: str


def read_prepared_header(folder: Path) -> PreparedHeader | None:
    """The header of ``folder``'s prepare.json, or None when there is no readable one (any thread)."""
    try:
        info = json.loads((Path(folder) / INFO_NAME).read_text(encoding="utf-8"))
        return PreparedHeader(Path(str(info["root"])), int(info["size"]), str(info["kind"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def visible_subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders, sorted by name (the same answer on every machine); [] if unreadable."""
    try:
        return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    except OSError:
        return []


def _photo_stems(folder: Path) -> set[str]:
    try:
        return {p.stem.lower() for p in folder.iterdir() if p.is_file() and is_photo_path(p)}
    except OSError:
        return set()


def _photo_count(folder: Path) -> int:
    try:
        return sum(1 for p in folder.iterdir() if p.is_file() and is_photo_path(p))
    except OSError:
        return 0


def _descend(root: Path) -> Iterator[Path]:
    """``root`` and the folders below it through single-folder unpacking levels."""
    folder = root
    for _ in range(SEARCH_DEPTH + 1):
        yield folder
        children = visible_subdirs(folder)
        if len(children) != 1 or _photo_count(folder):
            return
        folder = children[0]


def _find_oulu_tree(root: Path, max_folders: int | None) -> Path | None:
    """The shallowest OriginalImg / PreProcess_Img folder (any case) within SEARCH_DEPTH levels."""
    names = OULU_ORIGINAL_TREES + OULU_CROPPED_TREES
    level, seen = [root], 0
    for _ in range(SEARCH_DEPTH + 1):
        for folder in level:
            if folder.name.lower() in names:
                return folder
        seen += len(level)
        if max_folders is not None and seen > max_folders:
            return None
        level = [child for folder in level for child in visible_subdirs(folder)]
    return None


def _describe_oulu(tree: Path) -> DatasetCheck:
    subjects = 0
    for spectrum in visible_subdirs(tree):
        if spectrum.name.lower().startswith("vl"):
            strong = next((p for p in visible_subdirs(spectrum) if p.name.lower() == "strong"), None)
            subjects = len([p for p in visible_subdirs(strong) if _SUBJECT.match(p.name)]) if strong else 0
    which = "pre-cropped faces" if tree.name.lower() not in OULU_ORIGINAL_TREES else "original frames"
    return DatasetCheck("oulu", f"Oulu-CASIA ({which} in {tree.name}; {subjects} subjects in VL/Strong)")


def _check_level(base: Path) -> DatasetCheck | None:
    """Paired neutral/smiling folders, else two or more expression folders, directly in ``base``."""
    children = {p.name.lower(): p for p in visible_subdirs(base)}
    neutral = next((children[n] for n in PAIR_NEUTRAL if n in children), None)
    smiling = next((children[n] for n in PAIR_SMILING if n in children), None)
    if neutral is not None and smiling is not None:
        people = _photo_stems(neutral) & _photo_stems(smiling)
        if people:
            return DatasetCheck("pairs", f"paired neutral/smiling folders: {len(people)} people")
    labels: dict[str, int] = {}
    for name, child in children.items():
        label = LABEL_ALIASES.get(name)
        if label is not None and label not in labels:
            labels[label] = _photo_count(child) + sum(_photo_count(sub) for sub in visible_subdirs(child))
    # Two or more: one folder called "happy" is not yet a dataset.
    if len(labels) >= 2:
        counts = ", ".join(f"{label} {count}" for label, count in labels.items())
        return DatasetCheck("folders", f"expression folders: {counts}")
    return None


def check_dataset(folder: Path | str, *, max_folders: int | None = MAX_FOLDERS) -> DatasetCheck:
    """Which layout ``folder`` has, and a line describing it (cheap; any thread).

    Looked for in this order: an Oulu-CASIA tree within SEARCH_DEPTH levels (at most
    ``max_folders`` folders looked at; None: no limit), then, at ``folder`` and below it
    through single-folder unpacking levels, paired neutral/smiling folders sharing file
    names, then two or more expression folders.
    """
    root = Path(folder)
    if not root.exists():
        return DatasetCheck(None, f"{root} does not exist")
    if not root.is_dir():
        return DatasetCheck(None, f"{root} is a file, not a folder")
    tree = _find_oulu_tree(root, max_folders)
    if tree is not None:
        return _describe_oulu(tree)
    # Unpacking levels hold one folder each, and both layouts need two, so checking both at
    # each level finds what checking all levels for pairs, then for folders, would.
    for base in _descend(root):
        found = _check_level(base)
        if found is not None:
            return found
    return DatasetCheck(None, f"not a dataset faceedit can read; expected {EXPECTED_LAYOUTS}")


__all__ = [
    "EXPECTED_LAYOUTS",
    "INFO_NAME",
    "KINDS",
    "KIND_CHOICES",
    "LABEL_ALIASES",
    "MAX_FOLDERS",
    "OULU_CROPPED_TREES",
    "OULU_ORIGINAL_TREES",
    "PAIR_NEUTRAL",
    "PAIR_SMILING",
    "SEARCH_DEPTH",
    "DatasetCheck",
    "check_dataset",
]
