"""The one-call int8 flow: export, prepare with a quantizer, calibrate, convert, lower."""
import torch

from ._torchao import convert_pt2e, prepare_pt2e
from .lowering import lower
from .quantizer import AieQuantizer


def _as_args(batch):
    return tuple(batch) if isinstance(batch, (tuple, list)) else (batch,)


def _batch_dynamic_example(args):
    """Export example and dynamic_shapes with a free batch dimension, so the quantised model
    takes any batch size. A batch of 1 is doubled for the example: export specialises size-1
    dimensions."""
    example = tuple(torch.cat([a, a]) if isinstance(a, torch.Tensor) and a.dim() > 0 and a.shape[0] == 1 else a
                    for a in args)
    dynamic = tuple({0: torch.export.Dim.AUTO} if isinstance(a, torch.Tensor) and a.dim() > 0 else None
                    for a in example)
    return example, dynamic


@torch.no_grad()
def calibrate(model: torch.nn.Module, calibration_batches, quantizer) -> torch.fx.GraphModule:
    """torch.export -> prepare_pt2e(quantizer) -> run every batch -> convert_pt2e.

    Each batch is the model's input tensor or a tuple of its positional inputs; the first
    one is also the export example, with the batch dimension left free (the result takes any
    batch size). The model must be in eval mode and is not modified."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"torch_aie.quantize expects an nn.Module, got {type(model).__name__}")
    if model.training:
        raise ValueError("torch_aie.quantize: the model is in training mode; quantise an eval() model "
                         "(BatchNorm statistics are folded into the convolutions)")
    batches = list(calibration_batches)
    if not batches:
        raise ValueError("torch_aie.quantize: calibration_batches is empty; pass at least one input batch")
    for b in batches:
        for t in _as_args(b):
            if isinstance(t, torch.Tensor) and t.device.type != "cpu":
                raise ValueError(f"torch_aie.quantize: calibrate on CPU tensors (got one on {t.device}); "
                                 f"move the quantised module with .to('aie') afterwards")
    example, dynamic = _batch_dynamic_example(_as_args(batches[0]))
    exported = torch.export.export(model, example, dynamic_shapes=dynamic).module()
    prepared = prepare_pt2e(exported, quantizer)
    for b in batches:
        prepared(*_as_args(b))
    return convert_pt2e(prepared)


def quantize(model: torch.nn.Module, calibration_batches, scheme: str = "a8w8",
             rounding: str = "conv_even") -> torch.fx.GraphModule:
    """An int8 copy of `model` whose convs (with fused ReLU/ReLU6 and residual adds) run as
    torch.ops.aie.qconv2d: AieQuantizer(scheme) via PT2E, calibrated on the batches, lowered.
    The result is a torch.fx.GraphModule on the CPU; `.to("aie")` moves it."""
    return lower(calibrate(model, calibration_batches, AieQuantizer(scheme)), scheme=scheme, rounding=rounding)
