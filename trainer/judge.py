"""The judge: a small expression classifier that scores edited faces for ``evaluate``.

It is trained on the TRAINING split of a prepared dataset only (never on a test
identity), then frozen. It reads 64-pixel greyscale crops, standardised per image, so
colour and greyscale sources (London vs the FER-style part of expressions7) are judged
alike. It is cached in the PREPARED folder as ``judge.pt`` (tensors and plain values,
loaded with ``weights_only=True``), keyed by a hash of the manifest and the judge's
settings, and retrained whenever the cache is missing, stale or damaged.

The judge knows only the classes it has seen: probabilities of labels absent from the
training split are zero, so it never names an expression it cannot recognise.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from faceedit.core.atomic import atomic_path
from faceedit.core.errors import FaceeditError
from faceedit.core.imageio import load_photo
from faceedit.core.models.recogniser import ExpressionClassifier, standardise
from trainer.manifest import LABELS, MANIFEST_NAME, FaceRecord

log = logging.getLogger(__name__)

JUDGE_NAME = "judge.pt"
JUDGE_FORMAT = "faceedit-judge"
JUDGE_VERSION = 1  # bump when the network, preprocessing or training changes

Progress = Callable[[str], None]


@dataclass(frozen=True)
class JudgeConfig:
    """How the judge is built and trained; part of the cache key."""

    size: int = 64  # input side, greyscale pixels
    width: int = 16  # channels of the first block (then ×2, ×4, ×8)
    # Measured on 2 CPU cores: ~0.12 s a step; 1.5k expressions7 faces → 458 steps, ~1 min,
    # 57 % on 7 classes (10 epochs: 49 %; width 24: 61 % but twice the time).
    epochs: float = 20.0  # passes over the training faces, turned into steps …
    min_steps: int = 150  # … but at least this many (tiny sets need steps, not epochs)
    max_steps: int = 600  # … and at most this many (keeps big sets within ~2 min on 2 cores)
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.05
    seed: int = 0

    def steps_for(self, faces: int) -> int:
        wanted = math.ceil(self.epochs * faces / self.batch_size)
        return int(min(self.max_steps, max(self.min_steps, wanted)))


@dataclass(frozen=True)
class JudgeTraining:
    """Provenance of a trained judge."""

    key: str  # hash of manifest + config + JUDGE_VERSION
    classes: tuple[str, ...]  # labels it was trained on (those with training faces), LABELS order
    train_counts: dict[str, int]
    steps: int
    seconds: float
    final_loss: float
    excluded_test_subjects: int = 0  # training faces dropped because their subject is also in the test split


JudgeNet = ExpressionClassifier
"""The judge's network (one definition with a model's recogniser: faceedit.core.models.recogniser)."""


# --------------------------------------------------------------------------- inputs


def load_crop(folder: Path, record: FaceRecord) -> np.ndarray:
    """A prepared crop (S×S×3 uint8 RGB, writable); a FaceeditError naming the file when it cannot be read."""
    path = folder / record.file
    try:
        # A copy: decoded photos are read-only, and torch warns about wrapping those.
        return np.array(load_photo(path).pixels)
    except FaceeditError as error:
        raise FaceeditError(f"prepared dataset {folder} is incomplete: {error}") from error


def judge_inputs(crops: Sequence[np.ndarray], size: int) -> np.ndarray:
    """Crops (S×S×3 uint8 RGB, or S×S grey) → N×1×size×size float32, each standardised.

    Greyscale plus per-image standardisation makes colour and greyscale sources, and
    brighter or darker photos, look alike to the judge.
    """
    out = np.empty((len(crops), 1, size, size), np.float32)
    for i, crop in enumerate(crops):
        grey = crop if crop.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)
        if grey.shape != (size, size):
            grey = cv2.resize(grey, (size, size), interpolation=cv2.INTER_AREA if grey.shape[0] > size else cv2.INTER_LINEAR)
        out[i, 0] = standardise(torch.from_numpy(grey.astype(np.float32))[None, None])[0, 0].numpy()
    return out


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips, small shifts/scales/rotations, and blur on some faces (in one warp).

    Blur: the judge must not take sharpness as a cue to the class (edited faces and
    upscaled 48-pixel sources are softer than photos).
    """
    n = x.shape[0]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    scale, angle = uniform(0.92, 1.08), uniform(-0.14, 0.14)  # ±8°
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = flip * scale * torch.cos(angle)
    theta[:, 0, 1] = -scale * torch.sin(angle)
    theta[:, 1, 0] = flip * scale * torch.sin(angle)
    theta[:, 1, 1] = scale * torch.cos(angle)
    theta[:, :, 2] = torch.stack([uniform(-0.1, 0.1), uniform(-0.1, 0.1)], dim=1)  # ±3 px at 64
    grid = F.affine_grid(theta.to(x.device), list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    kernel = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0], device=x.device)
    kernel = (kernel[:, None] * kernel[None, :] / 256.0).view(1, 1, 5, 5)
    blurred = F.conv2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), kernel)
    blur = (torch.rand(n, generator=generator) < 0.3).to(x.device).view(n, 1, 1, 1)
    return torch.where(blur, blurred, x)


