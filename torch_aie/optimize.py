"""Ahead-of-time module preparation for aie inference.

`optimize(model)` traces the model with torch.fx and rewrites every Conv1d / Conv2d
into an `AieConv1d` / `AieConv2d` calling torch.ops.aie.conv2d, folding a following
eval-mode BatchNorm into its weight and bias and fusing a following activation into
the conv's epilogue, and every nn.Linear into an `AieLinear` (a 1x1 conv over the
input's rows, see AieLinear), then packs every weight into the cache. Outputs stay within the
numeric contract's bound of the original model (folding changes rounding only; the
epilogue computes act(acc + bias) in fp32 and rounds once, see
aie_kernels/kernel_table.h for each activation's formula).

What it recognises after a conv, in this order, each node the only user of the one
before:
  - BatchNorm as a module (nn.BatchNorm1d/2d) or as `F.batch_norm(x, running_mean,
    running_var, weight, bias, training=False, ...)` on the model's own buffers (what
    torch.fx records for a BatchNorm subclass whose forward calls F.batch_norm, e.g.
    with its activation inside);
  - a residual add `y + other` (operator.add / torch.add without alpha): `other` is
    read by the epilogue, broadcast to the conv's output shape; the conv moves after
    the node computing `other` if it came first;
  - an activation: ReLU (module, F.relu, torch.relu, .relu()/.relu_()), ReLU6 and
    hardtanh(0, 6), SiLU, Hardswish, GELU in its erf form (modules or functionals);
  - nn.Identity anywhere in the chain (skipped).
Before a 2-D conv: a product `x * s` (operator.mul / torch.mul) only the conv reads,
e.g. a squeeze-excite gate: the conv multiplies as it stages its input (with the same
bits: torch.ops.aie.conv2d_scaled).
After a Linear: a per-feature scale `y * p` with p a parameter or buffer of
out_features values (ConvNeXt's layer scale; folded into the weight and bias), then the
residual add, directly or through one permute of the Linear's output (ConvNeXt's
`x + y.permute(0, 3, 1, 2)`: the residual is read through the inverse permute), then
an activation.
Not fused: other activations (GELU's tanh form, sigmoid, ...), an add after the
activation.

Activation layout: convs on channels-last activations skip the staging transposes that
planar ones need, with the same bits (docs/ARCHITECTURE.md, "Host layouts"), so by
default the optimised model converts its 4-D inputs to channels_last on entry and
returns 4-D outputs in the NCHW layout of a contiguous input: callers see the original's
layouts. It keeps the given layout where the graph has no 2-D conv, or calls something
whose result depends on an activation's strides and not only on its values (`view`,
`as_strided`, `stride`, `data_ptr`, `is_contiguous`); `memory_format` overrides.

Refused (ValueError, naming the module): training mode (folding uses running
statistics), conv weights shared between modules (folding would change the other
user), models torch.fx cannot trace. Left as they are: non-zero padding modes,
asymmetric "same" padding, BatchNorm without running statistics, BN/activations whose
input has other users.
"""
import inspect
import operator

import torch
import torch.fx as fx
import torch.nn.functional as F
import torch.utils._pytree as pytree
from torch import nn

__all__ = ["optimize", "AieConv1d", "AieConv2d", "AieLinear"]


class _AieConv(nn.Module):
    """A Conv (+ folded BatchNorm, + fused activation) executed by torch.ops.aie.conv2d."""

    def __init__(self, conv, weight, bias, activation: str):
        super().__init__()
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        self.padding = _int_padding(conv)
        self.activation = activation
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    @property
    def relu(self) -> bool:
        return self.activation == "relu"

    residual = False  # set on instances that take a residual input (conv + ... + residual)

    def forward(self, x, residual=None, scale=None):
        if scale is not None:  # conv(x * scale): optimize() fused the product (_fuse_input_scales)
            return torch.ops.aie.conv2d_scaled(x, scale, self.weight, self.bias, self.stride, self.padding,
                                               self.dilation, self.groups, self.activation, residual)
        return torch.ops.aie.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                                    self.dilation, self.groups, "auto", False, self.activation,
                                    residual)

    def extra_repr(self):
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, "
                f"kernel_size={tuple(self.weight.shape[2:])}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, activation={self.activation}"
                + (", residual" if self.residual else ""))


