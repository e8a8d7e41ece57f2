"""Quantised tensors (torch.qint8 & co.) on aie get an error that names the supported flow.

Without this, `torch.quantize_per_tensor(x, ...).to("aie")` or an eager-mode quantised model
moved to aie fails inside ATen with "Could not run 'aten::empty_strided' with arguments from
the 'Quantizedaie' backend". A boxed fallback for the QuantizedPrivateUse1 key catches every
op on such tensors instead.
"""
import torch

_MESSAGE = (
    "torch_aie: {op} got a PyTorch quantized tensor (torch.qint8/quint8) on aie; torch_aie does not "
    "take quantized tensors. Its int8 path is the PT2E flow: torch_aie.quantize(model, calibration_batches, "
    "scheme='a8w8'|'xint8'), or torch.export -> prepare_pt2e(m, torch_aie.quantization.AieQuantizer()) -> "
    "calibrate -> convert_pt2e -> torch_aie.quantization.lower(m), then .to('aie') (plain int8 tensors)."
)

_lib = None


def _refuse(op, *args, **kwargs):
    raise RuntimeError(_MESSAGE.format(op=op))


def install() -> None:
    global _lib
    if _lib is None:
        _lib = torch.library.Library("_", "IMPL")
        _lib.fallback(_refuse, "QuantizedPrivateUse1")
