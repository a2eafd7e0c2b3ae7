"""faceedit-train recognition --network: a recogniser over whole faces, stored in the model, reads every face it opens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.imageio import save_photo
from trainer.manifest import FACES_DIR, FaceRecord, PreparedInfo, write_prepared

SIZE = 64


def _face(label: str, rng: np.random.Generator) -> np.ndarray:
    """A grey face whose bright bar sits low (a "smile") or high (neutral), with noise and light changes."""
    crop = rng.normal(110, 12, (SIZE, SIZE)).clip(0, 255)
    row = 44 if label == "happiness" else 18
    crop[row : row + 6, 16:48] += 90
    crop = crop * rng.uniform(0.6, 1.2)  # brightness varies; the recogniser standardises it away
    return np.repeat(crop.clip(0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _prepared(folder: Path) -> Path:
    """16 subjects neutral and smiling; the last 4 held out."""
    rng = np.random.default_rng(3)
    (folder / FACES_DIR).mkdir(parents=True)
    records = []
    points = np.random.default_rng(1).uniform(16, 48, (68, 2)).tolist()
    for n in range(16):
        for label in ("neutral", "happiness"):
            name = f"{FACES_DIR}/{len(records):04d}.png"
            save_photo(folder / name, _face(label, rng))
            records.append(FaceRecord(file=name, source=name, label=label, intensity=0.0 if label == "neutral" else 1.0,
                                      subject=f"{n:03d}", split="train" if n < 12 else "test", landmarks=points,
                                      source_landmarks=points))
    write_prepared(folder, PreparedInfo(kind="pairs", root=str(folder), size=SIZE, template=TEMPLATE_5.tolist()), records)
    return folder


def test_network_recogniser_reads_held_out_faces_and_changes_nothing_else(tmp_path: Path, tiny_model_path: Path) -> None:
    from faceedit.core.models.file import load_model
    from trainer.recognition import train_recogniser

    folder = _prepared(tmp_path / "p")
    out = tmp_path / "r.pt"
    before, after = train_recogniser(tiny_model_path, [folder], out, overwrite=False, width=4, steps=80, seed=0)
    assert after.faces == 8 and after.neutral_read_neutral == 1.0 and after.expression_read_right == 1.0
    assert before.neutral_read_neutral < 1.0 or before.expression_read_right < 1.0  # the random head could not
    old, new = load_model(tiny_model_path), load_model(out)
    assert new.info.config.recogniser_width == 4 and old.info.config.recogniser_width == 0
    new_state = new.network.state_dict()
    for name, tensor in old.network.state_dict().items():
        assert torch.equal(tensor, new_state[name]), name
    assert {name for name in new_state if name not in old.network.state_dict()} == {
        name for name in new_state if name.startswith("recogniser.")}
    assert "Recogniser (width 4" in new.info.provenance.notes and "recogniser ×4" in new.info.family.describe(new.info.config)


def test_the_model_reads_with_its_recogniser_and_the_trainer_feeds_it_as_the_app_does(tiny_model_path: Path) -> None:
    """read() takes the recogniser's intensities; the judge's numpy inputs equal the model's torch inputs."""
    from dataclasses import replace

    from faceedit.core.models.pixels import crop_to_tensor
    from faceedit.core.models.recogniser import classifier_inputs, read_intensities
    from faceedit.core.models.file import load_model
    from trainer.judge import judge_inputs

    old = load_model(tiny_model_path).network
    torch.manual_seed(0)
    network = type(old)(replace(old.config, recogniser_width=4)).eval()
    rng = np.random.default_rng(0)
    crops = [_face(label, rng) for label in ("neutral", "happiness", "neutral")]
    images = torch.cat([crop_to_tensor(c, old.config.image_channels) for c in crops])
    with torch.inference_mode():
        reading = network.read(images)
        expected = read_intensities(network.recogniser, images)
        head = network.encode(images).intensities
    assert torch.equal(reading.recognised, expected) and not torch.allclose(expected, head)
    assert torch.all(expected.sum(dim=1) < 1.0)  # neutral holds the rest of the probability
    np.testing.assert_allclose(classifier_inputs(images).numpy(), judge_inputs(crops, 64), atol=0.05)
    with torch.inference_mode():  # a starting point given by the person still wins
        assert torch.equal(network.read(images, starting=torch.zeros(3, 6)).recognised, torch.zeros(3, 6))


def test_recogniser_width_is_checked() -> None:
    from faceedit.core.models.exprgan import ExprGANConfig

    with pytest.raises(ValueError, match="recogniser_width"):
        ExprGANConfig(recogniser_width=-1)
    with pytest.raises(ValueError, match="names the 6 expressions"):
        ExprGANConfig(num_expressions=3, recogniser_width=8)


def test_recognition_network_command_and_its_bad_input(tmp_path: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture) -> None:
    from trainer.cli import main

    folder = _prepared(tmp_path / "p")
    out = tmp_path / "r.pt"
    assert main(["recognition", str(tiny_model_path), str(folder), "--network", "--width", "4", "--steps", "20", "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out and out.exists()
    assert main(["recognition", str(tiny_model_path), str(folder), "--network", "--steps", "0", "-o", str(tmp_path / "x.pt")]) != 0
    assert "must be positive" in capsys.readouterr().err


def test_recogniser_refuses_another_family_and_an_existing_output(tmp_path: Path, tiny_model_path: Path,
                                                                    capsys: pytest.CaptureFixture) -> None:
    from faceedit.core.models.cdaae import CDAAE, CDAAEConfig
    from faceedit.core.models.file import save_model
    from trainer.cli import main

    folder = _prepared(tmp_path / "p")
    other = tmp_path / "cdaae.pt"
    save_model(other, CDAAE(CDAAEConfig(image_size=64, width=0.25)), family_name="cdaae")
    assert main(["recognition", str(other), str(folder), "--network", "--steps", "5", "-o", str(tmp_path / "x.pt")]) != 0
    assert "recognition is ExprGAN's" in capsys.readouterr().err
    existing = tmp_path / "exists.pt"
    existing.write_bytes(b"keep me")
    assert main(["recognition", str(tiny_model_path), str(folder), "--network", "--width", "4", "--steps", "5", "-o", str(existing)]) != 0
    out, err = capsys.readouterr()
    assert existing.read_bytes() == b"keep me" and "already exists" in err
    assert "recogniser: step" not in out  # refused before training, not after
