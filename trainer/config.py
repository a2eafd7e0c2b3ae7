"""Training configuration: presets, loss weights, and the curriculum as data.

The paper's three-stage curriculum (docs/ARCHITECTURE.md, "The ExprGAN family") is a table
of :class:`Stage` rows, each naming the parts it trains, its loss weights and its length; one
loop walks the table (docs/ARCHITECTURE.md, "A training step").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from faceedit.core.models.contract import FamilyConfig
from faceedit.core.models.exprgan import ExprGANConfig
from faceedit.training.presets import PRESET_INFO

# The names an ExprGAN stage's ``trains`` may use: the ExprGAN objective's network table's
# parts (trainer/families/exprgan.py; a test keeps the two equal). Other families name
# their own parts; the trainer checks a curriculum against its family's table.
PARTS = ("encoder", "decoder", "d_img", "d_z", "d_expr")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the objective (released values: λ1 = λ2 = 1, λ3 = λ4 = 0.01, λ5 = 0.001)."""

    pixel: float = 1.0  # L1 reconstruction
    identity: float = 1.0  # λ1, deep face features of input vs reconstruction
    identity_edit: float = 0.5  # the same between input and each edit (identity drift)
    q: float = 1.0  # λ2, the regulariser Q recovers the code of generated faces
    adv_img: float = 0.01  # λ3
    adv_z: float = 0.01  # λ4
    tv: float = 0.001  # λ5
    recognition: float = 1.0  # the recognition head on real faces (labels)
    recognition_edit: float = 0.5  # …and on generated faces (the intensities asked for)
    # Additions of the bundled recipe (0 = the paper's objective):
    paired: float = 0.0  # L1 between an edit and the same person photographed with that expression
    adv_expr: float = 0.0  # the encoder defeats D_expr, which guesses the expression from z
    # U-Net cGAN (trainer/families/unet_cgan.py; 0 elsewhere):
    unet_cgan_triplet: float = 0.0  # an edit nearer its source face than another person's, in a learned identity embedding
    # CDAAE (trainer/families/cdaae.py; 0 elsewhere):
    cdaae_difference: float = 0.0  # own low-level features + learned difference ≈ the same person's partner's features
    # TER-GAN (trainer/families/tergan.py; 0 elsewhere):
    tergan_cross: float = 0.0  # identity of face A + expression code of its partner B (same person) ≈ B, L1
    tergan_expression: float = 0.0  # expression consistency: E_exp on a generated face recovers the asked expression
    tergan_identity: float = 0.0  # identity consistency: E_id on a generated face recovers its source's identity code
    tergan_code: float = 0.0  # a real face's expression code ≈ the intensity map of its labelled intensities

    def scaled(self, **overrides: float) -> LossWeights:
        return replace(self, **overrides)

    def weight_of(self, loss: str) -> float:
        """The weight of loss key ``"G/<field>"`` (or ``"D/<field>"``): this object's ``field``.

        ``KeyError`` for a key naming no field, so a loss cannot silently count with a made-up weight.
        """
        field = loss.partition("/")[2]
        if field not in LOSS_WEIGHT_FIELDS:
            raise KeyError(f"loss {loss!r} has no weight: LossWeights has no field {field!r}")
        return float(getattr(self, field))


# The names a loss key may end in ("G/<field>"): every weight is looked up, none hand-mapped.
LOSS_WEIGHT_FIELDS = frozenset(f.name for f in fields(LossWeights))


@dataclass(frozen=True)
class Stage:
    """One curriculum stage: what trains, which losses count, for how many steps."""

    name: str
    steps: int
    trains: tuple[str, ...]  # parts of the family's network table (ExprGAN: PARTS)
    uses_encoder: bool  # False: the decoder is fed z ~ U(−1, 1) (controller learning)
    weights: LossWeights

    def __post_init__(self) -> None:
        if not self.trains:
            raise ValueError(f"stage {self.name} trains nothing")


def paper_curriculum(weights: LossWeights, lengths: tuple[int, int, int]) -> tuple[Stage, ...]:
    """The paper's stages: controller learning, image reconstruction, image refining."""
    no_adversaries = weights.scaled(adv_img=0.0, adv_z=0.0)
    return (
        # 1. G_dec from noise z with D_img/Q: the decoder learns what each code means.
        Stage("controller", lengths[0], ("decoder", "d_img"), False,
              weights.scaled(pixel=0.0, identity=0.0, identity_edit=0.0, adv_z=0.0, tv=0.0, recognition=0.0, recognition_edit=0.0)),
        # 2. G_enc + G_dec with L1 + L_id + L_Q (adversarial weights 0).
        Stage("reconstruction", lengths[1], ("encoder", "decoder"), True, no_adversaries),
        # 3. everything.
        Stage("refining", lengths[2], PARTS, True, weights),
    )


