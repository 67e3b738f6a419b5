"""The original design's V5 network: 3 Conv1d blocks, a 2-layer BiLSTM, a per-frame linear head.

Conv blocks (Conv1d k=3 'same' padding -> BatchNorm1d -> ReLU -> Dropout) see local motion over a
few frames; the bidirectional LSTM carries context across the whole window; the head scores every
frame. With the v5 config (144 -> 64 -> 128 -> 256, LSTM 256 x 2, 4 classes) that is 2,783,556
parameters, ~94% of them in the LSTM (`expected_parameters` gives the formula).
"""

from __future__ import annotations

import torch
import torch.nn as nn


class Conv1DBiLSTM(nn.Module):
    """(B, T, input_dim) -> (B, T, n_outputs) logits."""

    def __init__(self, input_dim: int, n_outputs: int, conv_channels=(64, 128, 256), kernel_size: int = 3,
                 lstm_hidden: int = 256, lstm_layers: int = 2, bidirectional: bool = True,
                 dropout: float = 0.3):
        super().__init__()
        blocks, c_in = [], input_dim
        for c_out in conv_channels:
            blocks += [nn.Conv1d(c_in, c_out, kernel_size, padding=kernel_size // 2),
                       nn.BatchNorm1d(c_out), nn.ReLU(), nn.Dropout(dropout)]
            c_in = c_out
        self.conv = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(c_in, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if lstm_layers > 1 else 0.0)
        self.head = nn.Linear(lstm_hidden * (2 if bidirectional else 1), n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x.transpose(1, 2)).transpose(1, 2)  # conv over time: (B, C, T)
        h, _ = self.lstm(h)
        return self.head(h)


def expected_parameters(input_dim: int, n_outputs: int, conv_channels=(64, 128, 256), kernel_size: int = 3,
                        lstm_hidden: int = 256, lstm_layers: int = 2, bidirectional: bool = True) -> int:
    """Closed-form parameter count (conv weight+bias, BN gamma+beta, LSTM 4 gates x 2 biases, head)."""
    n, c_in = 0, input_dim
    for c in conv_channels:
        n += c_in * c * kernel_size + c + 2 * c
        c_in = c
    dirs = 2 if bidirectional else 1
    for layer in range(lstm_layers):
        d_in = c_in if layer == 0 else lstm_hidden * dirs
        n += dirs * 4 * lstm_hidden * (d_in + lstm_hidden + 2)
    return n + lstm_hidden * dirs * n_outputs + n_outputs


def build_conv1d_bilstm(cfg, input_dim: int, n_outputs: int) -> Conv1DBiLSTM:
    return Conv1DBiLSTM(input_dim, n_outputs, tuple(cfg.conv_channels), cfg.kernel_size, cfg.lstm_hidden,
                        cfg.lstm_layers, cfg.bidirectional, cfg.dropout)
