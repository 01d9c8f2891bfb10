"""The ``model.py`` of each named pytorch architecture: the network class whose ``state_dict``
the model file holds. ``score.py`` builds the class with its defaults (the sizes at the top of
model.py) and loads the weights into it, so the sizes must match the trained network.
"""

from __future__ import annotations

import textwrap

from modelyard.runtime.templates.catalog import Architecture, Task

_HEADER = '''\
"""{summary}
"""

from __future__ import annotations

import torch
from torch import nn
'''

_MLP = '''
IN_FEATURES = 4
HIDDEN = 32
{out_name} = {out_value}


class MLP(nn.Module):
    def __init__(
        self, in_features: int = IN_FEATURES, hidden: int = HIDDEN, outputs: int = {out_name}
    ) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(in_features, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, outputs),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Feature rows (N, F) -> {out_doc}."""
        return self.layers(features)
'''

_CONV_BLOCK = '''

def conv_block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )
'''

_CNN = (
    """
IN_CHANNELS = 3
WIDTH = 16
NUM_CLASSES = 3
"""
    + _CONV_BLOCK
    + '''

class CNN(nn.Module):
    def __init__(
        self, in_channels: int = IN_CHANNELS, width: int = WIDTH, num_classes: int = NUM_CLASSES
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(in_channels, width),
            nn.MaxPool2d(2),
            conv_block(width, 2 * width),
            nn.MaxPool2d(2),
            conv_block(2 * width, 4 * width),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = nn.Linear(4 * width, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) of any size -> class logits (N, K)."""
        return self.classifier(self.features(images))
'''
)

_UNET = (
    """
IN_CHANNELS = 3
WIDTH = 16
NUM_CLASSES = 2
"""
    + _CONV_BLOCK
    + '''

def double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv_block(cin, cout), conv_block(cout, cout))


class UNet(nn.Module):
    def __init__(
        self, in_channels: int = IN_CHANNELS, width: int = WIDTH, num_classes: int = NUM_CLASSES
    ) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)
        self.down1 = double_conv(in_channels, width)
        self.down2 = double_conv(width, 2 * width)
        self.bottom = double_conv(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = double_conv(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = double_conv(2 * width, width)
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W), H and W divisible by 4 -> class logits (N, K, H, W)."""
        skip1 = self.down1(images)
        skip2 = self.down2(self.pool(skip1))
        bottom = self.bottom(self.pool(skip2))
        up2 = self.dec2(torch.cat([self.up2(bottom), skip2], dim=1))
        up1 = self.dec1(torch.cat([self.up1(up2), skip1], dim=1))
        return self.head(up1)
'''
)

_GRID = (
    """
IN_CHANNELS = 3
WIDTH = 16
NUM_CLASSES = 2
"""
    + _CONV_BLOCK
    + '''

class GridDetector(nn.Module):
    """YOLOv1-style: each cell of a stride-4 feature map predicts an objectness, one box
    (its centre as an offset in the cell, its size relative to the image) and class scores."""

    def __init__(
        self, in_channels: int = IN_CHANNELS, width: int = WIDTH, num_classes: int = NUM_CLASSES
    ) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            conv_block(in_channels, width, stride=2),
            conv_block(width, 2 * width, stride=2),
            conv_block(2 * width, 2 * width),
        )
        self.head = nn.Conv2d(2 * width, 5 + num_classes, 1)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Images (N, C, H, W) -> boxes (N, D, 4) as x1, y1, x2, y2 in pixels, scores (N, D)
        and class indices (N, D), one per grid cell (D cells)."""
        height, width = images.shape[-2:]
        cells = self.head(self.backbone(images))
        rows, cols = cells.shape[-2:]
        cells = cells.flatten(2).transpose(1, 2)  # (N, D, 5 + K)
        ys, xs = torch.meshgrid(
            torch.arange(rows, device=images.device),
            torch.arange(cols, device=images.device),
            indexing="ij",
        )
        cx = (xs.flatten() + cells[..., 1].sigmoid()) * (width / cols)
        cy = (ys.flatten() + cells[..., 2].sigmoid()) * (height / rows)
        w = cells[..., 3].sigmoid() * width
        h = cells[..., 4].sigmoid() * height
        boxes = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
        class_scores, labels = cells[..., 5:].softmax(dim=-1).max(dim=-1)
        return boxes, cells[..., 0].sigmoid() * class_scores, labels
'''
)

_BAG = '''
VOCAB_SIZE = 4096  # as in score.py's tokenizer
DIM = 64


class BagEmbedder(nn.Module):
    def __init__(self, vocab_size: int = VOCAB_SIZE, dim: int = DIM) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, dim, mode="mean", padding_idx=0)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (N, L), 0 padding -> text vectors (N, D): the mean of its tokens' vectors."""
        return self.embedding(ids)
'''

_TRANSFORMER = '''
VOCAB_SIZE = 4096  # as in score.py's tokenizer
MAX_LENGTH = 64  # as in score.py's tokenizer
DIM = 64
HEADS = 4
LAYERS = 2


class TransformerEmbedder(nn.Module):
    def __init__(
        self,
        vocab_size: int = VOCAB_SIZE,
        max_length: int = MAX_LENGTH,
        dim: int = DIM,
        heads: int = HEADS,
        layers: int = LAYERS,
    ) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.positions = nn.Embedding(max_length, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout=0.1, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Token ids (N, L), 0 padding -> token vectors (N, L, D); score.py averages them over
        each text's tokens."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        hidden = self.tokens(ids) + self.positions(positions)[None]
        return self.encoder(hidden, src_key_padding_mask=ids == 0)
'''

_NETWORKS = {
    (Task.CLASSIFICATION, "mlp"): _MLP.format(
        out_name="NUM_CLASSES", out_value=3, out_doc="class logits (N, K)"
    ),
    (Task.CLASSIFICATION, "cnn"): _CNN,
    (Task.REGRESSION, "mlp"): _MLP.format(
        out_name="NUM_TARGETS", out_value=1, out_doc="values (N, T)"
    ),
    (Task.OBJECT_DETECTION, "grid"): _GRID,
    (Task.SEGMENTATION, "unet"): _UNET,
    (Task.TEXT_EMBEDDING, "embedding-bag"): _BAG,
    (Task.TEXT_EMBEDDING, "transformer"): _TRANSFORMER,
}


def model_py(task: Task, arch: Architecture) -> str:
    """The text of model.py for a named pytorch architecture."""
    cls = (arch.model_class or "").partition(":")[2]
    summary = "\n\n".join(
        textwrap.fill(paragraph, width=92)
        for paragraph in [
            f"The network whose state_dict {arch.model_file} holds: {arch.description}.",
            f"score.py builds {cls}() with the sizes below and loads the weights into it: set "
            "them to the sizes of the network you trained, or replace the class with your own "
            "(keeping its name, or changing NETWORK in score.py).",
        ]
    )
    return _HEADER.format(summary=summary) + _NETWORKS[(task, arch.name)]
