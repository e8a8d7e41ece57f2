"""Conv nets for the int8 accuracy benchmark, beside torch_aie.models' ResNet-50 and
MobileNetV2: each stresses a pattern the int8 lowering has to get right.

  se_resnet     residual blocks with squeeze-and-excitation (mean -> 1x1 convs -> sigmoid -> mul)
  resnext       bottlenecks with grouped 3x3 convs (32 groups) and residual adds
  mobilenet_v3  depthwise convs, hardswish, SE with hardsigmoid, linear bottlenecks + adds
  vgg           plain conv + ReLU stacks with max pools (all-uint8 chains)
  tcn1d         1-D convs (dilated, residual), as in audio / sequence models

Random (Kaiming) weights and BatchNorm statistics from random data, as torch_aie.models.build.
"""
import torch
from torch import nn


def _cbr(cin, cout, k=3, stride=1, groups=1, act=nn.ReLU):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    return layers + ([act()] if act is not None else [])


class SE(nn.Module):
    def __init__(self, c, r=4, gate=nn.Sigmoid):
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(c // r, c, 1)
        self.gate = gate()

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.relu(self.fc1(s))))


class SEBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.body = nn.Sequential(*_cbr(cin, cout, 3, stride), *_cbr(cout, cout, 3, act=None))
        self.se = SE(cout)
        self.down = None if stride == 1 and cin == cout else nn.Sequential(*_cbr(cin, cout, 1, stride, act=None))
        self.relu = nn.ReLU()

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        return self.relu(self.se(self.body(x)) + idt)


class SEResNet(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        self.stem = nn.Sequential(*_cbr(3, 32, 3, 2), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 32
        for c, s in ((32, 1), (64, 2), (64, 1), (128, 2), (128, 1), (256, 2)):
            blocks.append(SEBlock(cin, c, s))
            cin = c
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class XBlock(nn.Module):
    def __init__(self, cin, width, cout, stride, groups=32):
        super().__init__()
        self.c1 = nn.Sequential(*_cbr(cin, width, 1))
        self.c2 = nn.Sequential(*_cbr(width, width, 3, stride, groups=groups))
        self.c3 = nn.Sequential(*_cbr(width, cout, 1, act=None))
        self.down = None if stride == 1 and cin == cout else nn.Sequential(*_cbr(cin, cout, 1, stride, act=None))
        self.relu = nn.ReLU()

    def forward(self, x):
        idt = x if self.down is None else self.down(x)
        return self.relu(self.c3(self.c2(self.c1(x))) + idt)


class ResNeXt(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        self.stem = nn.Sequential(*_cbr(3, 64, 7, 2), nn.MaxPool2d(3, 2, 1))
        blocks, cin = [], 64
        for width, cout, s in ((128, 256, 1), (128, 256, 1), (256, 512, 2), (256, 512, 1), (512, 1024, 2)):
            blocks.append(XBlock(cin, width, cout, s))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(self.stem(x)).mean((2, 3)))


class V3Block(nn.Module):
    def __init__(self, cin, hidden, cout, k, stride, se, act):
        super().__init__()
        layers = _cbr(cin, hidden, 1, act=act) + _cbr(hidden, hidden, k, stride, groups=hidden, act=act)
        self.expand_dw = nn.Sequential(*layers)
        self.se = SE(hidden, 4, nn.Hardsigmoid) if se else nn.Identity()
        self.project = nn.Sequential(*_cbr(hidden, cout, 1, act=None))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.project(self.se(self.expand_dw(x)))
        return x + y if self.residual else y


class MobileNetV3(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        hs, re = nn.Hardswish, nn.ReLU
        cfg = [(16, 64, 24, 3, 2, False, re), (24, 72, 24, 3, 1, False, re), (24, 96, 40, 5, 2, True, hs),
               (40, 240, 40, 5, 1, True, hs), (40, 240, 80, 3, 2, False, hs), (80, 200, 80, 3, 1, False, hs),
               (80, 480, 112, 3, 1, True, hs), (112, 672, 160, 5, 2, True, hs)]
        self.stem = nn.Sequential(*_cbr(3, 16, 3, 2, act=hs))
        self.blocks = nn.Sequential(*[V3Block(*c) for c in cfg])
        self.last = nn.Sequential(*_cbr(160, 576, 1, act=hs))
        self.fc = nn.Linear(576, num_classes)

    def forward(self, x):
        return self.fc(self.last(self.blocks(self.stem(x))).mean((2, 3)))


class VGG(nn.Module):
    def __init__(self, num_classes=100):
        super().__init__()
        layers, cin = [], 3
        for v in (32, 32, "M", 64, 64, "M", 128, 128, 128, "M", 256, 256, "M"):
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += _cbr(cin, v, 3)
                cin = v
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


class TCNBlock(nn.Module):
    def __init__(self, c, dilation):
        super().__init__()
        self.c1 = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation, bias=False)
        self.b1 = nn.BatchNorm1d(c)
        self.c2 = nn.Conv1d(c, c, 3, padding=dilation, dilation=dilation, bias=False)
        self.b2 = nn.BatchNorm1d(c)
        self.r1, self.r2 = nn.ReLU(), nn.ReLU()

    def forward(self, x):
        return self.r2(self.b2(self.c2(self.r1(self.b1(self.c1(x))))) + x)


class TCN1d(nn.Module):
    def __init__(self, cin=3, c=64, num_classes=100):
        super().__init__()
        self.inp = nn.Sequential(nn.Conv1d(cin, c, 7, 2, 3, bias=False), nn.BatchNorm1d(c), nn.ReLU())
        self.blocks = nn.Sequential(*[TCNBlock(c, d) for d in (1, 2, 4, 8, 1, 2)])
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.fc(self.blocks(self.inp(x)).mean(2))


# name -> (constructor, input shape for one sample)
NETS = {
    "se_resnet": (SEResNet, (3, 128, 128)),
    "resnext": (ResNeXt, (3, 128, 128)),
    "mobilenet_v3": (MobileNetV3, (3, 160, 160)),
    "vgg": (VGG, (3, 96, 96)),
    "tcn1d": (TCN1d, (3, 4096)),
}


@torch.no_grad()
def build(name: str, seed: int = 0, calib_batch: int = 4) -> nn.Module:
    torch.manual_seed(seed)
    ctor, shape = NETS[name]
    model = ctor()
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.momentum = None
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.uniform_(m.bias, -0.1, 0.1)
    model.train()
    model(torch.randn(calib_batch, *shape))
    return model.eval()
