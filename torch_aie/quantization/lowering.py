"""lower(gm): a convert_pt2e graph's int8 conv patterns -> torch.ops.aie.qconv2d.

Each  dq(x) -> conv(dq(w), bias) [-> act] [-> add(dq(skip)) [-> act]] -> q  becomes one
qconv2d call on the int8/uint8 tensors, with the weights quantised once (int8 buffers of the
returned module, packed once by the C++ weight cache), an int32 bias at s_x * s_w, and the
requantisation as multiplier/shift pairs (requant.py). ReLU / ReLU6 / hardtanh become the
output clamp (q is monotonic, so q(clamp(v, lo, hi)) = clamp(q(v), q(lo), q(hi))); the
residual add's skip is requantised by its own multiplier/shift.

Graphs from PyTorch's X86InductorQuantizer (uint8 asymmetric activations, float bias) lower
too: an input zero point z is folded into the bias (sum (x - z) w = sum x w - z sum w) with
the border made explicit (the int8 input is padded with z, so padded taps contribute 0), a
skip zero point likewise, and the output zero point is qconv2d's out_zero_point.

What does not lower (e.g. a conv whose output is not quantised, a float residual operand)
keeps its dq -> float conv -> q and is counted per call in torch_aie.conv_stats() under
"int8_not_lowered:<reason>"; lowering_report(gm) says why per node. Max pools between
quantised convs run on the int8 tensor (a max of int8 codes is exact). Remaining
dequantisations of constant weights (e.g. a Linear head) are folded into float buffers.
The input graph module is not modified: lower works on a copy.
"""
import copy
import dataclasses
import warnings

import torch
from torch import fx

from .. import _conv_counters
from . import patterns as P
from .int8_ops import int8_max_pool2d
from .quantizer import SCHEME_META_KEY, SCHEMES
from .requant import check_power_of_two, multiplier_shift, multipliers_shifts, quantize_value

qd = torch.ops.quantized_decomposed
QCONV = torch.ops.aie.qconv2d.default if hasattr(torch.ops.aie, "qconv2d") else None
Q_PT = (qd.quantize_per_tensor.default,)
DQ_PT = (qd.dequantize_per_tensor.default,)
DQ_PC = (qd.dequantize_per_channel.default,)
ROUNDINGS = ("floor", "positive_inf", "symmetric_inf", "conv_even")
REPORT_META_KEY = "torch_aie_lowering"
SHAPE_META_KEY = "torch_aie_shape"  # output shape of an emitted qconv2d (the replaced q had none)
INT32_MAX = 2**31 - 1


