"""Imports torchao's PT2E pieces quietly.

torchao 0.18.0 (installed with --no-deps beside torch 2.13.0, see requirements-nodeps.txt)
tries to load CUDA extensions at import; on a CPU-only torch they fail with logged warnings
that change nothing for the PT2E flow, which is pure Python. Those import-time messages are
silenced here (the loggers' levels are restored afterwards); anything logged later passes.
"""
import contextlib
import logging


@contextlib.contextmanager
def _quiet(*names):
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, lvl in zip(loggers, levels):
            lg.setLevel(lvl)


with _quiet("torchao", "torch.utils._pytree"):
    import torchao  # noqa: F401
    from torchao.quantization.pt2e import HistogramObserver, MinMaxObserver, PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import (
        DerivedQuantizationSpec,
        QuantizationAnnotation,
        QuantizationSpec,
        Quantizer,
        SharedQuantizationSpec,
    )
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer  # noqa: F401

__all__ = [
    "HistogramObserver", "MinMaxObserver", "PerChannelMinMaxObserver", "convert_pt2e", "prepare_pt2e",
    "DerivedQuantizationSpec", "QuantizationAnnotation", "QuantizationSpec", "Quantizer",
    "SharedQuantizationSpec", "x86_inductor_quantizer",
]
