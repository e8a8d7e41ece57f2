"""The fused conv patterns torch_aie's int8 conv runs in one call, on ATen graphs from
torch.export: conv [-> activation] or conv -> add [-> activation], each step the previous
node's only user. The activation is ReLU, ReLU6 or hardtanh (a clamp, which qconv2d applies
as its output saturation); the add is the residual add, whose other operand is the skip.
"""
import torch

aten = torch.ops.aten

CONVS = (aten.conv1d.default, aten.conv2d.default)
RELUS = (aten.relu.default, aten.relu_.default)
HARDTANHS = (aten.hardtanh.default, aten.hardtanh_.default)
ADDS = (aten.add.Tensor, aten.add_.Tensor)
MAXPOOLS = (aten.max_pool2d.default, aten.max_pool1d.default)


def is_call(node, targets) -> bool:
    return isinstance(node, torch.fx.Node) and node.op == "call_function" and node.target in targets


def activation_range(node):
    """(lo, hi) of a fusable activation node (None for an open end), or None if not one."""
    if is_call(node, RELUS):
        return (0.0, None)
    if is_call(node, HARDTANHS):
        lo = node.args[1] if len(node.args) > 1 else node.kwargs.get("min_val", -1.0)
        hi = node.args[2] if len(node.args) > 2 else node.kwargs.get("max_val", 1.0)
        return (float(lo), float(hi))
    return None


def is_nonnegative_activation(node) -> bool:
    r = activation_range(node)
    return r is not None and r[0] >= 0.0


def sole_user(node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def residual_operand(add, x):
    """The operand of `add` other than `x`, or None if `add` is not a plain x + other."""
    if not is_call(add, ADDS) or len(add.args) != 2 or add.kwargs.get("alpha", 1) != 1:
        return None
    a, b = add.args
    other = b if a is x else a if b is x else None
    if not isinstance(other, torch.fx.Node) or other is x:
        return None
    return other


def fusion_chain(conv):
    """[conv, (act)] or [conv, add, (act)]: the nodes one qconv2d call replaces (each step
    the previous node's single user). An activation before an add is not fused: qconv2d
    clamps after the skip is added."""
    chain = [conv]
    user = sole_user(conv)
    if user is None:
        return chain
    if activation_range(user) is not None:
        chain.append(user)
        return chain
    if residual_operand(user, conv) is not None:
        chain.append(user)
        act = sole_user(user)
        if act is not None and activation_range(act) is not None:
            chain.append(act)
    return chain
