"""The multi-task network: shapes, the paper's head, ablation switches, one encoder, built from plans."""

from __future__ import annotations

import json

import pytest
import torch
from dynamic_network_architectures.architectures.unet import ResidualEncoderUNet
from PancreasMultiTaskLib.engine.model_folder import open_model_folder
from PancreasMultiTaskLib.engine.network import (
    ABLATIONS,
    MultiTaskResEncUNet,
    SubtypeClassifierHead,
    bottleneck_size,
    centre_crop,
)
from torch import nn

# The paper's ResEnc M 2D plans (6 stages 32..512, blocks 1,3,4,6,6,6), patch 128x192.
RESENC_M_2D = {
    "input_channels": 1,
    "n_stages": 6,
    "features_per_stage": [32, 64, 128, 256, 512, 512],
    "conv_op": nn.Conv2d,
    "kernel_sizes": [[3, 3]] * 6,
    "strides": [[1, 1], [2, 2], [2, 2], [2, 2], [2, 2], [2, 2]],
    "n_blocks_per_stage": [1, 3, 4, 6, 6, 6],
    "num_classes": 2,
    "n_conv_per_stage_decoder": [1] * 5,
    "conv_bias": True,
    "norm_op": nn.InstanceNorm2d,
    "norm_op_kwargs": {"eps": 1e-5, "affine": True},
    "nonlin": nn.LeakyReLU,
    "nonlin_kwargs": {"inplace": True},
}


def small(**head) -> MultiTaskResEncUNet:
    kwargs = dict(RESENC_M_2D, features_per_stage=[4, 8, 8, 16, 16, 16], n_blocks_per_stage=[1, 1, 1, 1, 1, 1])
    return MultiTaskResEncUNet(**kwargs, **head)


def test_paper_head_on_resenc_m_has_the_papers_sizes():
    network = MultiTaskResEncUNet(**RESENC_M_2D, num_subtypes=3, patch_size=(128, 192))
    head = network.classifier
    assert bottleneck_size((128, 192), RESENC_M_2D["strides"]) == (4, 6)
    assert head.flat_features == 2048  # 256 channels x 2 x 4, as the paper's released code
    linears = [m for m in head.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(2048, 256), (256, 128), (128, 64), (64, 32), (32, 3)]
    dropouts = [m.p for m in head.modules() if isinstance(m, nn.Dropout)]
    assert dropouts == [0.3, 0.3, 0.3, 0.2]
    assert isinstance(list(head.layers)[-1], nn.BatchNorm1d)  # BN on the logits
    total = sum(p.numel() for p in network.parameters())
    assert 60e6 < total < 80e6  # the paper's ResEnc M 2D is about 72M parameters


def test_forward_returns_segmentation_and_class_logits_for_any_patch():
    network = small(num_subtypes=4, patch_size=(96, 128)).eval()
    seg, logits = network(torch.randn(3, 1, 96, 128))
    assert seg.shape == (3, 2, 96, 128)
    assert logits.shape == (3, 4)
    network.decoder.deep_supervision = True
    seg, logits = network(torch.randn(2, 1, 96, 128))
    assert isinstance(seg, list) and seg[0].shape == (2, 2, 96, 128) and len(seg) == 5


def test_wrong_tile_size_is_refused():
    network = small(num_subtypes=3, patch_size=(96, 128)).eval()
    with pytest.raises(ValueError, match="96, 128"):
        network(torch.randn(1, 1, 64, 64))


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_switches(name):
    head = small(num_subtypes=3, patch_size=(128, 128), **ABLATIONS[name]).classifier
    modules = list(head.modules())
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    has_bn = any(isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d) for m in modules)
    has_dropout = any(isinstance(m, nn.Dropout) for m in modules)
    has_conv = any(isinstance(m, nn.Conv2d) for m in modules)
    expected_dense = {"dense3": 3, "dense1": 1}.get(name, 4)
    assert len(linears) == expected_dense + 1
    assert has_bn == (name != "no_bn")
    assert has_dropout == (name != "no_dropout")
    # the paper's progressive removals: the dense-layer rows come after removing the CFE
    assert has_conv == (name not in ("no_cfe", "dense3", "dense1"))
    head.train()
    assert head(torch.randn(2, 16, 4, 4)).shape == (2, 3)


