"""Label values and output channels of the pancreas and the lesion, defined once for inference, scene and trainer.

Labels follow the model's ``dataset.json``: background 0, pancreas 1, lesion 2. Region-based models (as in
the paper's release: ``pancreas [1, 2]``, ``lesion 2``) output one sigmoid channel per region; label models
one softmax channel per label.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PANCREAS_LABEL = 1
LESION_LABEL = 2

#: Display colours (RGB 0..1) per label, shared by the CLI preview and the Slicer segments. The pancreas
#: colour is Slicer's recommended display colour for the pancreas (249, 180, 111).
LABEL_COLORS: dict[int, tuple[float, float, float]] = {
    PANCREAS_LABEL: (249 / 255.0, 180 / 255.0, 111 / 255.0),
    LESION_LABEL: (0.85, 0.15, 0.2),
}
#: Colours of plotted series (per subtype, per fold), in order.
SERIES_COLORS: list[tuple[float, float, float]] = [
    (0.12, 0.47, 0.71),
    (1.0, 0.5, 0.05),
    (0.17, 0.63, 0.17),
    (0.84, 0.15, 0.16),
    (0.58, 0.4, 0.74),
    (0.55, 0.34, 0.29),
]


@dataclass(frozen=True)
class OutputChannels:
    """Where the network's output (after its nonlinearity) holds P(lesion) and P(gland, lesion included).

    ``pancreas`` lists the channels whose sum is P(gland): for a label model all foreground channels,
    for a region model the one region that holds both labels.
    """

    lesion: int
    pancreas: tuple[int, ...]


def lesion_label(labels: dict[str, Any]) -> int:
    """The lesion's label value from ``dataset.json``'s ``labels`` (its last value for a region), else 2."""
    lesion = {k.lower(): v for k, v in labels.items()}.get("lesion", LESION_LABEL)
    return int(lesion[-1] if isinstance(lesion, list | tuple) else lesion)


def output_channels(label_manager: Any, labels: dict[str, Any]) -> OutputChannels:
    """The lesion and gland channels of a model, from nnU-Net's ``LabelManager`` and ``dataset.json``'s labels."""
    lesion_value = lesion_label(labels)
    if label_manager.has_regions:
        regions = [
            tuple(int(v) for v in (r if isinstance(r, list | tuple) else (r,)))
            for r in label_manager.foreground_regions
        ]
        # nnU-Net's regions_class_order paints later regions over earlier ones: the last is the fallback.
        lesion = next((i for i, r in enumerate(regions) if r == (lesion_value,)), len(regions) - 1)
        gland = max(range(len(regions)), key=lambda i: (lesion_value in regions[i], len(regions[i])))
        return OutputChannels(lesion, (gland,))
    return OutputChannels(lesion_value, tuple(range(1, label_manager.num_segmentation_heads)))


def output_labels(dataset_json: dict[str, Any]) -> dict[str, int]:
    """Label value of each name in the written segmentation (regions map through ``regions_class_order``)."""
    labels = dataset_json["labels"]
    order = dataset_json.get("regions_class_order")
    if order is None:
        return {name: int(value) for name, value in labels.items()}
    foreground = [name for name, value in labels.items() if value not in (0, [0])]
    return {"background": 0, **{name: int(order[i]) for i, name in enumerate(foreground)}}
