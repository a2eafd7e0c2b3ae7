"""A model's description for people: build-machine paths shortened, the key numbers readable."""

from __future__ import annotations

from pathlib import Path

from faceedit.core.model_summary import key_metrics, read_model_card, shorten_paths


def test_absolute_paths_are_cut_to_their_last_component() -> None:
    assert (shorten_paths("merged dataset at /work (prepared in /work/b6/bundled128)")
            == "merged dataset at work (prepared in bundled128)")
    assert shorten_paths("from /home/me/data/london/, and C:\\Users\\me\\faces") == "from london, and faces"
    kept = "prep/london; see https://example.org/a/b; 44% → 74%; 1/2; MODEL_CARD.md"
    assert shorten_paths(kept) == kept  # relative paths, URLs and fractions stay


def test_key_metrics_are_the_few_that_matter_as_readable_lines() -> None:
    metrics = {"summary/expression_accuracy": 0.1746, "summary/identity_distance": 0.2096,
               "summary/monotonicity": 0.9944, "counts/renders": 630.0, "identity_distance/threshold": 0.6}
    lines = key_metrics(metrics)
    assert [(m.label, m.value) for m in lines] == [
        ("Expression reached", "17.5 %"), ("Identity distance", "0.21"), ("Intensity follows the slider", "0.99")]
    assert "below 0.6" in lines[1].meaning
    assert key_metrics({}) == ()


def test_the_model_card_beside_the_file_is_read(tmp_path: Path) -> None:
    assert read_model_card(tmp_path / "m.pt") is None
    (tmp_path / "MODEL_CARD.md").write_text("# Card\n", encoding="utf-8")
    assert read_model_card(tmp_path / "m.pt") == "# Card\n"
