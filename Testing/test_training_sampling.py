"""The trainer's tile sampling: nnU-Net's loader, with forced tiles on the lesion, placed off-centre."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from nnunetv2.utilities.label_handling.label_handling import LabelManager
from pancreas_mt_training.trainer import LesionAwareDataLoader

PATCH = (64, 64)
SHAPE = (10, 200, 200)  # slices, y, x of a preprocessed case
LESION_VOXEL = (0, 4, 150, 40)  # channel, z, y, x
LOCATIONS = {1: np.array([[0, 4, 30, 170]] * 5), 2: np.array([LESION_VOXEL] * 5)}


def _loader(lesion_probability: float, jitter: float) -> LesionAwareDataLoader:
    labels = LabelManager({"background": 0, "pancreas": 1, "lesion": 2}, regions_class_order=None)
    # the dataset is only asked for its identifiers when the loader is built
    dataset = SimpleNamespace(identifiers=["case"])
    return LesionAwareDataLoader(
        dataset,
        2,
        PATCH,
        PATCH,
        labels,
        oversample_foreground_percent=1,
        lesion_probability=lesion_probability,
        jitter=jitter,
    )


def _offsets(loader: LesionAwareDataLoader, draws: int = 300) -> np.ndarray:
    """Lesion voxel's position in the tile relative to the tile centre (y, x), for forced tiles."""
    offsets = []
    for _ in range(draws):
        lbs, ubs = loader.get_bbox(SHAPE, True, LOCATIONS)
        assert lbs[0] <= LESION_VOXEL[1] < ubs[0]
        offsets.append([LESION_VOXEL[2] - lbs[1] - PATCH[0] // 2, LESION_VOXEL[3] - lbs[2] - PATCH[1] // 2])
    return np.array(offsets)


def test_forced_tiles_centre_the_lesion_without_jitter():
    np.random.seed(0)
    assert not np.any(_offsets(_loader(1.0, 0.0)))


def test_jitter_puts_the_lesion_anywhere_in_the_central_half_and_keeps_it_in_the_tile():
    np.random.seed(1)
    offsets = _offsets(_loader(1.0, 0.25))
    assert np.abs(offsets).max() <= PATCH[0] // 4 and len({tuple(o) for o in offsets}) > 50
    assert offsets.std(0).min() > PATCH[0] / 16  # spread along both axes


def test_lesion_probability_decides_which_class_a_forced_tile_shows():
    np.random.seed(2)
    loader = _loader(0.0, 0.0)
    lesion_tiles = 0
    for _ in range(200):
        lbs, _ = loader.get_bbox(SHAPE, True, LOCATIONS)
        lesion_tiles += lbs[1] + PATCH[0] // 2 == LESION_VOXEL[2]
    # nnU-Net alone picks the lesion for about half of the forced tiles (one of two classes)
    assert 60 < lesion_tiles < 140


def test_tiles_without_lesion_carry_no_class_loss_by_default_and_their_case_subtype_in_the_paper():
    import torch
    from pancreas_mt_training.trainer import class_loss_mask

    tiles = torch.zeros(4, 1, 32, 32)
    tiles[1, 0, :5, :5] = 1  # pancreas only
    tiles[2, 0, :3, :3] = 2  # a sliver of lesion (9 px)
    tiles[3, 0, 10:20, 10:20] = 2  # lesion (100 px)
    assert class_loss_mask([tiles, tiles[:, :, ::2, ::2]], "lesion", 16, None).tolist() == [False, False, False, True]
    assert class_loss_mask(tiles, "lesion", 1, None).tolist() == [False, False, True, True]
    assert class_loss_mask(tiles, "foreground", 16, None).tolist() == [False, True, True, True]
    assert class_loss_mask(tiles, "all", 16, None).tolist() == [True] * 4
    regions = torch.stack([(tiles[:, 0] > 0), (tiles[:, 0] == 2)], 1).float()  # pancreas (1, 2), lesion (2)
    assert class_loss_mask(regions, "lesion", 16, 1).tolist() == [False, False, False, True]


def test_tiles_of_cases_without_a_subtype_never_carry_the_class_loss():
    """Normal cases (subtype -1 in subtypes.csv) train the segmentation only, whatever the tile mode."""
    import torch
    from pancreas_mt_training.labels import NO_SUBTYPE
    from pancreas_mt_training.trainer import class_loss_mask

    tiles = torch.zeros(4, 1, 32, 32)
    tiles[:, 0, :10, :10] = 1
    tiles[2:, 0, 10:20, 10:20] = 2
    subtypes = torch.tensor([0, NO_SUBTYPE, 2, NO_SUBTYPE])
    assert class_loss_mask(tiles, "all", 16, None, subtypes).tolist() == [True, False, True, False]
    assert class_loss_mask(tiles, "foreground", 16, None, subtypes).tolist() == [True, False, True, False]
    assert class_loss_mask(tiles, "lesion", 16, None, subtypes).tolist() == [False, False, True, False]
    regions = torch.stack([(tiles[:, 0] > 0), (tiles[:, 0] == 2)], 1).float()
    assert class_loss_mask(regions, "lesion", 16, 1, subtypes).tolist() == [False, False, True, False]


def test_class_views_are_centred_on_each_tiles_lesion_and_padded_at_the_edges():
    """The head of a ``classifier_view`` network is trained on views around the lesion's centroid (what the
    engine's guided tiles centre), within ``jitter`` of the view; a view past a tile's edge is padded with 0."""
    import torch
    from pancreas_mt_training.trainer import lesion_views

    data = torch.arange(2 * 40 * 50, dtype=torch.float32).reshape(2, 1, 40, 50) + 1
    lesion = torch.zeros(2, 40, 50, dtype=torch.bool)
    lesion[0, 10:15, 20:25] = True  # centroid (12, 22)
    lesion[1, 0:3, 46:50] = True  # centroid (1, 47.5): at the corner
    views = lesion_views(data, lesion, (8, 10))
    assert views.shape == (2, 1, 8, 10)
    assert torch.equal(views[0, 0], data[0, 0, 8:16, 17:27])  # centroid at (4, 5) of the view, as the engine's tiles
    assert torch.equal(views[1, 0, 3:, :8], data[1, 0, :5, 42:50]) and not views[1, 0, :3].any()
    assert not views[1, 0, :, 8:].any()
    np.random.seed(4)
    corners = set()
    for _ in range(50):
        jittered = lesion_views(data[:1], lesion[:1], (8, 10), jitter=0.25)[0, 0]
        y, x = divmod(int(jittered[0, 0]) - 1, 50)
        assert abs(y - 8) <= 2 and abs(x - 17) <= 2
        corners.add((y, x))
    assert len(corners) > 10
    empty = lesion_views(data, torch.zeros_like(lesion), (8, 10))  # no lesion: the central view
    assert torch.equal(empty[0, 0], data[0, 0, 16:24, 20:30])
