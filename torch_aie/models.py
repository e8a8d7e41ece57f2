"""Reference conv nets defined here (no downloads): ResNet-50 v1.5 and MobileNetV2, and
three nets written the way third-party model zoos write them, for optimize():
ResNet-18 with timm-style BatchNormAct (F.batch_norm + activation inside a BatchNorm
subclass) and nn.Identity placeholders, an EfficientNet-style net (SiLU, squeeze-excite,
a Hardswish stage), and a ConvNeXt-style net (LayerNorm, GELU) with a Conv1d TCN head.

Weights are random (Kaiming) with BatchNorm statistics calibrated on random data,
so activations have realistic scales through all layers.
"""
import copy

import torch
from torch import nn


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, width, stride=1):
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)  # v1.5: stride on the 3x3
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + idt)


class ResNet50(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for width, blocks, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            stage = []
            for i in range(blocks):
                stage.append(Bottleneck(cin, width, stride if i == 0 else 1))
                cin = width * Bottleneck.expansion
            layers.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _conv_bn(cin, cout, k, stride, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else _conv_bn(cin, hidden, 1, 1)
        layers += _conv_bn(hidden, hidden, 3, stride, groups=hidden)  # depthwise
        layers += _conv_bn(hidden, cout, 1, 1, act=False)             # pointwise, linear
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
               (6, 160, 3, 2), (6, 320, 1, 1)]
        layers, cin = _conv_bn(3, 32, 3, 2), 32
        for t, c, n, s in cfg:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers += _conv_bn(cin, 1280, 1, 1)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class BatchNormAct2d(nn.BatchNorm2d):
    """timm-style: BatchNorm with its activation inside, calling F.batch_norm."""

    def __init__(self, c, act=True):
        super().__init__(c)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x):
        factor = 0.0 if not self.training else (self.momentum if self.momentum is not None else 1.0)
        x = nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                     self.training, factor, self.eps)
        return self.act(x)


class BasicBlockTimm(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = BatchNormAct2d(cout)
        self.aa = nn.Identity()  # anti-aliasing placeholder, as timm has it
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = BatchNormAct2d(cout, act=False)
        self.drop_path = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), BatchNormAct2d(cout, act=False))

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        y = self.bn2(self.conv2(self.aa(self.bn1(self.conv1(x)))))
        return self.act(self.drop_path(y) + idt)


