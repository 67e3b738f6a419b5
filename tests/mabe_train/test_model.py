"""Conv1DBiLSTM shapes, its exact parameter count, and the model registry."""

import pytest
import torch

from mabe_train.config import ModelConfig
from mabe_train.models import MODELS, ModelError, build_model, count_parameters
from mabe_train.models.conv1d_bilstm import Conv1DBiLSTM, expected_parameters


def test_v5_parameter_count_matches_the_design():
    model = build_model(ModelConfig(), 144, 4)
    # conv: 144*64*3+64 + 64*128*3+128 + 128*256*3+256, BN 2*(64+128+256),
    # LSTM 2 dirs x 4 gates x 256 x (in + 256 + 2 biases), in = 256 then 512; head 512*4+4
    by_hand = (144 * 64 * 3 + 64 + 64 * 128 * 3 + 128 + 128 * 256 * 3 + 256 + 2 * (64 + 128 + 256)
               + 2 * 4 * 256 * (256 + 256 + 2) + 2 * 4 * 256 * (512 + 256 + 2) + 512 * 4 + 4)
    assert count_parameters(model) == by_hand == expected_parameters(144, 4) == 2_783_556


@pytest.mark.parametrize("kw", [{}, {"conv_channels": (8,), "lstm_layers": 1, "bidirectional": False},
                                {"conv_channels": (16, 32), "kernel_size": 5, "lstm_hidden": 12, "lstm_layers": 3}])
def test_formula_holds_for_other_shapes(kw):
    model = Conv1DBiLSTM(288, 37, **kw)
    formula_kw = {k: v for k, v in kw.items()}
    assert count_parameters(model) == expected_parameters(288, 37, **formula_kw)


@pytest.mark.parametrize("t", [1, 7, 100])
def test_per_frame_logits_for_any_length(t):
    model = Conv1DBiLSTM(144, 4, conv_channels=(16, 32), lstm_hidden=8).eval()
    x = torch.randn(3, t, 144)
    out = model(x)
    assert out.shape == (3, t, 4)
    # frames are not mixed across the batch
    torch.testing.assert_close(model(x[1:2]), out[1:2])


def test_registry_builds_by_name_and_names_the_choices_for_an_unknown_one():
    model = build_model(ModelConfig(conv_channels=[8], lstm_hidden=4, lstm_layers=1), 10, 3)
    assert model(torch.zeros(2, 5, 10)).shape == (2, 5, 3)
    assert set(MODELS) == {"conv1d_bilstm"}
    with pytest.raises(ModelError) as e:
        build_model(ModelConfig(name="nope"), 288, 37)
    assert "unknown model.name 'nope'" in str(e.value) and "conv1d_bilstm" in str(e.value)