class AieConv2d(_AieConv):
    """A Conv2d (+ folded BatchNorm2d, + fused activation) on torch.ops.aie.conv2d."""


class AieConv1d(_AieConv):
    """A Conv1d (+ folded BatchNorm1d, + fused activation) on torch.ops.aie.conv2d."""


_AIE_CONV = {nn.Conv1d: AieConv1d, nn.Conv2d: AieConv2d}

# The epilogue activations as ATen ops, for AieLinear's empty inputs.
_ATEN_ACTIVATIONS = {"none": lambda t: t, "relu": torch.relu, "relu6": F.relu6, "hardswish": F.hardswish,
                     "silu": F.silu, "gelu": F.gelu}


def _rows_as_image(t):
    """(..., C) as a channels-last (1, C, 1, rows) image over the same memory (a view
    when `t` is contiguous): a Linear over rows is then a 1x1 conv."""
    rows = t.reshape(-1, t.shape[-1])
    return rows.view(1, 1, rows.shape[0], rows.shape[1]).permute(0, 3, 1, 2)


class AieLinear(nn.Module):
    """An nn.Linear (+ folded per-feature scale, + residual, + fused activation) on
    torch.ops.aie.conv2d: its rows are the pixels of a 1x1 conv over a channels-last
    view, so the GEMM reads the input in place and writes the output's rows directly.
    Even a classifier head's single row runs faster so than through the CPU fallback
    (benchmarks/RESULTS.md)."""

    def __init__(self, weight, bias, activation: str):
        super().__init__()
        self.in_features, self.out_features = weight.shape[1], weight.shape[0]
        self.activation = activation
        self.weight = nn.Parameter(weight.reshape(*weight.shape, 1, 1), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    residual = False
    # The permute of the output the residual add came after (optimize() reads the residual
    # through its inverse, a node of the graph); None: the add came directly.
    residual_permute = None

    def forward(self, x, residual=None):
        lead = x.shape[:-1]
        if x.dim() == 0 or x.shape[-1] != self.in_features:
            raise RuntimeError(f"AieLinear: input of shape {tuple(x.shape)} does not end in in_features = "
                               f"{self.in_features}")
        if x.numel() == 0:  # no rows or no features: nothing for the GEMM; ATen's ops give the result
            y = F.linear(x, self.weight.flatten(1), self.bias)
            return _ATEN_ACTIVATIONS[self.activation](y if residual is None else y + residual)
        if residual is not None:
            residual = _rows_as_image(residual.expand(*lead, self.out_features))
        y = torch.ops.aie.conv2d(_rows_as_image(x), self.weight, self.bias, [1, 1], [0, 0], [1, 1], 1, "auto",
                                 False, self.activation, residual)
        return y.permute(0, 2, 3, 1).reshape(*lead, self.out_features)

    def extra_repr(self):
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, activation={self.activation}"
                + (", residual" if self.residual else ""))