class ResNet18Timm(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = BatchNormAct2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], 64
        for cout, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
            blocks.append(BasicBlockTimm(cin, cout, stride))
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.layers(self.maxpool(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class SqueezeExcite(nn.Module):
    def __init__(self, c, reduced, act):
        super().__init__()
        self.reduce = nn.Conv2d(c, reduced, 1)
        self.act = act()
        self.expand = nn.Conv2d(reduced, c, 1)

    def forward(self, x):
        s = nn.functional.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(s))))


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, expand, act):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), act()]
        layers += [nn.Conv2d(hidden, hidden, k, stride, k // 2, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
                   act(), SqueezeExcite(hidden, max(8, cin // 4), act),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


class EfficientNetStyle(nn.Module):
    """EfficientNet-B0's stages (SiLU, squeeze-excite), the last two with Hardswish as
    MobileNetV3 has it."""

    def __init__(self, num_classes=1000):
        super().__init__()
        cfg = [(1, 16, 1, 1, 3, nn.SiLU), (6, 24, 2, 2, 3, nn.SiLU), (6, 40, 2, 2, 5, nn.SiLU),
               (6, 80, 3, 2, 3, nn.SiLU), (6, 112, 3, 1, 5, nn.SiLU), (6, 192, 4, 2, 5, nn.Hardswish),
               (6, 320, 1, 1, 3, nn.Hardswish)]
        layers, cin = [nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.SiLU()], 32
        for t, c, n, s, k, act in cfg:
            for i in range(n):
                layers.append(MBConv(cin, c, k, s if i == 0 else 1, t, act))
                cin = c
        layers += [nn.Conv2d(cin, 1280, 1, bias=False), nn.BatchNorm2d(1280), nn.Hardswish()]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1280, num_classes)

    def forward(self, x):
        x = self.features(x)
        return self.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class LayerNorm2d(nn.LayerNorm):
    """ConvNeXt's channels-first LayerNorm: over C, through a permute."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dwconv = nn.Conv2d(c, c, 7, padding=3, groups=c)
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.pw1 = nn.Linear(c, 4 * c)
        self.act = nn.GELU()
        self.pw2 = nn.Linear(4 * c, c)
        self.gamma = nn.Parameter(torch.full((c,), 0.1))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.pw2(self.act(self.pw1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


class TcnBlock(nn.Module):
    """A dilated temporal block: depthwise + pointwise Conv1d, BatchNorm1d, ReLU."""

    def __init__(self, c, dilation):
        super().__init__()
        self.dw = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation, groups=c, bias=False)
        self.bn1 = nn.BatchNorm1d(c)
        self.pw = nn.Conv1d(c, c, 1, bias=False)
        self.bn2 = nn.BatchNorm1d(c)
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.bn2(self.pw(torch.relu(self.bn1(self.dw(x))))))


class ConvNeXtTcn(nn.Module):
    """A small ConvNeXt (depths 2-2-4-2, widths 64-512) whose 7x7 feature map is read as
    a 49-step sequence by a Conv1d TCN head."""

    def __init__(self, num_classes=1000):
        super().__init__()
        dims, depths = (64, 128, 256, 512), (2, 2, 4, 2)
        layers = [nn.Conv2d(3, dims[0], 4, 4), LayerNorm2d(dims[0], eps=1e-6)]
        for i, (d, n) in enumerate(zip(dims, depths)):
            if i > 0:
                layers += [LayerNorm2d(dims[i - 1], eps=1e-6), nn.Conv2d(dims[i - 1], d, 2, 2)]
            layers += [ConvNeXtBlock(d) for _ in range(n)]
        self.features = nn.Sequential(*layers)
        self.tcn = nn.Sequential(*[TcnBlock(dims[-1], dil) for dil in (1, 2, 4)])
        self.head = nn.Linear(dims[-1], num_classes)

    def forward(self, x):
        x = self.features(x)
        x = self.tcn(torch.flatten(x, 2))
        return self.head(x.mean(2))


MODELS = {"resnet50": ResNet50, "mobilenet_v2": MobileNetV2}
# Third-party-style nets for optimize() (benchmarks/optimize_bench.py); not in MODELS,
# which the per-layer benchmarks and array-plan tests walk.
EXTRA_MODELS = {"resnet18_timm": ResNet18Timm, "efficientnet_style": EfficientNetStyle,
                "convnext_tcn": ConvNeXtTcn}


@torch.no_grad()
def build(name: str, seed: int = 0, calib_batch: int = 4, size: int = 224) -> nn.Module:
    """A model in eval mode with Kaiming weights and BatchNorm stats from random data."""
    torch.manual_seed(seed)
    model = {**MODELS, **EXTRA_MODELS}[name]()
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.momentum = None  # cumulative average over the calibration pass
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    model.train()
    model(torch.randn(calib_batch, 3, size, size))
    return model.eval()


class _Bf16Operands(nn.Module):
    def __init__(self, conv):
        super().__init__()
        self.conv = conv

    def forward(self, x):
        c, r = self.conv, lambda t: t.to(torch.bfloat16).float()
        if isinstance(c, nn.Linear):
            return nn.functional.linear(r(x), r(c.weight), c.bias)
        f = nn.functional.conv1d if isinstance(c, nn.Conv1d) else nn.functional.conv2d
        return f(r(x), r(c.weight), c.bias, c.stride, c.padding, c.dilation, c.groups)


def bf16_operand_model(model: nn.Module, linears: bool = False) -> nn.Module:
    """A CPU copy whose convs (and Linears, if `linears`: optimize() puts them on the
    NPU too) round their operands to bf16 (ATen fp32 otherwise): the error ATen itself
    makes with the NPU's input precision, to compare aie's error against."""
    kinds = (nn.Conv1d, nn.Conv2d, nn.Linear) if linears else (nn.Conv1d, nn.Conv2d)
    m = copy.deepcopy(model)
    for parent in list(m.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, kinds):
                setattr(parent, name, _Bf16Operands(child))
    return m


def conv_layers(model: nn.Module):
    """(name, module) for every Conv2d, in forward order."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]


class _BottleneckOwnReLUs(Bottleneck):
    """Bottleneck whose three ReLU calls each have their own module (same function, same
    outputs): PyTorch's X86InductorQuantizer refuses one module called three times."""

    def forward(self, x):
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)))
        return self.relu3(self.bn3(self.conv3(y)) + idt)


def distinct_relus(model: nn.Module) -> nn.Module:
    """A copy of `model` in which every Bottleneck calls a separate nn.ReLU per activation
    (for quantizers that match patterns per module call). fp32 outputs are unchanged."""
    m = copy.deepcopy(model)
    for block in m.modules():
        if type(block) is Bottleneck:
            block.__class__ = _BottleneckOwnReLUs
            block.relu1, block.relu2, block.relu3 = (nn.ReLU(inplace=True) for _ in range(3))
    return m