@dataclass(frozen=True)
class TrainConfig:
    """Everything a run needs besides the data; saved resolved beside every run."""

    preset: str
    model: FamilyConfig  # the family's architecture config (ExprGANConfig for "exprgan")
    stages: tuple[Stage, ...]
    batch_size: int = 32
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    mix_probability: float = 0.3  # share of edit targets that mix two expressions
    identity_layers: tuple[str, ...] = ("alevel2", "alevel1", "embedding")
    flips: bool = True
    balanced: bool = False  # draw labels uniformly, then faces (expressions7: 551 disgust vs 6,200 neutral)
    paired_fraction: float = 0.0  # share of each batch drawn from identity-paired faces (London)
    seed: int = 0
    log_every: int = 10
    sample_every: int = 500
    checkpoint_every: int = 500
    sample_faces: int = 4
    divergence_limit: float = 1e4  # a loss above this stops the run (keeps the last good checkpoint)
    # "fp32" or "bf16" (autocast) once a run starts: train_run resolves "auto" for the
    # machine (faceedit.core.device.resolve_precision) and config.json records the result.
    precision: str = "auto"
    # The model family this run trains (faceedit.core.models.families; --family).
    family: str = "exprgan"

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.stages)

    def stage_at(self, step: int) -> tuple[int, Stage]:
        """The stage (index, row) that step ``step`` (0-based) belongs to."""
        end = 0
        for index, stage in enumerate(self.stages):
            end += stage.steps
            if step < end:
                return index, stage
        return len(self.stages) - 1, self.stages[-1]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        from faceedit.core.models.families import family_named

        values = dict(values)
        values["model"] = family_named(values.get("family", "exprgan")).config_from_dict(values["model"])
        values["stages"] = tuple(
            Stage(**{**s, "trains": tuple(s["trains"]), "weights": LossWeights(**s["weights"])}) for s in values["stages"]
        )
        values["betas"] = tuple(values["betas"])
        values["identity_layers"] = tuple(values["identity_layers"])
        return cls(**values)


def preset_model(name: str) -> ExprGANConfig:
    """The network preset ``name`` trains, sized by its metadata (faceedit.training.presets owns
    the sizes: the engine and the retrain dialog read them there); KeyError for an unknown name."""
    info = PRESET_INFO[name]
    return ExprGANConfig(image_size=info.image_size, width=info.width, image_channels=info.image_channels)


def _preset(name: str, lengths: tuple[int, int, int], **options: Any) -> TrainConfig:
    return TrainConfig(preset=name, model=preset_model(name), stages=paper_curriculum(LossWeights(), lengths), **options)


def bundled_curriculum(steps: int) -> tuple[Stage, ...]:
    """The recipe of the bundled model (resources/models/MODEL_CARD.md gives the reasons).

    One reconstruction stage: no controller stage and no deep identity loss (both cost a
    2-core CPU most of its time); instead identity-paired edits (L1 to the same person's
    other photo), the frozen recognition head naming each edit, and D_expr keeping
    expression out of z. Longer schedules were measured and did worse on the training
    identities (the model card has the numbers): a stronger D_expr and recognition term
    made blotchy edits; adding D_img with the recognition term turned down lost the
    slider's monotonicity.
    """
    weights = LossWeights(identity=0.0, identity_edit=0.0, q=0.0, adv_z=0.0, adv_img=0.0, paired=1.0, adv_expr=0.05,
                          recognition_edit=0.5)
    return (Stage("reconstruction", steps, ("encoder", "decoder", "d_expr"), True, weights),)


# Schedules here; network sizes from faceedit.training.presets (one owner for both sides).
PRESETS: dict[str, TrainConfig] = {
    # The paper's network at 128 px; lengths sized for a GPU (minutes per thousand steps).
    "paper": _preset("paper", (10_000, 20_000, 30_000), batch_size=32),
    # A network a desktop CPU can train and run live: 128 px at half width.
    "desktop": _preset("desktop", (2_000, 6_000, 8_000), batch_size=24),
    # The bundled model: luminance (colour photos keep their colour), sized for a 2-core CPU.
    "bundled": TrainConfig(
        preset="bundled", model=preset_model("bundled"),
        stages=bundled_curriculum(1_000), batch_size=32, balanced=True, paired_fraction=0.25,
        sample_every=250, checkpoint_every=250,
    ),
    # Tiny and short: checks that the whole path runs (tests, the retrain dialog's dry run).
    "smoke": _preset(
        "smoke", (3, 3, 3), batch_size=4,
        log_every=1, sample_every=4, checkpoint_every=4, sample_faces=2, identity_layers=("stem",),
    ),
}


def family_presets(family: str = "exprgan") -> dict[str, TrainConfig]:
    """The presets of model family ``family`` (ExprGAN: :data:`PRESETS`); KeyError for an unknown family."""
    from trainer.families import objective_for  # the family modules import this module

    return dict(objective_for(family).presets)


def resolve_config(preset: str | None, max_steps: int | None = None, family: str = "exprgan", **overrides: Any) -> TrainConfig:
    """Family ``family``'s preset (its default when None) with overrides; ``max_steps``
    shortens the stages proportionally."""
    from trainer.families import objective_for

    objective = objective_for(family)
    preset = objective.default_preset if preset is None else preset
    if preset not in objective.presets:
        raise ValueError(f"the {family} family has no preset {preset!r}; choose from {', '.join(objective.presets)}")
    config = replace(objective.presets[preset], **{k: v for k, v in overrides.items() if v is not None})
    if max_steps is not None and max_steps < config.total_steps:
        total = config.total_steps
        lengths = [max(1, s.steps * max_steps // total) for s in config.stages]
        lengths[-1] = max(1, max_steps - sum(lengths[:-1]))
        config = replace(config, stages=tuple(replace(s, steps=n) for s, n in zip(config.stages, lengths)))
    return config