# --------------------------------------------------------------------------- the judge


@dataclass
class Judge:
    """A trained, frozen judge ready to score crops."""

    net: JudgeNet
    config: JudgeConfig
    training: JudgeTraining
    device: torch.device
    cached: bool = False  # loaded from judge.pt rather than trained in this run
    _mask: torch.Tensor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.net.requires_grad_(False).eval().to(self.device)
        known = torch.tensor([label in self.training.classes for label in LABELS], device=self.device)
        self._mask = torch.where(known, 0.0, float("-inf"))

    @property
    def class_indices(self) -> tuple[int, ...]:
        return tuple(LABELS.index(c) for c in self.training.classes)

    @torch.inference_mode()
    def probabilities(self, crops: Sequence[np.ndarray], batch_size: int = 256) -> np.ndarray:
        """N×len(LABELS) class probabilities (0 for classes the judge was not trained on)."""
        if not len(crops):
            return np.zeros((0, len(LABELS)), np.float32)
        parts = []
        for start in range(0, len(crops), batch_size):
            x = torch.from_numpy(judge_inputs(crops[start : start + batch_size], self.config.size)).to(self.device)
            # Average with the mirrored face: expressions are symmetric enough, and it
            # steadies the judge's reading of a single face.
            logits = torch.stack([self.net(x), self.net(x.flip(-1))])
            parts.append(torch.softmax(logits + self._mask, dim=2).mean(dim=0).float().cpu().numpy())
        return np.concatenate(parts)

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Predicted label indices (into :data:`trainer.manifest.LABELS`)."""
        return self.probabilities(crops).argmax(axis=1)


def judge_key(folder: Path, config: JudgeConfig) -> str:
    """Cache key: the manifest's bytes, the judge's settings and :data:`JUDGE_VERSION`."""
    digest = hashlib.sha256()
    digest.update((folder / MANIFEST_NAME).read_bytes())
    digest.update(json.dumps({"config": asdict(config), "version": JUDGE_VERSION}, sort_keys=True).encode())
    return digest.hexdigest()


def training_records(records: Sequence[FaceRecord]) -> tuple[list[FaceRecord], int]:
    """Training-split faces, minus any whose subject also appears in the test split.

    The second value is how many were dropped that way (a leak guard: a prepare step
    should never split a subject, but the judge must not have seen a test identity).
    """
    test_subjects = {r.subject for r in records if r.split == "test" and r.subject}
    train = [r for r in records if r.split == "train"]
    kept = [r for r in train if not (r.subject and r.subject in test_subjects)]
    return kept, len(train) - len(kept)


def train_judge(
    images: np.ndarray,
    labels: np.ndarray,
    config: JudgeConfig = JudgeConfig(),
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
    name: str = "judge",
) -> tuple[JudgeNet, int, float]:
    """Train a JudgeNet on N×1×S×S standardised images and label indices (into LABELS).

    ``name`` starts each progress line (a model's recogniser is trained the same way).

    Batches are drawn class-balanced (each sample weighted by 1 / its class's count), so
    6200 neutral faces do not drown 551 disgusted ones. Returns (net, steps, final loss).
    """
    device = torch.device(device)
    torch.manual_seed(config.seed)  # weight initialisation
    generator = torch.Generator().manual_seed(config.seed)
    net = JudgeNet(config.size, config.width).to(device)
    x_all = torch.from_numpy(np.ascontiguousarray(images, np.float32))
    y_all = torch.from_numpy(np.asarray(labels, np.int64))
    counts = torch.bincount(y_all, minlength=len(LABELS)).float()
    sample_weights = 1.0 / counts[y_all]
    steps = config.steps_for(len(y_all))
    optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=steps, pct_start=0.15)
    net.train()
    running = float("nan")
    report_every = max(1, steps // 5)
    for step in range(steps):
        index = torch.multinomial(sample_weights, config.batch_size, replacement=True, generator=generator)
        x = _augment(x_all[index].to(device), generator)
        loss = F.cross_entropy(net(x), y_all[index].to(device), label_smoothing=config.label_smoothing)
        if not torch.isfinite(loss):
            raise FaceeditError(f"the {name}'s training diverged (loss {loss.item()}) at step {step}")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
        running = loss.item() if math.isnan(running) else 0.9 * running + 0.1 * loss.item()
        if progress and ((step + 1) % report_every == 0 or step + 1 == steps):
            progress(f"{name}: step {step + 1}/{steps}, loss {running:.3f}")
    net.requires_grad_(False).eval()
    return net, steps, running


def _save_judge(path: Path, judge: Judge) -> None:
    payload = {
        "format": JUDGE_FORMAT,
        "version": JUDGE_VERSION,
        "config": asdict(judge.config),
        "training": asdict(judge.training),
        "labels": list(LABELS),
        "state_dict": {k: v.detach().cpu() for k, v in judge.net.state_dict().items()},
    }
    try:
        with atomic_path(path, overwrite=True) as tmp:
            torch.save(payload, tmp)
    except FaceeditError as error:
        # A read-only PREPARED folder only costs a retrain next time.
        log.warning("could not cache the judge at %s: %s", path, error)


def _load_judge(path: Path, key: str, config: JudgeConfig, device: torch.device) -> Judge | None:
    """The cached judge, or None where it is missing, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != JUDGE_FORMAT:
            raise ValueError("not a faceedit judge")
        training = dict(payload["training"])
        if payload.get("version") != JUDGE_VERSION or training.get("key") != key or list(payload["labels"]) != list(LABELS):
            return None  # stale: made from another manifest, settings or version
        training["classes"] = tuple(training["classes"])
        net = JudgeNet(config.size, config.width)
        net.load_state_dict(payload["state_dict"], strict=True)
        return Judge(net, config, JudgeTraining(**training), device, cached=True)
    except Exception as error:  # noqa: BLE001 - any unreadable cache is simply retrained
        log.warning("retraining the judge: %s is unreadable (%s)", path, error)
        return None


def load_or_train_judge(
    folder: Path | str,
    records: Sequence[FaceRecord],
    config: JudgeConfig = JudgeConfig(),
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> Judge:
    """The judge of this PREPARED folder: from ``judge.pt`` when it is current, else trained and cached.

    ``records`` is the whole manifest; only its training split is used.
    """
    folder, device = Path(folder), torch.device(device)
    key = judge_key(folder, config)
    cached = _load_judge(folder / JUDGE_NAME, key, config, device)
    if cached is not None:
        return cached
    train, excluded = training_records(records)
    if not train:
        raise FaceeditError(f"{folder} has no training faces to train the judge on")
    counts = Counter(r.label for r in train)
    classes = tuple(label for label in LABELS if counts.get(label))
    if len(classes) < 2:
        raise FaceeditError(f"the judge needs at least two expression classes in the training split of {folder}; it has {', '.join(classes)}")
    if progress:
        progress(f"judge: training on {len(train)} faces ({', '.join(f'{c} {counts[c]}' for c in classes)})")
    start = time.perf_counter()
    images = judge_inputs([load_crop(folder, r) for r in train], config.size)
    labels = np.array([r.label_index for r in train], np.int64)
    net, steps, loss = train_judge(images, labels, config, device, progress)
    training = JudgeTraining(
        key=key,
        classes=classes,
        train_counts={c: int(counts[c]) for c in classes},
        steps=steps,
        seconds=round(time.perf_counter() - start, 2),
        final_loss=float(loss),
        excluded_test_subjects=excluded,
    )
    judge = Judge(net, config, training, device)
    _save_judge(folder / JUDGE_NAME, judge)
    return judge
