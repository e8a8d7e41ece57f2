"""int8 convolution on aie from PyTorch's PT2E quantisation flow (torchao):

    m = torch.export.export(model, (x,)).module()
    m = prepare_pt2e(m, AieQuantizer("xint8" | "a8w8"))
    m(calibration_batch) ...
    m = convert_pt2e(m)
    m = lower(m)                 # dq -> conv [-> relu] [-> add] -> q  =>  aie.qconv2d
or the one call quantize(model, calibration_batches, scheme).
"""
from ._torchao import convert_pt2e, prepare_pt2e
from .flow import calibrate, quantize
from .lowering import lower, lowering_report
from .quantizer import SCHEMES, AieQuantizer
from .requant import multiplier_shift

__all__ = ["AieQuantizer", "SCHEMES", "prepare_pt2e", "convert_pt2e", "lower", "lowering_report",
           "calibrate", "quantize", "multiplier_shift"]
