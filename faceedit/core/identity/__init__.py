"""Face identity: a torch port of dlib's face-recognition ResNet (128-d descriptors).

- :func:`face_descriptor` / :func:`descriptor_distance` / :data:`SAME_PERSON_THRESHOLD`:
  recognition, matching ``dlib.face_recognition_model_v1`` to ~1e-6.
- :class:`IdentityLoss` / :class:`IdentityFeatures`: differentiable identity features of
  faceedit's aligned crops, for training.
- :func:`load_dlib_resnet` / :class:`DlibFaceResNet`: the network itself; the first use
  converts dlib's ``.dat`` (pure numpy reader) and caches the weights in the user cache.

Importing this package does no work beyond importing torch and numpy.
"""

from faceedit.core.identity.chips import DLIB_CHIP_POINTS_5, CropToChip, face_chip
from faceedit.core.identity.dat_reader import DlibNet, parse_dlib_net, read_dlib_net
from faceedit.core.identity.descriptors import (
    SAME_PERSON_THRESHOLD,
    chip_descriptors,
    chips_to_tensor,
    descriptor_distance,
    face_descriptor,
)
from faceedit.core.identity.loss import DEFAULT_LAYERS, IdentityFeatures, IdentityLoss
from faceedit.core.identity.network import CHIP_SIZE, FEATURE_LAYERS, DlibFaceResNet
from faceedit.core.identity.weights import (
    CACHE_ENV_VAR,
    default_dat_path,
    identity_cache_dir,
    load_dlib_resnet,
    shared_dlib_resnet,
)

__all__ = [
    "CACHE_ENV_VAR",
    "CHIP_SIZE",
    "DEFAULT_LAYERS",
    "DLIB_CHIP_POINTS_5",
    "FEATURE_LAYERS",
    "SAME_PERSON_THRESHOLD",
    "CropToChip",
    "DlibFaceResNet",
    "DlibNet",
    "IdentityFeatures",
    "IdentityLoss",
    "chip_descriptors",
    "chips_to_tensor",
    "default_dat_path",
    "descriptor_distance",
    "face_chip",
    "face_descriptor",
    "identity_cache_dir",
    "load_dlib_resnet",
    "parse_dlib_net",
    "read_dlib_net",
    "shared_dlib_resnet",
]
