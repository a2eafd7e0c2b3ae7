"""The ExprGAN definition: shapes at both sizes, the controller's contract."""

from __future__ import annotations

import pytest
import torch

from faceedit.core.models.exprgan import (
    Generator,
    IdentityCodeDiscriminator,
    ImageDiscriminator,
    ExprGANConfig,
    expression_code,
    paper_code,
)


@pytest.mark.parametrize("size,width,channels", [(64, 0.25, 3), (128, 0.125, 3), (64, 0.25, 1)])
def test_all_parts_have_the_right_shapes(size: int, width: float, channels: int) -> None:
    config = ExprGANConfig(image_size=size, width=width, image_channels=channels)
    generator = Generator(config)
    images = torch.rand(2, channels, size, size) * 2 - 1
    encoding = generator.encode(images)
    assert encoding.z.shape == (2, 50) and encoding.z.abs().max() < 1
    assert encoding.intensities.shape == (2, 6)
    assert ((encoding.intensities > 0) & (encoding.intensities < 1)).all()
    out = generator.decode(encoding.z, encoding.intensities)
    assert out.shape == (2, channels, size, size) and out.abs().max() <= 1
    logit, q = ImageDiscriminator(config)(out, torch.eye(6)[:2])
    assert logit.shape == (2,) and q.shape == (2, 30)
    assert IdentityCodeDiscriminator(config)(encoding.z).shape == (2,)


def test_paper_size_matches_the_release() -> None:
    config = ExprGANConfig()
    assert config.encoder_channels() == [64, 128, 256, 512, 1024]
    assert config.decoder_channels() == [1024, 512, 256, 128, 64, 32]
    assert config.code_dim == 30


def test_bad_configs_are_refused() -> None:
    for bad in ({"image_size": 100}, {"width": 0}, {"image_channels": 2}):
        with pytest.raises(ValueError):
            ExprGANConfig(**bad)
    with pytest.raises(ValueError, match="unknown"):
        ExprGANConfig.from_dict({"image_size": 64, "colour": "blue"})


def test_single_expression_code_is_the_papers_controller() -> None:
    direction = torch.ones(5)
    for label in range(6):
        for s in (0.25, 1.0):
            intensities = torch.zeros(1, 6)
            intensities[0, label] = s
            ours = expression_code(intensities, direction)
            paper = paper_code(torch.tensor([label]), torch.full((1, 5), s), 6)
            assert torch.allclose(ours, paper)


def test_neutral_is_the_zero_code_and_mixtures_are_distinct() -> None:
    direction = torch.ones(5)
    assert expression_code(torch.zeros(1, 6), direction).abs().max() == 0
    a = torch.tensor([[0, 0, 0, 0.5, 0, 0.5]])
    b = torch.tensor([[0, 0, 0, 1.0, 0, 0.5]])
    c = torch.tensor([[0, 0, 0, 1.0, 0, 0.0]])
    codes = [expression_code(x, direction) for x in (a, b, c)]
    assert not torch.allclose(codes[0], codes[1]) and not torch.allclose(codes[1], codes[2])
    # invertible: max block = max intensity, then s_k = (block_k + max) / 2
    blocks = codes[1].view(6, 5)[:, 0]
    recovered = (blocks + blocks.max()) / 2
    assert torch.allclose(recovered, b[0])


def test_training_forward_of_a_code_convolution_equals_the_concatenated_one() -> None:
    """Training computes the code's part of each decoder convolution per kernel tap; same function, same gradients."""
    import torch

    from faceedit.core.models.exprgan import _CodeConv

    torch.manual_seed(0)
    layer = _CodeConv(8, 30, 5)
    x, code = torch.randn(3, 8, 9, 7), torch.randn(3, 30)
    results = []
    for training in (False, True):
        layer.train(training)
        layer.zero_grad()
        out = layer(x.to(memory_format=torch.channels_last) if training else x, code)
        out.square().sum().backward()
        results.append((out.detach(), layer.conv.weight.grad.clone(), layer.conv.bias.grad.clone()))
    for eval_value, train_value in zip(*results):
        assert torch.allclose(eval_value, train_value, atol=1e-4, rtol=1e-4)
