"""Precision: fp32 / bf16 / auto resolution, and bfloat16 edits that stay close to float32's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.core import device as device_module
from faceedit.core.device import resolve_precision
from faceedit.core.errors import FaceeditError

CPU = torch.device("cpu")


def test_explicit_choices_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_precision("fp32", CPU).dtype == torch.float32
    bf16 = resolve_precision("BF16", CPU)
    assert bf16.name == "bf16" and bf16.dtype == torch.bfloat16 and "asked for" in bf16.describe()
    monkeypatch.setenv("FACEEDIT_PRECISION", "bf16")
    assert resolve_precision(None, CPU).name == "bf16"
    assert resolve_precision("auto", CPU).name == "bf16"  # a setting left at auto defers to the environment
    with pytest.raises(FaceeditError, match="unknown precision 'fp8'"):
        resolve_precision("fp8", CPU)


def test_auto_takes_bf16_only_where_the_cpu_has_it_natively(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACEEDIT_PRECISION", raising=False)
    monkeypatch.setattr(device_module, "cpu_bf16_flags", lambda: ("avx512_bf16",))
    native = resolve_precision("auto", CPU)
    assert native.name == "bf16" and native.describe() == "bfloat16 (auto: avx512_bf16)"
    monkeypatch.setattr(device_module, "cpu_bf16_flags", lambda: ())
    assert resolve_precision(None, CPU).name == "fp32"


def test_autocast_runs_the_decoder_in_bfloat16() -> None:
    from faceedit.core.models.exprgan import ExprGANConfig, Generator

    network = Generator(ExprGANConfig(image_size=32, width=0.125)).eval()
    with torch.inference_mode(), resolve_precision("bf16", CPU).autocast():
        reading = network.read(torch.zeros(1, 3, 32, 32))
    assert reading.base.dtype == torch.bfloat16
    with torch.inference_mode(), resolve_precision("fp32", CPU).autocast():
        assert network.read(torch.zeros(1, 3, 32, 32)).base.dtype == torch.float32


def test_bundled_model_under_bf16_is_within_a_few_grey_levels_and_exact_at_rest() -> None:
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.file import load_model
    from faceedit.core.resources import bundled_model_path, sample_photo_path

    pixels = load_photo(sample_photo_path()).pixels
    detected = face_detector().detect(pixels)
    editors = {p: ExpressionEditor(load_model(bundled_model_path(), precision=p)) for p in ("fp32", "bf16")}
    faces = {p: [e.encode(pixels, f) for f in detected] for p, e in editors.items()}
    assert np.abs(faces["fp32"][0].recognised - faces["bf16"][0].recognised).max() < 0.01
    # At the recognised intensities nothing changes, bit for bit.
    assert np.array_equal(editors["bf16"].render(pixels, faces["bf16"], ExpressionTargets()), pixels)
    for name in EXPRESSIONS:
        targets = ExpressionTargets.from_mapping({name: 1.0})
        a = editors["fp32"].render(pixels, faces["fp32"], targets).astype(int)
        b = editors["bf16"].render(pixels, faces["bf16"], targets).astype(int)
        # Measured with the version-2 model: at most 5 grey levels (the warp's sub-pixel
        # shift at sharp edges), and 99.9 % of pixels within 1.
        assert np.abs(a - b).max() <= 8, name
        assert np.percentile(np.abs(a - b), 99.9) <= 1, name
        assert (a != pixels).any() and (b != pixels).any()