def _int_padding(conv):
    if conv.padding == "valid":
        return [0] * len(conv.kernel_size)
    if conv.padding == "same":
        total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        return [t // 2 for t in total]
    return list(conv.padding)


def _convertible(conv) -> bool:
    if conv.padding_mode != "zeros":
        return False
    if conv.padding == "same":  # ATen pads asymmetrically when the total is odd
        return all(d * (k - 1) % 2 == 0 for d, k in zip(conv.dilation, conv.kernel_size))
    return True


def _only_user(node):
    return next(iter(node.users)) if node is not None and len(node.users) == 1 else None


def _module(gm, node):
    return gm.get_submodule(node.target) if node is not None and node.op == "call_module" else None


def _skip_identities(gm, node):
    """The first node after `node` (its only user) that is not an nn.Identity, and the
    Identity nodes passed on the way."""
    passed = []
    nxt = _only_user(node)
    while isinstance(_module(gm, nxt), nn.Identity) and nxt.args and nxt.args[0] is (passed[-1] if passed else node):
        passed.append(nxt)
        nxt = _only_user(nxt)
    return nxt, passed


def _attr(gm, node):
    """The tensor a get_attr node names (None for a None argument)."""
    if node is None:
        return None
    if not isinstance(node, fx.Node) or node.op != "get_attr":
        raise LookupError
    obj = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj


_BATCH_NORM_SIG = inspect.signature(F.batch_norm)


def _batch_norm_stats(gm, node, prev, conv):
    """(mean, var, weight, bias, eps) if `node` is an eval-mode BatchNorm of `prev` over
    conv's output channels with running statistics, else None."""
    if node is None or not node.args or node.args[0] is not prev:
        return None
    mod = _module(gm, node)
    if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
        if mod.running_mean is None or mod.training:
            return None
        return (mod.running_mean, mod.running_var, mod.weight if mod.affine else None,
                mod.bias if mod.affine else None, mod.eps)
    if node is None or node.op != "call_function" or node.target is not F.batch_norm:
        return None
    try:
        bound = _BATCH_NORM_SIG.bind(*node.args, **node.kwargs)
    except TypeError:
        return None
    bound.apply_defaults()
    a = bound.arguments
    if a["training"] is not False or not isinstance(a["eps"], (int, float)):
        return None
    try:
        mean, var, w, b = (_attr(gm, a[k]) for k in ("running_mean", "running_var", "weight", "bias"))
    except LookupError:  # statistics computed in the graph: not foldable
        return None
    if mean is None or var is None or mean.numel() != conv.out_channels:
        return None
    return mean, var, w, b, float(a["eps"])


def _activation(gm, node, prev):
    """The epilogue activation `node` computes from `prev`, or None."""
    if node is None or not node.args or node.args[0] is not prev:
        return None
    mod = _module(gm, node)
    if mod is not None:
        if isinstance(mod, nn.ReLU):
            return "relu"
        if isinstance(mod, nn.ReLU6) or (type(mod) is nn.Hardtanh and (mod.min_val, mod.max_val) == (0.0, 6.0)):
            return "relu6"
        if isinstance(mod, nn.SiLU):
            return "silu"
        if isinstance(mod, nn.Hardswish):
            return "hardswish"
        if isinstance(mod, nn.GELU) and mod.approximate == "none":
            return "gelu"
        return None
    if node.op == "call_method":
        return "relu" if node.target in ("relu", "relu_") and len(node.args) == 1 else None
    if node.op != "call_function":
        return None
    t = node.target
    if t in (torch.relu, torch.relu_, F.relu):
        return "relu"
    if t is F.relu6:
        return "relu6"
    if t is F.hardtanh:
        lo = node.args[1] if len(node.args) > 1 else node.kwargs.get("min_val", -1.0)
        hi = node.args[2] if len(node.args) > 2 else node.kwargs.get("max_val", 1.0)
        return "relu6" if (lo, hi) == (0.0, 6.0) else None
    if t is F.silu:
        return "silu"
    if t is F.hardswish:
        return "hardswish"
    if t is F.gelu:
        approx = node.args[1] if len(node.args) > 1 else node.kwargs.get("approximate", "none")
        return "gelu" if approx == "none" else None
    return None


@torch.no_grad()
def _fold_bn(conv, stats):
    mean, var, bn_w, bn_b, eps = (s.detach() if isinstance(s, torch.Tensor) else s for s in stats)
    w = conv.weight.detach().clone()
    b = conv.bias.detach().clone() if conv.bias is not None else torch.zeros_like(mean)
    scale = (bn_w if bn_w is not None else torch.ones_like(var)) / torch.sqrt(var + eps)
    shift = bn_b if bn_b is not None else torch.zeros_like(scale)
    w = w * scale.reshape(-1, *([1] * (w.dim() - 1)))
    b = (b - mean) * scale + shift
    return w, b


def _check_shared_weights(model):
    owners = {}
    for name, mod in model.named_modules(remove_duplicate=False):
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            owners.setdefault(id(mod.weight), set()).add(name)
    for names in owners.values():
        if len(names) > 1:
            raise ValueError(f"optimize(): conv weight shared by modules {sorted(names)}; "
                             "folding BatchNorm into it would change the other users")


def _residual_operand(node, prev):
    """The other operand if `node` is `prev + other` (operator.add or torch.add without
    alpha) with `other` a graph value, else None."""
    if node is None or node.op != "call_function" or node.target not in (operator.add, torch.add):
        return None
    if node.kwargs or len(node.args) != 2:
        return None
    a, b = node.args
    other = b if a is prev else a if b is prev else None
    return other if isinstance(other, fx.Node) and other is not prev else None


def _before(node, other):
    """True if `other` comes before `node` in the graph's (topological) order."""
    for n in node.graph.nodes:
        if n is other:
            return True
        if n is node:
            return False
    return False


def _fuse_tail(gm, nxt, ids, prev, chain):
    """(residual operand, activation) after `prev`, in the epilogue's order
    act((y + bias) + residual); the nodes they replace are appended to `chain`."""
    residual = _residual_operand(nxt, ids[-1] if ids else prev)
    if residual is not None:
        chain += ids + [nxt]
        prev = nxt
        nxt, ids = _skip_identities(gm, nxt)
    act = _activation(gm, nxt, ids[-1] if ids else prev)
    if act is not None:
        chain += ids + [nxt]
    return residual, act


def _take_residual(node, residual):
    """Passes `residual` to the fused module at `node`, which moves after the node
    computing it if that came later."""
    if not _before(node, residual):
        residual.append(node)
    node.args = (node.args[0], residual)


def _replace_chain(gm, chain, out):
    """The last node of `chain` replaced by `out`, then the chain erased (users first)."""
    if chain:
        chain[-1].replace_all_uses_with(out)
        for n in reversed(chain):
            gm.graph.erase_node(n)


def _rewrite_conv(gm, node, conv):
    """Replaces conv (+ BN, + residual add, + activation, Identities between) by one
    aie conv module."""
    w, b = conv.weight.detach().clone(), None if conv.bias is None else conv.bias.detach().clone()
    chain = []  # nodes after the conv that the fused module replaces, in order
    nxt, ids = _skip_identities(gm, node)
    stats = _batch_norm_stats(gm, nxt, ids[-1] if ids else node, conv)
    prev = node
    if stats is not None:
        w, b = _fold_bn(conv, stats)
        chain += ids + [nxt]
        prev = nxt
        nxt, ids = _skip_identities(gm, nxt)
    residual, act = _fuse_tail(gm, nxt, ids, prev, chain)
    fused = _AIE_CONV[type(conv)](conv, w, b, act or "none")
    gm.add_submodule(node.target, fused)
    if residual is not None:
        fused.residual = True
        _take_residual(node, residual)
    _replace_chain(gm, chain, node)
    return stats is not None, act, residual is not None


def _feature_scale(gm, node, prev, features):
    """The tensor p if `node` is `prev * p` (either order) with p a parameter or buffer of
    `features` values along the last dimension, else None."""
    if node is None or node.op != "call_function" or node.target not in (operator.mul, torch.mul):
        return None
    if node.kwargs or len(node.args) != 2 or prev not in node.args:
        return None
    other = node.args[1] if node.args[0] is prev else node.args[0]
    try:
        p = _attr(gm, other) if isinstance(other, fx.Node) else None
    except LookupError:
        return None
    if not isinstance(p, torch.Tensor) or p.numel() != features or p.shape[-1:] != (features,):
        return None
    return p.detach().reshape(features)


def _permute_dims(node, prev):
    """The dims if `node` is `prev.permute(dims)` / torch.permute(prev, dims), else None."""
    if node is None or not node.args or node.args[0] is not prev or node.kwargs:
        return None
    if not ((node.op == "call_method" and node.target == "permute") or
            (node.op == "call_function" and node.target is torch.permute)):
        return None
    dims = node.args[1] if len(node.args) == 2 and isinstance(node.args[1], (tuple, list)) else node.args[1:]
    dims = list(dims)
    return dims if all(isinstance(d, int) and d >= 0 for d in dims) and sorted(dims) == list(range(len(dims))) else None


def _rewrite_linear(gm, node, lin):
    """Replaces Linear (+ scale, + residual add, possibly through a permute, + activation,
    Identities between) by one AieLinear. A permute between the Linear and the add stays
    in the graph, now after the fused module."""
    w, b = lin.weight.detach().clone(), None if lin.bias is None else lin.bias.detach().clone()
    chain = []
    nxt, ids = _skip_identities(gm, node)
    prev = ids[-1] if ids else node
    scale = _feature_scale(gm, nxt, prev, lin.out_features)
    if scale is not None:  # (x W^T + b) * p = x (p W)^T + p b
        w, b = w * scale[:, None], None if b is None else b * scale
        chain += ids + [nxt]
        nxt, ids = _skip_identities(gm, nxt)
        prev = ids[-1] if ids else chain[-1]
    permute, dims = nxt, _permute_dims(nxt, prev)
    if dims is not None:
        after, after_ids = _skip_identities(gm, permute)
        if _residual_operand(after, after_ids[-1] if after_ids else permute) is None:
            dims = None
        else:
            permute_input, nxt, ids, prev = prev, after, after_ids, permute
    residual, act = _fuse_tail(gm, nxt, ids, prev, chain)  # found whenever dims is set
    fused = AieLinear(w, b, act or "none")
    gm.add_submodule(node.target, fused)
    out = node
    if residual is not None:
        fused.residual = True
        _take_residual(node, residual)
        if dims is not None:  # the epilogue reads the residual through the inverse permute
            fused.residual_permute = dims
            inverse = sorted(range(len(dims)), key=dims.__getitem__)
            with gm.graph.inserting_after(residual):
                unpermuted = gm.graph.call_method("permute", (residual, *inverse))
            node.replace_input_with(residual, unpermuted)
            permute.replace_input_with(permute_input, node)
            node.append(permute)
            out = permute
    _replace_chain(gm, chain, out)
    return scale is not None, act, residual is not None


# What makes a graph's result depend on its activations' strides, not only on their values.
_STRIDE_METHODS = {"view", "as_strided", "stride", "data_ptr", "is_contiguous"}
_STRIDE_FUNCTIONS = {torch.Tensor.view, torch.as_strided, torch.Tensor.stride, torch.Tensor.data_ptr,
                     torch.Tensor.is_contiguous}


def _channels_last_if_image(x):
    """A 4-D tensor as channels_last (a no-op when it is already); anything else unchanged."""
    if isinstance(x, torch.Tensor) and x.dim() == 4:
        return x.contiguous(memory_format=torch.channels_last)
    return x


def _in_layout_of(out, inputs):
    """`out` with its 4-D tensors made NCHW-contiguous if the first 4-D tensor of `inputs`
    is (the layout the original model gives an NCHW caller), else unchanged."""
    first = next((t for t in inputs if isinstance(t, torch.Tensor) and t.dim() == 4), None)
    if first is None or not first.is_contiguous():
        return out
    return pytree.tree_map(lambda t: t.contiguous() if isinstance(t, torch.Tensor) and t.dim() == 4 else t, out)


def _stride_dependent(gm):
    """The first node whose result depends on strides (see _STRIDE_METHODS), or None."""
    for node in gm.graph.nodes:
        if (node.op == "call_method" and node.target in _STRIDE_METHODS) or \
                (node.op == "call_function" and node.target in _STRIDE_FUNCTIONS):
            return node
    return None


def _activation_layout(gm, memory_format):
    """(layout, why) for the optimised graph's activations (see the module docstring)."""
    if memory_format is not None:
        return memory_format, "as asked (memory_format)"
    if not any(isinstance(m, AieConv2d) for m in gm.modules()):
        return torch.contiguous_format, "as given: the graph has no 2-D conv"
    node = _stride_dependent(gm)
    if node is not None:
        return torch.contiguous_format, (f"as given: {node.format_node()} depends on strides, which "
                                         "channels-last activations change")
    return torch.channels_last, "channels_last: 2-D convs read it without staging transposes"


_MULS = (operator.mul, torch.mul)


def _fuse_input_scales(gm) -> int:
    """conv(x * s), where only the 2-D conv reads the product (a squeeze-excite gate):
    the conv takes x and s (torch.ops.aie.conv2d_scaled, which multiplies as it stages
    its input, each product as ATen's mul gives it). Returns how many were fused."""
    fused = 0
    for node in list(gm.graph.nodes):
        if not isinstance(_module(gm, node), AieConv2d) or not node.args or "scale" in node.kwargs:
            continue
        prod = node.args[0]
        if not (isinstance(prod, fx.Node) and prod.op == "call_function" and prod.target in _MULS
                and len(prod.args) == 2 and not prod.kwargs and len(prod.users) == 1
                and all(isinstance(a, fx.Node) for a in prod.args)):
            continue
        node.args = (prod.args[0], *node.args[1:])
        node.kwargs = {**node.kwargs, "scale": prod.args[1]}
        gm.graph.erase_node(prod)
        fused += 1
    return fused


def _make_channels_last(gm):
    """Converts the graph's 4-D inputs to channels_last on entry, and its 4-D outputs back
    to the NCHW layout of a contiguous input on exit."""
    graph = gm.graph
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if not inputs:
        return
    with graph.inserting_after(inputs[-1]):
        converted = [graph.call_function(_channels_last_if_image, (p,)) for p in inputs]
    for p, c in zip(inputs, converted):
        p.replace_all_uses_with(c, delete_user_cb=lambda user, c=c: user is not c)
    out = next(n for n in graph.nodes if n.op == "output")
    with graph.inserting_before(out):
        restored = graph.call_function(_in_layout_of, (out.args[0], tuple(inputs)))
    out.args = (restored,)


def optimize(model: nn.Module, prepack: bool = True,
             memory_format: torch.memory_format | None = None) -> fx.GraphModule:
    """Returns an optimised copy (a torch.fx.GraphModule); `model` is not modified.

    `memory_format`: the layout of the model's activations inside the copy. None (the
    default): channels_last where that is safe (see the module docstring), else the
    layout the caller gives; torch.channels_last: 4-D inputs converted on entry and
    outputs converted back, always; torch.contiguous_format: activations as given, no
    conversion. Prepacked weights are arranged for the layout (another packs on first
    use). The copy's `aie_optimize_stats` counts convs converted, BatchNorms folded,
    Linears converted, scales folded into them, residual adds fused, input scales fused
    (`x * s` feeding a conv) and activations fused (per kind); `aie_memory_format` and `aie_memory_format_reason` say which
    layout it chose and why."""
    if memory_format not in (None, torch.contiguous_format, torch.channels_last):
        raise ValueError(f"optimize(): memory_format must be None, torch.contiguous_format or "
                         f"torch.channels_last, got {memory_format}")
    if model.training:
        raise ValueError("optimize() needs an eval-mode model (call model.eval()): BatchNorm "
                         "folding uses running statistics")
    _check_shared_weights(model)
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001  (fx raises many types)
        raise ValueError(f"optimize(): torch.fx cannot trace {type(model).__name__}: {e}") from e

    stats = {"convs": 0, "bn_folded": 0, "linears": 0, "scales_folded": 0, "residuals_fused": 0,
             "input_scales_fused": 0, "activations_fused": {}}
    for node in list(gm.graph.nodes):
        mod = _module(gm, node)
        if type(mod) is nn.Linear:
            scaled, act, residual = _rewrite_linear(gm, node, mod)
            stats["linears"] += 1
            stats["scales_folded"] += scaled
        elif type(mod) in _AIE_CONV and _convertible(mod):
            folded, act, residual = _rewrite_conv(gm, node, mod)
            stats["convs"] += 1
            stats["bn_folded"] += folded
        else:
            continue
        stats["residuals_fused"] += residual
        if act:
            stats["activations_fused"][act] = stats["activations_fused"].get(act, 0) + 1
    stats["input_scales_fused"] = _fuse_input_scales(gm)
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    memory_format, why = _activation_layout(gm, memory_format)
    if memory_format == torch.channels_last:
        _make_channels_last(gm)
    gm.recompile()
    gm.aie_optimize_stats = stats
    gm.aie_memory_format, gm.aie_memory_format_reason = memory_format, why
    if prepack:
        for mod in gm.modules():
            if isinstance(mod, _AieConv):
                torch.ops._aie.prepack_conv(mod.weight, mod.stride, mod.padding, mod.dilation,
                                            mod.groups, "auto", memory_format == torch.channels_last)
            elif isinstance(mod, AieLinear):  # its input is always a channels-last view
                torch.ops._aie.prepack_conv(mod.weight, [1, 1], [0, 0], [1, 1], 1, "auto", True)
    return gm
