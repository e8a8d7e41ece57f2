"""Tiny conv nets with the constructs real conv nets are made of, for torch.compile on aie
(tests/test_compile_zoo.py, benchmarks/compile_zoo_bench.py). Each entry: (builder,
input shape, exact) where exact means every op between convs is one correctly rounded
fp32 operation (or none) in both eager ATen and Inductor's C++, so compiled == eager
bit for bit; the others (BatchNorm, sigmoid, SiLU, hardswish, GELU, layer_norm, means)
differ in the last fp32 bits, which a following conv's bf16 operand rounding can turn
into one bf16 unit."""
import torch
import torch.nn.functional as F
from torch import nn


def _cbr(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), act())


class BnActHead(nn.Module):
    """Conv-BN-ReLU6 stem, global average pool, linear classifier."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(_cbr(3, 16, stride=2, act=nn.ReLU6), _cbr(16, 16, act=nn.ReLU6))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(F.adaptive_avg_pool2d(self.body(x), 1).flatten(1))


class SqueezeExcite(nn.Module):
    def __init__(self, c, r=4):
        super().__init__()
        self.reduce = nn.Conv2d(c, c // r, 1)
        self.expand = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(s))))


class MBConv(nn.Module):
    """EfficientNet / MobileNetV3 block: expand, depthwise + hardswish, SE, project, residual."""

    def __init__(self, c=16, e=2):
        super().__init__()
        self.expand = _cbr(c, c * e, 1, act=nn.SiLU)
        self.dw = _cbr(c * e, c * e, 3, groups=c * e, act=nn.Hardswish)
        self.se = SqueezeExcite(c * e)
        self.project = nn.Sequential(nn.Conv2d(c * e, c, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.project(self.se(self.dw(self.expand(x))))


class MBNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = _cbr(3, 16, stride=2, act=nn.Hardswish)
        self.blocks = nn.Sequential(MBConv(), MBConv())

    def forward(self, x):
        return self.blocks(self.stem(x))


class ResStem(nn.Module):
    """ResNet stem (7x7 stride 2, BN, ReLU, padded 3x3/2 max-pool) and a basic block."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 7, 2, 3, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.MaxPool2d(3, 2, 1))
        self.c1 = _cbr(16, 16)
        self.c2 = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16))

    def forward(self, x):
        x = self.stem(x)
        return F.relu(x + self.c2(self.c1(x)))


class Inception(nn.Module):
    """Concatenated branches (1x1 | 3x3 | 5x5 as two 3x3 | padded max-pool + 1x1), then
    a DenseNet-style concat of input and new features. Convs, ReLU, max, cat: exact."""

    def __init__(self, c=8):
        super().__init__()
        conv = lambda i, o, k: nn.Sequential(nn.Conv2d(i, o, k, padding=k // 2), nn.ReLU())  # noqa: E731
        self.b1 = conv(c, 8, 1)
        self.b3 = nn.Sequential(conv(c, 8, 1), conv(8, 8, 3))
        self.b5 = nn.Sequential(conv(c, 4, 1), conv(4, 8, 3), conv(8, 8, 3))
        self.pool = nn.Sequential(nn.MaxPool2d(3, 1, 1), conv(c, 8, 1))
        self.dense = conv(c + 32, 16, 3)

    def forward(self, x):
        y = torch.cat([x, self.b1(x), self.b3(x), self.b5(x), self.pool(x)], 1)
        return torch.cat([y, self.dense(y)], 1)


class ConvNeXtBlock(nn.Module):
    """Depthwise 7x7, layer_norm over channels (channels-last permute), MLP with GELU,
    layer scale, residual."""

    def __init__(self, c=16):
        super().__init__()
        self.dw = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c)
        self.fc1 = nn.Linear(c, 4 * c)
        self.fc2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.5))

    def forward(self, x):
        y = self.dw(x).permute(0, 2, 3, 1)
        y = self.gamma * self.fc2(F.gelu(self.fc1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class ConvNeXtTiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 4, 4)
        self.block = ConvNeXtBlock()

    def forward(self, x):
        return self.block(self.stem(x))


class TCN(nn.Module):
    """Temporal conv net: causal dilated Conv1d (pad left, trim), ReLU, residual adds."""

    def __init__(self, c=16, levels=3):
        super().__init__()
        self.inp = nn.Conv1d(4, c, 1)
        self.convs = nn.ModuleList(nn.Conv1d(c, c, 3, padding=2 ** i * 2, dilation=2 ** i) for i in range(levels))

    def forward(self, x):
        x = self.inp(x)
        for conv in self.convs:
            x = x + F.relu(conv(x)[..., : x.shape[-1]])
        return x


def _zoo():
    return {
        "bn_act_head": (BnActHead, (2, 3, 32, 32), False),
        "mbconv_se": (MBNet, (2, 3, 32, 32), False),
        "resnet_stem": (ResStem, (2, 3, 32, 32), False),
        "inception_dense": (Inception, (2, 8, 16, 16), True),
        "convnext_ln": (ConvNeXtTiny, (2, 3, 32, 32), False),
        "tcn_conv1d": (TCN, (2, 4, 64), True),
    }


ZOO = _zoo()


def build(name: str, seed: int = 0) -> nn.Module:
    """The net in eval mode with non-trivial BatchNorm statistics, on the CPU."""
    torch.manual_seed(seed)
    model = ZOO[name][0]()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    return model.eval()


def example_input(name: str, seed: int = 1) -> torch.Tensor:
    return torch.randn(ZOO[name][1], generator=torch.Generator().manual_seed(seed))


def conv_layers(model: nn.Module) -> int:
    return sum(isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) for m in model.modules())
