"""Observers for torch_aie's int8 schemes: symmetric (zero point 0) scales, optionally
powers of two (AMD XINT8, where requantisation is a pure shift).

Activations use PyTorch's histogram range search (the same one X86InductorQuantizer uses)
and then make the range symmetric; uint8 (after a fused ReLU/ReLU6) maps [0, max] to
[0, 255]. A power-of-two scale is the one of 2^floor / 2^ceil of that scale whose
quantisation error over the observed histogram (or weight tensor) is smallest.
"""
import math

import torch

from ._torchao import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver


def _pow2_candidates(scale: float):
    e = math.log2(max(scale, 2.0**-126))
    return sorted({2.0 ** math.floor(e), 2.0 ** math.ceil(e)})


def _quant_mse(values: torch.Tensor, weights, scale: float, qmin: int, qmax: int) -> float:
    q = torch.clamp(torch.round(values / scale), qmin, qmax) * scale
    err = (values - q) ** 2
    return float((err * weights).sum()) if weights is not None else float(err.sum())


class AieActivationObserver(HistogramObserver):
    """Per-tensor activation observer with zero point 0; power_of_two=True for xint8."""

    def __init__(self, power_of_two: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.power_of_two = power_of_two
        self._cached = None  # (calls seen, qparams): calculate_qparams is asked repeatedly (bias)
        self._calls = 0

    def forward(self, x_orig):
        self._calls += 1
        return super().forward(x_orig)

    def _centers(self):
        edges = torch.linspace(float(self.min_val), float(self.max_val), self.bins + 1, dtype=torch.float64)
        return (edges[:-1] + edges[1:]) / 2

    def _symmetric_scale(self) -> float:
        """The symmetric scale (zero point 0) of least quantisation error over the histogram,
        searched directly: PyTorch's range search optimises an asymmetric range, which a
        symmetric quantiser then wastes on skewed data."""
        centers, hist = self._centers(), self.histogram.double()
        amax = max(-float(self.min_val), float(self.max_val), 0.0)
        if amax == 0.0:
            return float(self.eps)
        top = self.quant_max if self.quant_min >= 0 else (self.quant_max - self.quant_min) / 2
        candidates = [amax * f / top for f in torch.linspace(0.05, 1.0, 96).tolist()]
        return max(min(candidates, key=lambda s: _quant_mse(centers, hist, s, self.quant_min, self.quant_max)),
                   float(self.eps))

    def _best_pow2(self, scale: float) -> float:
        centers, hist = self._centers(), self.histogram.double()
        return min(_pow2_candidates(scale),
                   key=lambda s: _quant_mse(centers, hist, s, self.quant_min, self.quant_max))

    @torch.jit.export
    def calculate_qparams(self):
        if self._cached is not None and self._cached[0] == self._calls:
            return self._cached[1]
        if self.min_val == float("inf") and self.max_val == float("-inf"):
            scale = 1.0  # never observed (dead branch): any scale is right
        else:
            scale = self._symmetric_scale()
            if self.power_of_two:
                scale = self._best_pow2(scale)
        qparams = torch.tensor([scale], dtype=torch.float32), torch.tensor([0], dtype=torch.int32)
        self._cached = (self._calls, qparams)
        return qparams

    def extra_repr(self):
        return f"power_of_two={self.power_of_two}, " + super().extra_repr()


class AiePow2WeightObserver(MinMaxObserver):
    """Per-tensor symmetric weight observer with a power-of-two scale (xint8)."""

    def forward(self, x_orig):
        self._last = x_orig.detach().float()
        return super().forward(x_orig)

    @torch.jit.export
    def calculate_qparams(self):
        scale, zp = super().calculate_qparams()
        last = getattr(self, "_last", None)
        if last is not None:
            s = min(_pow2_candidates(float(scale)),
                    key=lambda c: _quant_mse(last, None, c, self.quant_min, self.quant_max))
        else:
            s = _pow2_candidates(float(scale))[-1]
        return torch.tensor([s], dtype=torch.float32), torch.zeros_like(zp, dtype=torch.int32)


class AiePerChannelWeightObserver(PerChannelMinMaxObserver):
    """Per-output-channel symmetric weights (a8w8); zero points are 0 (int32 for the graph)."""

    @torch.jit.export
    def calculate_qparams(self):
        scale, zp = super().calculate_qparams()
        return scale.float(), torch.zeros_like(zp, dtype=torch.int32)


def derive_bias_qparams(obs):
    """Bias scale = s_x * s_w (per output channel when s_w is), zero point 0."""
    act, weight = obs
    s_x = act.calculate_qparams()[0].float()
    s_w = weight.calculate_qparams()[0].float()
    scale = (s_x * s_w).reshape(-1)
    return scale, torch.zeros(scale.numel(), dtype=torch.int32)