class _NotLowered(Exception):
    """A pattern this lowering does not take: (short reason for conv_stats, detail)."""

    def __init__(self, reason, detail=""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _unlowered_conv2d(reason, *args):
    _conv_counters.count("int8_not_lowered:" + reason)
    return torch.ops.aten.conv2d.default(*args)


def _unlowered_conv1d(reason, *args):
    _conv_counters.count("int8_not_lowered:" + reason)
    return torch.ops.aten.conv1d.default(*args)


_UNLOWERED = {torch.ops.aten.conv2d.default: _unlowered_conv2d, torch.ops.aten.conv1d.default: _unlowered_conv1d}


@dataclasses.dataclass
class _Act:
    """Per-tensor quantisation of an activation edge: the int tensor node and its qparams."""
    node: fx.Node
    scale: float
    zero_point: int
    qmin: int
    qmax: int
    dtype: torch.dtype


def _dq_act(node, what):
    if not P.is_call(node, DQ_PT):
        raise _NotLowered(f"{what} not int8", f"{what} comes from {node} (not a per-tensor dequantize)")
    src, scale, zp, qmin, qmax, dtype = node.args[:6]
    if dtype not in (torch.int8, torch.uint8):
        raise _NotLowered(f"{what} not int8", f"{what} is {dtype}")
    if not isinstance(scale, float) or not isinstance(zp, int):
        raise _NotLowered("dynamic qparams", f"{what}: scale/zero point are graph values, not constants")
    return _Act(src, scale, zp, qmin, qmax, dtype)


def _shape(node):
    """The tensor shape at `node`, looking through q/dq nodes (convert_pt2e gives them no meta)."""
    while isinstance(node, fx.Node):
        if SHAPE_META_KEY in node.meta:
            return node.meta[SHAPE_META_KEY]
        val = node.meta.get("val")
        if isinstance(val, torch.Tensor):
            return tuple(val.shape)
        if not P.is_call(node, Q_PT + DQ_PT):
            return None
        node = node.args[0]
    return None


def _attr(gm, node):
    return _get_attr(gm, node.target)


def _get_attr(gm, target):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _weight(gm, node, conv):
    """(int8 weight, per-output-channel float64 scales) of a dequantised constant weight."""
    if P.is_call(node, DQ_PC) and node.args[0].op == "get_attr":
        w_q, s_node, zp_node, axis = node.args[0], node.args[1], node.args[2], node.args[3]
        dtype = node.args[6]
        if axis != 0:
            raise _NotLowered("weight not per output channel", f"weight quantised along axis {axis}")
        scale, zp = _attr(gm, s_node).double(), _attr(gm, zp_node)
    elif P.is_call(node, DQ_PT) and node.args[0].op == "get_attr":
        w_q, scale, zp, dtype = node.args[0], node.args[1], node.args[2], node.args[5]
        if not isinstance(scale, float):
            raise _NotLowered("dynamic qparams", "weight scale is a graph value")
        scale, zp = torch.tensor([scale], dtype=torch.float64), torch.tensor([zp])
    else:
        raise _NotLowered("weight not an int8 constant", f"weight comes from {node}")
    w = _attr(gm, w_q)
    if dtype != torch.int8 or w.dtype != torch.int8:
        raise _NotLowered("weight not an int8 constant", f"weight dtype {w.dtype}")
    zp = torch.as_tensor(zp).reshape(-1)
    if bool((zp != 0).any()):
        bad = int(zp[zp != 0][0])
        raise ValueError(f"torch_aie.quantization: conv {conv.name} has weight zero point {bad}; "
                         f"torch_aie's int8 conv takes symmetric weights only (zero point 0)")
    oc = w.shape[0]
    scale = scale.reshape(-1)
    if scale.numel() == 1:
        scale = scale.expand(oc)
    return w.detach().clone(), scale.clone()


def _bias(gm, node, acc_scale):
    """The bias as int64 at the accumulator scale acc_scale[oc] (None if absent)."""
    if node is None:
        return None
    if P.is_call(node, DQ_PC + DQ_PT) and node.args[0].op == "get_attr":
        b_q = _attr(gm, node.args[0]).to(torch.int64)
        if P.is_call(node, DQ_PC):
            s_b, zp_b = _attr(gm, node.args[1]).double(), _attr(gm, node.args[2])
        else:
            s_b, zp_b = torch.tensor([float(node.args[1])], dtype=torch.float64), torch.tensor([node.args[2]])
        if bool((torch.as_tensor(zp_b) != 0).any()):
            raise _NotLowered("bias zero point", f"bias quantised with zero point {zp_b}")
        s_b = s_b.reshape(-1).expand_as(acc_scale)
        if torch.allclose(s_b, acc_scale, rtol=1e-6, atol=0.0):
            return b_q
        return torch.round(b_q.double() * s_b / acc_scale).to(torch.int64)
    if node.op == "get_attr":
        b = _attr(gm, node).detach().double()
        return torch.round(b / acc_scale).to(torch.int64)
    raise _NotLowered("bias not a constant", f"bias comes from {node}")


def _conv_geometry(conv):
    """stride, padding, dilation (2-D lists) and groups of a conv node; conv1d as a 1 x L conv2d."""
    conv1d = conv.target == torch.ops.aten.conv1d.default
    defaults = [1, 0, 1, 1]
    names = ["stride", "padding", "dilation", "groups"]
    vals = [conv.args[3 + i] if len(conv.args) > 3 + i else conv.kwargs.get(n, d)
            for i, (n, d) in enumerate(zip(names, defaults))]
    stride, padding, dilation, groups = vals
    if isinstance(padding, str):
        raise _NotLowered("string padding", f"padding={padding!r}")

    def two(v, fill):
        v = list(v) if isinstance(v, (list, tuple)) else [v]
        if conv1d:
            return [fill, v[0]]
        return v * 2 if len(v) == 1 else v

    return two(stride, 1), two(padding, 0), two(dilation, 1), int(groups), conv1d


@dataclasses.dataclass
class _Plan:
    conv: fx.Node
    chain: list
    q: fx.Node
    x: _Act
    skip: _Act
    weight: torch.Tensor
    bias: torch.Tensor
    multiplier: torch.Tensor
    shift: torch.Tensor
    skip_multiplier: int
    skip_shift: int
    stride: list
    padding: list
    dilation: list
    groups: int
    conv1d: bool
    pad_value: int  # explicit border of the int8 input (nonzero input zero point), else None
    out_zero_point: int
    out_min: int
    out_max: int
    out_dtype: torch.dtype


def _plan(gm, conv, scheme):
    chain = P.fusion_chain(conv)
    tail = chain[-1]
    q = P.sole_user(tail)
    if not P.is_call(q, Q_PT):
        users = ", ".join(str(u) for u in tail.users) or "the graph output"
        raise _NotLowered("output not quantized", f"{tail} feeds {users}")
    s_y, zp_y, qmin_y, qmax_y, dtype_y = q.args[1:6]
    if not isinstance(s_y, float) or dtype_y not in (torch.int8, torch.uint8):
        raise _NotLowered("output not int8", f"output quantised to {dtype_y}")
    x = _dq_act(conv.args[0], "input")
    weight, s_w = _weight(gm, conv.args[1], conv)
    stride, padding, dilation, groups, conv1d = _conv_geometry(conv)
    skip, add = None, None
    if len(chain) > 1 and P.is_call(chain[1], P.ADDS):
        add = chain[1]
        operand = P.residual_operand(add, conv)
        if not P.is_call(operand, DQ_PT):
            raise _NotLowered("float residual operand",
                              f"{add} adds {operand}, a float tensor, to the int8 conv's result (mixed int8/float)")
        skip = _dq_act(operand, "residual operand")
        out_shape, in_shape = _shape(add), _shape(operand)
        if out_shape is None or in_shape is None or out_shape != in_shape:
            raise _NotLowered("broadcast residual", f"skip shape {in_shape} vs output {out_shape}")
    if scheme == "xint8":
        check_power_of_two(x.scale, f"the input of {conv.name}")
        check_power_of_two(s_w, f"the weight of {conv.name}")
        check_power_of_two(s_y, f"the output of {tail.name}")
        if skip is not None:
            check_power_of_two(skip.scale, f"the residual operand of {add.name}")

    acc_scale = x.scale * s_w  # float64, per output channel
    bias_node = conv.args[2] if len(conv.args) > 2 else conv.kwargs.get("bias")
    bias = _bias(gm, bias_node, acc_scale)
    w64 = weight.to(torch.int64)
    if bias is None and (x.zero_point != 0 or (skip is not None and skip.zero_point != 0)):
        bias = torch.zeros(weight.shape[0], dtype=torch.int64)
    pad_value = None
    if x.zero_point != 0:
        # sum (x - z) w = sum x w - z sum w, exact when every tap reads a real (or z-padded) x.
        bias = bias - x.zero_point * w64.sum(dim=tuple(range(1, w64.dim())))
        if any(padding):
            pad_value, padding = x.zero_point, [0, 0]
    if skip is not None and skip.zero_point != 0:
        bias = bias - torch.round(skip.zero_point * skip.scale / acc_scale).to(torch.int64)
    x_max = 255 if x.dtype == torch.uint8 else 128
    bound = (bias.abs() if bias is not None else 0) + x_max * w64.abs().sum(dim=tuple(range(1, w64.dim())))
    if bool((torch.as_tensor(bound) > INT32_MAX).any()):
        worst = int(torch.as_tensor(bound).max())
        raise _NotLowered("int32 overflow bound",
                          f"|bias| + {x_max} * sum|w| reaches {worst} > 2^31 - 1 for {conv.name}")
    multiplier, shift = multipliers_shifts(acc_scale / s_y)
    skip_mult, skip_shift = (1, 0) if skip is None else multiplier_shift(skip.scale / s_y)

    out_min, out_max = qmin_y, qmax_y
    act = chain[-1] if P.activation_range(chain[-1]) is not None else None
    if act is not None:
        lo, hi = P.activation_range(act)
        if lo is not None:
            out_min = max(out_min, quantize_value(lo, s_y, zp_y, qmin_y, qmax_y))
        if hi is not None:
            out_max = min(out_max, quantize_value(hi, s_y, zp_y, qmin_y, qmax_y))
    if conv1d:
        weight = weight.unsqueeze(2)
    return _Plan(conv, chain, q, x, skip, weight.contiguous(),
                 None if bias is None else bias.to(torch.int32), multiplier, shift, skip_mult, skip_shift,
                 stride, padding, dilation, groups, conv1d, pad_value, int(zp_y), int(out_min), int(out_max),
                 dtype_y)


class _Buffers:
    """Registers the lowered constants on the graph module under unique names."""

    def __init__(self, gm):
        self.gm, self.n = gm, 0

    def add(self, graph, prefix, tensor):
        while hasattr(self.gm, f"_aie_{prefix}{self.n}"):
            self.n += 1
        name = f"_aie_{prefix}{self.n}"
        self.gm.register_buffer(name, tensor)
        return graph.get_attr(name)


def _emit(gm, graph, plan, bufs, rounding):
    aten = torch.ops.aten
    with graph.inserting_before(plan.q):
        x = plan.x.node
        skip = None if plan.skip is None else plan.skip.node
        if plan.conv1d:
            x = graph.call_function(aten.unsqueeze.default, (x, 2))
            if skip is not None:
                skip = graph.call_function(aten.unsqueeze.default, (skip, 2))
        if plan.pad_value is not None:
            ph, pw = _conv_geometry(plan.conv)[1]
            x = graph.call_function(aten.constant_pad_nd.default, (x, [pw, pw, ph, ph], float(plan.pad_value)))
        w = bufs.add(graph, "qweight", plan.weight)
        b = None if plan.bias is None else bufs.add(graph, "qbias", plan.bias)
        m = bufs.add(graph, "qmultiplier", plan.multiplier)
        s = bufs.add(graph, "qshift", plan.shift)
        y = graph.call_function(
            torch.ops.aie.qconv2d.default, (x, w, b, m, s, plan.stride, plan.padding, plan.dilation, plan.groups),
            dict(out_zero_point=plan.out_zero_point, out_min=plan.out_min, out_max=plan.out_max,
                 out_dtype=plan.out_dtype, rounding=rounding, skip=skip,
                 skip_multiplier=plan.skip_multiplier, skip_shift=plan.skip_shift))
        if plan.conv1d:
            y = graph.call_function(aten.squeeze.dim, (y, 2))
    y.meta[SHAPE_META_KEY] = _shape(plan.chain[-1])
    y.meta["torch_aie_replaces"] = plan.q.name
    plan.q.replace_all_uses_with(y)
    for n in [plan.q] + plan.chain[::-1]:
        graph.erase_node(n)


def _lower_maxpools(graph):
    """dq -> max_pool -> q with one set of qparams  =>  max_pool on the int8 tensor."""
    n = 0
    for node in list(graph.nodes):
        if not P.is_call(node, P.MAXPOOLS) or not P.is_call(node.args[0], DQ_PT):
            continue
        q = P.sole_user(node)
        dq = node.args[0]
        if not P.is_call(q, Q_PT) or tuple(q.args[1:6]) != tuple(dq.args[1:6]):
            continue
        node.replace_input_with(dq, dq.args[0])
        if node.target == torch.ops.aten.max_pool2d.default:
            node.target = int8_max_pool2d
        node.meta["torch_aie_replaces"] = q.name
        q.replace_all_uses_with(node)
        graph.erase_node(q)
        n += 1
    return n


def _drop_squeeze_unsqueeze(graph):
    """conv1d chains: unsqueeze(squeeze(y, 2), 2) between two lowered 1-D convs is y."""
    aten = torch.ops.aten
    for node in list(graph.nodes):
        if node.target == aten.unsqueeze.default and node.args[1] == 2 and \
                getattr(node.args[0], "target", None) == aten.squeeze.dim and node.args[0].args[1] == 2:
            node.replace_all_uses_with(node.args[0].args[0])
            graph.erase_node(node)


def _channels_last_chains(graph):
    """Every int8 tensor entering a chain of qconv2d calls from outside (the quantised model
    input, an explicitly padded input) is made channels_last once; qconv2d keeps the format,
    so the whole chain runs NHWC, the layout the int8 kernels stage and the strided int8 max
    pool vectorises over (channels innermost)."""
    aten = torch.ops.aten

    def chain_made(n):
        while P.is_call(n, (aten.squeeze.dim, aten.unsqueeze.default)):
            n = n.args[0]
        return P.is_call(n, (QCONV, int8_max_pool2d)) or P.is_call(n, (aten.clone.default,))

    converted = {}
    for node in list(graph.nodes):
        if not P.is_call(node, (QCONV,)):
            continue
        for src, is_skip in [(node.args[0], False), (node.kwargs.get("skip"), True)]:
            if src is None or chain_made(src):
                continue
            if src not in converted:
                with graph.inserting_after(src):
                    converted[src] = graph.call_function(aten.clone.default, (src,),
                                                         {"memory_format": torch.channels_last})
            if is_skip:
                node.update_kwarg("skip", converted[src])
            else:
                node.update_arg(0, converted[src])


def _fold_constant_dequants(gm, graph, bufs):
    """Dequantise constant weights once (e.g. an unquantised-by-us Linear head's weight)."""
    for node in list(graph.nodes):
        if P.is_call(node, DQ_PT + DQ_PC) and node.args[0].op == "get_attr" and node.users:
            args = [(_attr(gm, a) if isinstance(a, fx.Node) and a.op == "get_attr" else a) for a in node.args]
            value = node.target(*args, **node.kwargs)
            with graph.inserting_before(node):
                c = bufs.add(graph, "dequantized", value)
            node.replace_all_uses_with(c)


def _drop_unused_attrs(gm):
    used = {n.target for n in gm.graph.nodes if n.op == "get_attr"}
    for name in [n for n, _ in gm.named_buffers(recurse=False)] + [n for n, _ in gm.named_parameters(recurse=False)]:
        if name not in used:
            delattr(gm, name)
    for name in list(vars(gm)):
        if name.startswith("_frozen_param") or name.startswith("_scale_") or name.startswith("_zero_point_"):
            if name not in used:
                delattr(gm, name)


def lower(gm: fx.GraphModule, scheme: str = None, rounding: str = "conv_even",
          memory_format: torch.memory_format = torch.channels_last) -> fx.GraphModule:
    """A copy of the convert_pt2e output `gm` with its int8 conv patterns as aie.qconv2d.

    scheme: "xint8" (every scale must be a power of two: a ValueError names the first that
    is not), "a8w8", or None: the scheme AieQuantizer recorded, or no scale constraint for
    graphs from other quantizers. rounding: the SRS rounding of every requantisation
    ("conv_even" = half to even, as PyTorch's quantize; "floor", "positive_inf",
    "symmetric_inf"). memory_format: torch.channels_last (default) converts the int8 tensors
    entering each qconv2d chain once so the chain runs NHWC; torch.preserve_format keeps the
    layouts as they come."""
    if memory_format not in (torch.channels_last, torch.preserve_format):
        raise ValueError(f"torch_aie.quantization.lower: memory_format must be torch.channels_last or "
                         f"torch.preserve_format, got {memory_format}")
    if not isinstance(gm, fx.GraphModule):
        raise TypeError(f"torch_aie.quantization.lower expects the torch.fx.GraphModule from convert_pt2e, got {type(gm).__name__}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"torch_aie.quantization: unknown rounding {rounding!r}; expected one of {ROUNDINGS}")
    scheme = scheme if scheme is not None else gm.meta.get(SCHEME_META_KEY)
    if scheme is not None and scheme not in SCHEMES:
        raise ValueError(f"torch_aie.quantization: unknown scheme {scheme!r}; expected one of {SCHEMES}")
    if not hasattr(torch.ops.aie, "qconv2d"):
        raise RuntimeError("torch_aie.quantization.lower: this torch_aie build has no torch.ops.aie.qconv2d")
    if any(isinstance(m, torch.ao.quantization.ObserverBase) or type(m).__name__.endswith("Observer")
           for m in gm.modules()):
        raise ValueError("torch_aie.quantization.lower: the graph still has observers; run convert_pt2e(prepared) first")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")  # torch's own deepcopy of the pytree spec
        gm = copy.deepcopy(gm)
    graph, bufs, report = gm.graph, _Buffers(gm), []
    for conv in [n for n in graph.nodes if P.is_call(n, P.CONVS)]:
        try:
            plan = _plan(gm, conv, scheme)
        except _NotLowered as e:
            report.append((conv.name, "not lowered: " + e.reason, e.detail))
            conv.target = _UNLOWERED[conv.target]
            conv.args = (e.reason,) + tuple(conv.args)
            continue
        _emit(gm, graph, plan, bufs, rounding)
        report.append((conv.name, "qconv2d", f"{plan.x.dtype} -> {plan.out_dtype}"
                       + (", fused residual add" if plan.skip is not None else "")))
    pools = _lower_maxpools(graph)
    _drop_squeeze_unsqueeze(graph)
    if memory_format == torch.channels_last:
        _channels_last_chains(graph)
    graph.eliminate_dead_code()
    _fold_constant_dequants(gm, graph, bufs)
    graph.eliminate_dead_code()
    graph.lint()
    _drop_unused_attrs(gm)
    gm.recompile()
    gm.meta[REPORT_META_KEY] = report + [("max_pool", f"{pools} on int8", "")] if pools else report
    return gm


def lowering_report(gm) -> list:
    """[(conv node, "qconv2d" | "not lowered: <reason>", detail)] of a lower() result."""
    return list(gm.meta.get(REPORT_META_KEY, []))
