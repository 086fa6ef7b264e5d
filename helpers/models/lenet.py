"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998), as the paper describes it, and its modern form.

torchvision has no LeNet, so unlike the other builders of this package there is no twin to load
weights from; ``tests/test_lenet.py`` checks the paper's own numbers instead (Section II.B: the
feature-map sizes and the trainable parameters of every layer, 60,000 in all).

Introduced in notebooks/03_architectures.ipynb, section 0.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

# LeCun et al. 1998, Table I: the S2 feature maps (columns of the table: 0-5) that each of the 16 C3
# maps combines. Six maps take 3 neighbours, nine take 4 (six contiguous, three not), one takes all.
LENET5_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def scaled_tanh(x: Tensor) -> Tensor:
    """The paper's squashing function ``A * tanh(S * a)`` with A = 1.7159, S = 2/3 (Appendix A)."""
    return 1.7159 * torch.tanh(2 / 3 * x)


class Subsampling(nn.Module):
    """S2 and S4: each map's 2x2 sums times a trainable coefficient, plus a trainable bias.

    Shapes: x (Tensor[N, C, H, W]) -> Tensor[N, C, H // 2, W // 2]; 2 parameters per map.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        sums = nn.functional.avg_pool2d(x, 2) * 4                     # (N, C, H/2, W/2): the 2x2 sums
        return sums * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class SparseConv(nn.Module):
    """C3: output map ``j`` is a 5x5 convolution of the input maps ``table[j]`` only.

    Shapes: x (Tensor[N, 6, H, W]) -> Tensor[N, len(table), H - 4, W - 4].
    """

    def __init__(self, table: tuple[tuple[int, ...], ...], kernel_size: int = 5) -> None:
        super().__init__()
        self.table = table
        self.maps = nn.ModuleList(nn.Conv2d(len(inputs), 1, kernel_size) for inputs in table)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([conv(x[:, list(inputs)]) for inputs, conv in zip(self.table, self.maps)], dim=1)


class EuclideanRBF(nn.Module):
    """The output layer: ``y_i = sum_j (x_j - w_ij)^2``, with fixed (untrained) centres ``w``.

    The paper draws the centres as +1/-1 bitmaps of the characters (7x12 = 84 pixels); they are chosen
    by hand, not learned, so they are a buffer here (random +1/-1 codes, fixed by ``seed``).
    Shapes: x (Tensor[N, 84]) -> Tensor[N, num_classes]; the class is the *smallest* output.
    """

    def __init__(self, in_features: int = 84, num_classes: int = 10, seed: int = 0) -> None:
        super().__init__()
        codes = torch.randint(0, 2, (num_classes, in_features), generator=torch.Generator().manual_seed(seed))
        self.register_buffer("centres", codes.float() * 2 - 1)

    def forward(self, x: Tensor) -> Tensor:
        return ((x.unsqueeze(1) - self.centres) ** 2).sum(-1)         # (N, num_classes)


class LeNet5(nn.Module):
    """LeNet-5 (LeCun et al. 1998, Fig. 2 and Section II.B), on 1x32x32 images.

    ``paper=True``: C1 (6 maps 28x28) - S2 (6 maps 14x14, trainable subsampling) - C3 (16 maps 10x10,
    sparse connections of Table I) - S4 (16 maps 5x5) - C5 (120) - F6 (84) - Euclidean RBF output;
    scaled tanh activations. 60,000 trainable parameters, as the paper says.

    ``paper=False``: the form most code calls LeNet-5 today: C3 connected to all six maps, parameter-free
    average pooling, ReLU and a linear output layer (61,706 parameters).

    Shapes: x (Tensor[N, 1, 32, 32]) -> Tensor[N, num_classes].
    """

    def __init__(self, num_classes: int = 10, paper: bool = True) -> None:
        super().__init__()
        self.paper = paper
        self.c1 = nn.Conv2d(1, 6, 5)                                   # (N, 6, 28, 28)
        self.s2 = Subsampling(6) if paper else nn.AvgPool2d(2)         # (N, 6, 14, 14)
        self.c3 = SparseConv(LENET5_C3_TABLE) if paper else nn.Conv2d(6, 16, 5)  # (N, 16, 10, 10)
        self.s4 = Subsampling(16) if paper else nn.AvgPool2d(2)        # (N, 16, 5, 5)
        self.c5 = nn.Conv2d(16, 120, 5)                                # (N, 120, 1, 1)
        self.f6 = nn.Linear(120, 84)
        self.output = EuclideanRBF(84, num_classes) if paper else nn.Linear(84, num_classes)

    def act(self, x: Tensor) -> Tensor:
        return scaled_tanh(x) if self.paper else nn.functional.relu(x)

    def forward(self, x: Tensor) -> Tensor:
        x = self.act(self.s2(self.act(self.c1(x))))
        x = self.act(self.s4(self.act(self.c3(x))))
        x = self.act(self.c5(x)).flatten(1)                            # (N, 120)
        x = self.act(self.f6(x))                                       # (N, 84)
        return self.output(x)


def lenet5(*, num_classes: int = 10, paper: bool = True) -> LeNet5:
    """LeNet-5 as LeCun et al. (1998) describe it (``paper=True``) or in its modern form."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    return LeNet5(num_classes=num_classes, paper=paper)


def lenet5_layer_params(net: LeNet5) -> dict[str, int]:
    """Trainable parameters of each named layer (``c1`` ... ``output``) of a :class:`LeNet5`."""
    return {name: sum(p.numel() for p in layer.parameters() if p.requires_grad)
            for name, layer in net.named_children()}


__all__ = ["LENET5_C3_TABLE", "EuclideanRBF", "LeNet5", "SparseConv", "Subsampling",
           "lenet5", "lenet5_layer_params", "scaled_tanh"]
