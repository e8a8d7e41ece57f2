"""Ahead-of-time module preparation for aie inference.

`optimize(model)` traces the model with torch.fx and rewrites every Conv2d into
an `AieConv2d` calling torch.ops.aie.conv2d, folding a following eval-mode
BatchNorm2d into its weight and bias and fusing a following ReLU into the conv's
epilogue, then packs every weight into the cache. Outputs stay within the
numeric contract's bound of the original model (folding changes rounding only).

Refused (ValueError, naming the module): training mode (folding uses running
statistics), conv weights shared between modules (folding would change the other
user), models torch.fx cannot trace. Left as they are: non-zero padding modes,
asymmetric "same" padding, BatchNorm without running statistics, BN/ReLU whose
input has other users.
"""
import torch
import torch.fx as fx
from torch import nn

__all__ = ["optimize", "AieConv2d"]


class AieConv2d(nn.Module):
    """A Conv2d (+ folded BatchNorm, + fused ReLU) executed by torch.ops.aie.conv2d."""

    def __init__(self, conv: nn.Conv2d, weight, bias, relu: bool):
        super().__init__()
        self.stride, self.dilation, self.groups = list(conv.stride), list(conv.dilation), conv.groups
        self.padding = _int_padding(conv)
        self.relu = relu
        self.weight = nn.Parameter(weight, requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)

    def forward(self, x):
        return torch.ops.aie.conv2d(x, self.weight, self.bias, self.stride, self.padding,
                                    self.dilation, self.groups, "auto", self.relu)

    def extra_repr(self):
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, "
                f"kernel_size={tuple(self.weight.shape[2:])}, stride={self.stride}, "
                f"padding={self.padding}, groups={self.groups}, relu={self.relu}")


def _int_padding(conv):
    if conv.padding == "valid":
        return [0, 0]
    if conv.padding == "same":
        total = [d * (k - 1) for d, k in zip(conv.dilation, conv.kernel_size)]
        return [t // 2 for t in total]
    return list(conv.padding)


def _convertible(conv: nn.Conv2d) -> bool:
    if conv.padding_mode != "zeros":
        return False
    if conv.padding == "same":  # ATen pads asymmetrically when the total is odd
        return all(d * (k - 1) % 2 == 0 for d, k in zip(conv.dilation, conv.kernel_size))
    return True


def _only_user(node):
    return next(iter(node.users)) if len(node.users) == 1 else None


def _is_module(gm, node, cls):
    return node is not None and node.op == "call_module" and isinstance(gm.get_submodule(node.target), cls)


def _is_relu(gm, node):
    if node is None:
        return False
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), nn.ReLU)
    return node.op in ("call_function", "call_method") and node.target in (
        torch.relu, torch.nn.functional.relu, "relu", "relu_")


@torch.no_grad()
def _fold_bn(conv, bn):
    w = conv.weight.detach().clone()
    b = conv.bias.detach().clone() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps) if bn.affine else \
        1.0 / torch.sqrt(bn.running_var + bn.eps)
    shift = bn.bias.detach() if bn.affine else torch.zeros_like(scale)
    w = w * scale.reshape(-1, *([1] * (w.dim() - 1)))
    b = (b - bn.running_mean) * scale + shift
    return w, b


def _check_shared_weights(model):
    owners = {}
    for name, mod in model.named_modules(remove_duplicate=False):
        if isinstance(mod, nn.Conv2d):
            owners.setdefault(id(mod.weight), set()).add(name)
    for names in owners.values():
        if len(names) > 1:
            raise ValueError(f"optimize(): conv weight shared by modules {sorted(names)}; "
                             "folding BatchNorm into it would change the other users")


def optimize(model: nn.Module, prepack: bool = True,
             memory_format: torch.memory_format = torch.contiguous_format) -> fx.GraphModule:
    """Returns an optimised copy (a torch.fx.GraphModule); `model` is not modified.

    `memory_format` is the layout the model's activations will have (NCHW by default);
    prepacked weights are arranged for it, and another layout packs on first use."""
    if memory_format not in (torch.contiguous_format, torch.channels_last):
        raise ValueError(f"optimize(): memory_format must be torch.contiguous_format or "
                         f"torch.channels_last, got {memory_format}")
    if model.training:
        raise ValueError("optimize() needs an eval-mode model (call model.eval()): BatchNorm "
                         "folding uses running statistics")
    _check_shared_weights(model)
    try:
        gm = fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001  (fx raises many types)
        raise ValueError(f"optimize(): torch.fx cannot trace {type(model).__name__}: {e}") from e

    for node in list(gm.graph.nodes):
        if not _is_module(gm, node, nn.Conv2d) or not _convertible(gm.get_submodule(node.target)):
            continue
        conv = gm.get_submodule(node.target)
        w, b = conv.weight.detach().clone(), None if conv.bias is None else conv.bias.detach().clone()
        last = node
        bn_node = _only_user(node)
        if _is_module(gm, bn_node, nn.BatchNorm2d) and gm.get_submodule(bn_node.target).running_mean is not None:
            w, b = _fold_bn(conv, gm.get_submodule(bn_node.target))
            last = bn_node
        relu_node = _only_user(last)
        relu = _is_relu(gm, relu_node)
        if relu:
            last = relu_node
        fused = AieConv2d(conv, w, b, relu)
        gm.add_submodule(node.target, fused)  # replaces the Conv2d under the same name
        if last is not node:
            last.replace_all_uses_with(node)
            cur = last
            while cur is not node:  # erase relu, then bn
                prev = cur.args[0]
                gm.graph.erase_node(cur)
                cur = prev
    gm.graph.eliminate_dead_code()
    gm.delete_all_unused_submodules()
    gm.recompile()
    if prepack:
        for mod in gm.modules():
            if isinstance(mod, AieConv2d):
                torch.ops._aie.prepack_conv(mod.weight, mod.stride, mod.padding, mod.dilation,
                                            mod.groups, "auto", memory_format == torch.channels_last)
    return gm
