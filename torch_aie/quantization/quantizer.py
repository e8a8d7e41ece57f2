"""AieQuantizer: a torchao PT2E Quantizer for torch_aie's int8 convolution.

Schemes (docs/ARCHITECTURE.md, "Numerics contract", int8):
  "a8w8"  activations int8 symmetric per tensor (uint8 after a fused ReLU/ReLU6), weights
          int8 symmetric per output channel, float scales (requant: int32 multiplier + shift);
  "xint8" AMD's XINT8: the same with weights per tensor and every scale a power of two
          (requant: a pure shift).
Bias is int32 at scale s_x * s_w. Each conv (1-D, 2-D) and its fused tail (ReLU / ReLU6 /
hardtanh, or a residual add with an optional activation) is annotated as one pattern, so
convert_pt2e leaves dq -> conv [-> act] [-> add [-> act]] -> q for lower() to replace.
Max pools share their input's quantisation (a max of int8 values is exact in int8).
"""
import torch

from . import patterns as P
from ._torchao import (
    DerivedQuantizationSpec,
    QuantizationAnnotation,
    QuantizationSpec,
    Quantizer,
    SharedQuantizationSpec,
)
from .observers import (
    AieActivationObserver,
    AiePerChannelWeightObserver,
    AiePow2WeightObserver,
    derive_bias_qparams,
)

SCHEMES = ("xint8", "a8w8")
SCHEME_META_KEY = "torch_aie_quant_scheme"
_KEY = "quantization_annotation"


class AieQuantizer(Quantizer):
    def __init__(self, scheme: str = "a8w8"):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"torch_aie.quantization: unknown scheme {scheme!r}; expected one of {SCHEMES}")
        self.scheme = scheme
        pow2 = scheme == "xint8"
        act_obs = AieActivationObserver.with_args(power_of_two=pow2)
        self.act_int8 = QuantizationSpec(dtype=torch.int8, quant_min=-128, quant_max=127,
                                         qscheme=torch.per_tensor_symmetric, observer_or_fake_quant_ctr=act_obs)
        self.act_uint8 = QuantizationSpec(dtype=torch.uint8, quant_min=0, quant_max=255,
                                          qscheme=torch.per_tensor_affine, observer_or_fake_quant_ctr=act_obs)
        if pow2:
            self.weight = QuantizationSpec(dtype=torch.int8, quant_min=-127, quant_max=127,
                                           qscheme=torch.per_tensor_symmetric,
                                           observer_or_fake_quant_ctr=AiePow2WeightObserver)
        else:
            self.weight = QuantizationSpec(dtype=torch.int8, quant_min=-127, quant_max=127,
                                           qscheme=torch.per_channel_symmetric, ch_axis=0,
                                           observer_or_fake_quant_ctr=AiePerChannelWeightObserver)

    def __repr__(self):
        return f"AieQuantizer(scheme={self.scheme!r})"

    # -- annotation ---------------------------------------------------------------------------
    def _bias_spec(self, x, w, conv):
        per_channel = self.scheme == "a8w8"
        return DerivedQuantizationSpec(
            derived_from=[(x, conv), (w, conv)], derive_qparams_fn=derive_bias_qparams,
            dtype=torch.int32, quant_min=-(2**31), quant_max=2**31 - 1,
            qscheme=torch.per_channel_symmetric if per_channel else torch.per_tensor_symmetric,
            ch_axis=0 if per_channel else None)

    @staticmethod
    def _quantizable_conv(conv) -> bool:
        args = conv.args
        if len(args) < 2 or not isinstance(args[1], torch.fx.Node) or args[1].op != "get_attr":
            return False  # weights computed at run time: not a constant to quantise once
        if len(args) > 2 and args[2] is not None and (not isinstance(args[2], torch.fx.Node) or args[2].op != "get_attr"):
            return False
        val = args[0].meta.get("val") if isinstance(args[0], torch.fx.Node) else None
        return val is None or val.dtype == torch.float32

    def _plan(self, graph):
        """Chains (tail -> chain) and each quantised node's output spec. Later convs claim a
        shared residual add first, so the main path (not the downsample) is fused with it."""
        chains, claimed = {}, set()
        for node in reversed(list(graph.nodes)):
            if P.is_call(node, P.CONVS) and self._quantizable_conv(node):
                chain = P.fusion_chain(node)
                if any(n in claimed for n in chain[1:]):
                    chain = [node]
                claimed.update(chain)
                chains[node] = chain
        return chains

    def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
        model.meta[SCHEME_META_KEY] = self.scheme
        chains = self._plan(model.graph)
        out_spec = {}  # quantised node -> its output spec (decides the dtype its users expect)

        def in_spec(x):
            return out_spec.get(x, self.act_int8)

        for node in model.graph.nodes:
            if node in chains:
                chain = chains[node]
                conv, tail = chain[0], chain[-1]
                x, w = conv.args[0], conv.args[1]
                qmap = {x: in_spec(x), w: self.weight}
                if len(conv.args) > 2 and conv.args[2] is not None:
                    qmap[conv.args[2]] = self._bias_spec(x, w, conv)
                conv.meta[_KEY] = QuantizationAnnotation(input_qspec_map=qmap, _annotated=True)
                for inner in chain[1:]:
                    qmap = {}
                    skip = P.residual_operand(inner, chain[chain.index(inner) - 1])
                    if skip is not None:
                        qmap[skip] = in_spec(skip)
                    inner.meta[_KEY] = QuantizationAnnotation(input_qspec_map=qmap, _annotated=True)
                spec = self.act_uint8 if P.is_nonnegative_activation(tail) else self.act_int8
                tail.meta[_KEY].output_qspec = spec
                out_spec[tail] = spec
            elif P.is_call(node, P.MAXPOOLS) and node.args[0] in out_spec and _KEY not in node.meta:
                x = node.args[0]
                node.meta[_KEY] = QuantizationAnnotation(
                    input_qspec_map={x: out_spec[x]}, output_qspec=SharedQuantizationSpec((x, node)),
                    _annotated=True)
                out_spec[node] = out_spec[x]
        return model

    def validate(self, model: torch.fx.GraphModule) -> None:
        pass
