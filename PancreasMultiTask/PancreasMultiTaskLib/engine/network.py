"""The multi-task network: nnU-Net's residual-encoder U-Net plus a subtype classifier head.

Defined once here and used by both training and inference. The class is named in a model's
``plans.json`` (``network_class_name``) with its arguments in ``arch_kwargs``, exactly as nnU-Net
names its own architectures, so a model folder alone rebuilds it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from dynamic_network_architectures.architectures.unet import ResidualEncoderUNet
from torch import nn

#: Widths of the paper's four hidden dense layers; the 3- and 1-layer ablations keep a prefix.
DENSE_WIDTHS = (256, 128, 64, 32)
#: Channels of the paper's two 2x2 convolutions (the convolutional feature extractor, CFE).
CFE_CHANNELS = (128, 256)
#: Dropout after each hidden dense layer (0.3) and after the last one (0.2), as in the paper.
DROPOUT, LAST_DROPOUT = 0.3, 0.2


def bottleneck_size(patch_size: Sequence[int], strides: Sequence[Sequence[int] | int]) -> tuple[int, ...]:
    """Spatial size of the deepest encoder features for a patch (each stride divides, rounding up)."""
    size = [int(p) for p in patch_size]
    for stride in strides:
        stride = [stride] * len(size) if isinstance(stride, int) else list(stride)
        size = [math.ceil(s / st) for s, st in zip(size, stride, strict=True)]
    return tuple(size)


class SubtypeClassifierHead(nn.Module):
    """The paper's classifier: optional 2x2 conv feature extractor, dense stack, BN on the logits.

    The flattened size is computed from the bottleneck's spatial size, so any patch size works
    (the paper's code hard-codes 2048 for a 128x192 patch).
    """

    def __init__(
        self,
        in_channels: int,
        feature_size: Sequence[int],
        num_subtypes: int,
        *,
        num_dense: int = 4,
        use_batchnorm: bool = True,
        use_dropout: bool = True,
        use_cfe: bool = True,
    ) -> None:
        super().__init__()
        if num_dense not in range(1, len(DENSE_WIDTHS) + 1):
            raise ValueError(f"num_dense must be 1..{len(DENSE_WIDTHS)}, got {num_dense}")
        if num_subtypes < 2:
            raise ValueError(f"num_subtypes must be at least 2, got {num_subtypes}")
        size = [int(s) for s in feature_size]
        layers: list[nn.Module] = []
        channels = in_channels
        if use_cfe:
            for out_channels in CFE_CHANNELS:
                size = [s - 1 for s in size]  # kernel 2, stride 1, no padding
                if min(size) < 1:
                    raise ValueError(
                        f"patch too small for the classifier's 2x2 convolutions: bottleneck {tuple(feature_size)}"
                    )
                layers += [nn.Conv2d(channels, out_channels, kernel_size=2, stride=1)]
                layers += [nn.BatchNorm2d(out_channels)] if use_batchnorm else []
                layers += [nn.ReLU(inplace=True)]
                channels = out_channels
        layers.append(nn.Flatten())
        features = channels * math.prod(size)
        widths = DENSE_WIDTHS[:num_dense]
        for i, width in enumerate(widths):
            layers.append(nn.Linear(features, width))
            layers += [nn.BatchNorm1d(width)] if use_batchnorm else []
            layers.append(nn.ReLU(inplace=True))
            if use_dropout:
                layers.append(nn.Dropout(LAST_DROPOUT if i == len(widths) - 1 else DROPOUT))
            features = width
        layers.append(nn.Linear(features, num_subtypes))
        layers += [nn.BatchNorm1d(num_subtypes)] if use_batchnorm else []
        self.layers = nn.Sequential(*layers)
        self.flat_features = channels * math.prod(size)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


def centre_crop(tiles: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """The central ``size`` (y, x) of a batch of tiles (batch, channels, y, x)."""
    (height, width), (h, w) = tiles.shape[-2:], size
    y0, x0 = (height - h) // 2, (width - w) // 2
    return tiles[..., y0 : y0 + h, x0 : x0 + w]


class MultiTaskResEncUNet(ResidualEncoderUNet):
    """``ResidualEncoderUNet`` whose deepest encoder output also feeds a subtype classifier.

    ``forward`` returns ``(segmentation, class_logits)`` while ``class_outputs`` is true (the
    default: this package's engine and trainer), and the segmentation alone otherwise, as nnU-Net's
    own predictor expects (:meth:`segmentation_only`). The segmentation is a list under deep
    supervision, as nnU-Net's losses expect. The head holds no reference to the encoder, so the
    state dict stores the encoder once.

    By default the head reads the bottleneck of the whole patch (the paper). With a
    ``classifier_view`` (y, x pixels, at most the patch) it reads the shared encoder's bottleneck of
    a view that size instead: the central view of each tile at inference (the engine's guided tiles
    centre the lesion), a lesion-centred view cut by the trainer in training. The segmentation keeps
    the patch's context while the head sees the lesion at the scale of its texture.
    """

    def __init__(
        self,
        *args,
        num_subtypes: int = 3,
        patch_size: Sequence[int] = (128, 192),
        classifier_dense_layers: int = 4,
        classifier_batchnorm: bool = True,
        classifier_dropout: bool = True,
        classifier_cfe: bool = True,
        classifier_view: Sequence[int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.class_outputs = True
        if len(patch_size) != 2:
            raise ValueError(f"the multi-task network is 2D: patch_size must have 2 entries, got {patch_size}")
        self.patch_size = tuple(int(p) for p in patch_size)
        self.classifier_view = None if classifier_view is None else tuple(int(v) for v in classifier_view)
        if self.classifier_view is not None and (
            len(self.classifier_view) != 2
            or not all(1 <= v <= p for v, p in zip(self.classifier_view, self.patch_size, strict=True))
        ):
            raise ValueError(
                f"classifier_view must be 2 sizes within the patch {self.patch_size}, got {classifier_view}"
            )
        self.num_subtypes = num_subtypes
        self.classifier = SubtypeClassifierHead(
            self.encoder.output_channels[-1],
            bottleneck_size(self.classifier_view or self.patch_size, self.encoder.strides),
            num_subtypes,
            num_dense=classifier_dense_layers,
            use_batchnorm=classifier_batchnorm,
            use_dropout=classifier_dropout,
            use_cfe=classifier_cfe,
        )

    def segmentation_only(self) -> MultiTaskResEncUNet:
        """Make ``forward`` return the segmentation alone (what stock nnU-Net code calls); returns self."""
        self.class_outputs = False
        return self

    def classify(self, views: torch.Tensor) -> torch.Tensor:
        """Class logits of views of ``classifier_view`` size through the shared encoder (a view network only)."""
        if self.classifier_view is None or tuple(views.shape[2:]) != self.classifier_view:
            raise ValueError(f"class views must be {self.classifier_view}, got {tuple(views.shape[2:])}")
        if len(views) == 0:
            return views.new_zeros((0, self.num_subtypes))
        return self.classifier(self.encoder(views)[-1])

    def forward(
        self, x: torch.Tensor, class_items: torch.Tensor | None = None, class_views: torch.Tensor | None = None
    ) -> tuple[torch.Tensor | list[torch.Tensor], torch.Tensor] | torch.Tensor | list[torch.Tensor]:
        """Segmentation (and class logits while ``class_outputs``) of a batch of tiles.

        ``class_items`` (a boolean mask over the batch) runs the head on those tiles only, so in
        training its BatchNorm statistics come from the tiles that carry the class loss; the logits
        then have one row per selected tile. ``class_views`` (a view network) gives the head its own
        views instead, one row of logits each.
        """
        if tuple(x.shape[2:]) != self.patch_size:
            raise ValueError(f"input tiles must be {self.patch_size}, got {tuple(x.shape[2:])}")
        skips = self.encoder(x)
        if not self.class_outputs:
            return self.decoder(skips)
        if class_views is not None:
            return self.decoder(skips), self.classify(class_views)
        if class_items is not None and not bool(class_items.any()):
            return self.decoder(skips), skips[-1].new_zeros((0, self.num_subtypes))
        if self.classifier_view is not None:
            tiles = x if class_items is None else x[class_items]
            return self.decoder(skips), self.classify(centre_crop(tiles, self.classifier_view))
        deepest = skips[-1] if class_items is None else skips[-1][class_items]
        return self.decoder(skips), self.classifier(deepest)


#: Keyword names that a plans step adds to ``arch_kwargs`` for the multi-task network.
HEAD_KWARGS = (
    "num_subtypes",
    "patch_size",
    "classifier_dense_layers",
    "classifier_batchnorm",
    "classifier_dropout",
    "classifier_cfe",
    "classifier_view",
)

#: The ablations of the paper's Table III, as head arguments. The dense-layer rows follow the paper's
#: progressive removals: they come after "no CFE", so they have no convolutional feature extractor.
ABLATIONS: dict[str, dict[str, object]] = {
    "proposed": {},
    "no_bn": {"classifier_batchnorm": False},
    "no_dropout": {"classifier_dropout": False},
    "no_cfe": {"classifier_cfe": False},
    "dense3": {"classifier_cfe": False, "classifier_dense_layers": 3},
    "dense1": {"classifier_cfe": False, "classifier_dense_layers": 1},
}

NETWORK_CLASS_NAME = f"{MultiTaskResEncUNet.__module__}.{MultiTaskResEncUNet.__qualname__}"