def test_class_items_run_the_head_on_those_tiles_only():
    """Training runs the head on the tiles that carry the class loss: its BatchNorm sees only those."""
    torch.manual_seed(0)
    network = small(num_subtypes=3, patch_size=(96, 96)).train()
    reference = small(num_subtypes=3, patch_size=(96, 96)).train()
    reference.load_state_dict(network.state_dict())
    x = torch.randn(6, 1, 96, 96)
    x[[0, 2, 5]] *= 4.0  # the unselected tiles would shift the head's batch statistics
    items = torch.tensor([False, True, False, True, True, False])
    torch.manual_seed(1)  # the same dropout draws in both heads
    segmentation, logits = network(x, items)
    assert logits.shape == (3, 3) and segmentation.shape == (6, 2, 96, 96)
    torch.manual_seed(1)
    expected = reference.classifier(reference.encoder(x)[-1][items])
    torch.testing.assert_close(logits, expected)
    for mine, theirs in zip(network.classifier.modules(), reference.classifier.modules(), strict=True):
        if isinstance(mine, nn.modules.batchnorm._BatchNorm):
            torch.testing.assert_close(mine.running_mean, theirs.running_mean)
            torch.testing.assert_close(mine.running_var, theirs.running_var)
    untouched = [m.running_mean.clone() for m in network.classifier.modules() if isinstance(m, nn.BatchNorm1d)]
    _, none = network(x, torch.zeros(6, dtype=torch.bool))
    assert none.shape == (0, 3)
    after = [m.running_mean for m in network.classifier.modules() if isinstance(m, nn.BatchNorm1d)]
    assert all(torch.equal(a, b) for a, b in zip(untouched, after, strict=True))
    network.eval()
    with torch.no_grad():
        torch.testing.assert_close(network(x, items)[1], network(x)[1][items])


def test_a_classifier_view_head_reads_the_central_view_through_the_shared_encoder():
    """With ``classifier_view`` the head is sized for the view's bottleneck; a tile's logits are those of its
    central view run through the same encoder, and given views (the trainer's lesion-centred ones) replace them."""
    torch.manual_seed(0)
    network = small(num_subtypes=3, patch_size=(128, 160), classifier_view=(96, 96)).eval()
    plain = small(num_subtypes=3, patch_size=(128, 160))
    assert network.classifier.flat_features == 256 * 1 * 1  # bottleneck 3x3 of the view, less the two 2x2 convs
    assert plain.classifier.flat_features == 256 * 2 * 3
    x = torch.randn(4, 1, 128, 160)
    with torch.no_grad():
        seg, logits = network(x)
        centre = network.classifier(network.encoder(x[:, :, 16:112, 32:128])[-1])
        torch.testing.assert_close(logits, centre)
        torch.testing.assert_close(centre_crop(x, (96, 96)), x[:, :, 16:112, 32:128])
        items = torch.tensor([True, False, True, False])
        torch.testing.assert_close(network(x, items)[1], centre[items])
        views = torch.randn(5, 1, 96, 96)
        seg_views, given = network(x, class_views=views)
        torch.testing.assert_close(given, network.classifier(network.encoder(views)[-1]))
        torch.testing.assert_close(seg_views, seg)
        assert network(x, class_views=views[:0])[1].shape == (0, 3)
    with pytest.raises(ValueError, match="class views must be"):
        network.classify(torch.randn(2, 1, 128, 160))
    with pytest.raises(ValueError, match="classifier_view must be 2 sizes within the patch"):
        small(num_subtypes=3, patch_size=(128, 160), classifier_view=(160, 96))
    with pytest.raises(ValueError, match="class views must be"):
        plain.classify(torch.randn(2, 1, 96, 96))


def test_segmentation_only_returns_what_nnunet_code_expects():
    network = small(num_subtypes=3, patch_size=(128, 128)).eval()
    x = torch.randn(2, 1, 128, 128)
    with torch.no_grad():
        segmentation, logits = network(x)
        alone = network.segmentation_only()(x)
    assert isinstance(alone, torch.Tensor) and logits.shape == (2, 3)
    assert torch.equal(alone, segmentation)


def test_state_dict_holds_the_encoder_once():
    network = small(num_subtypes=3, patch_size=(128, 128))
    kwargs = dict(RESENC_M_2D, features_per_stage=[4, 8, 8, 16, 16, 16], n_blocks_per_stage=[1, 1, 1, 1, 1, 1])
    plain = ResidualEncoderUNet(**kwargs)
    head_keys = network.classifier.state_dict().keys()
    assert len(network.state_dict()) == len(plain.state_dict()) + len(head_keys)
    assert not any("encoder" in k for k in head_keys)


def test_head_rejects_a_patch_too_small_for_its_convolutions():
    with pytest.raises(ValueError, match="too small"):
        SubtypeClassifierHead(16, (1, 1), 3)


def test_built_from_plans_json_alone(multitask_model):
    model = open_model_folder(multitask_model)
    network = model.build_network()
    arch = json.loads((multitask_model / "plans.json").read_text())["configurations"]["2d"]["architecture"]
    assert type(network) is MultiTaskResEncUNet
    assert network.patch_size == tuple(arch["arch_kwargs"]["patch_size"])
    assert list(network.encoder.output_channels) == arch["arch_kwargs"]["features_per_stage"]
    network.load_state_dict(model.load_weights("0"))
    _, logits = network.eval()(torch.randn(1, 1, *network.patch_size))
    assert logits.shape == (1, 3)
