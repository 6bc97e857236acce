"""The model-zoo compatibility matrix: two ICE steps, exact pruning, the forward pass, the size reduction, save/load.

`make test` runs a representative subset (one model per structure that trips up channel pruning, and our custom
networks); `ICE_NB_ZOO=all python -m pytest tests/test_zoo.py` runs every torchvision classification model, and timm's
most used CNN families when timm is installed (about 40 min on 2 CPU cores), and writes the table that the README
shows (docs/bench/compat.md, read when the README is built from nbs/index.ipynb);
`ICE_NB_ZOO=timm:lcnet_050,my_nets:build` runs the models named (any `create_model` name).

Each model is pruned by a `PruningSession` at ratio 0.3 for two steps (fewer if it has fewer units), each step
fine-tuned on one batch of 4 synthetic 32x32 images. Before that, pruning the same units of a copy (without
fine-tuning) must compute exactly what the dense model computes with the removed channels zeroed where they are read:
this catches a silently wrong model. After the steps, the pruned model must run, be smaller in parameters and MACs,
and reload onto a fresh instance with `load_pruned` giving the same outputs. A model that Torch-Pruning cannot handle
must stop at unit discovery with an `UnsupportedModelError` naming the layer and a workaround. A failure of ice_nb
itself is an `xfail(strict=True)` with its reason, until it is fixed. The results go to docs/bench/compat.md (every
model, with its rows in tests/artifacts/compat.json so that an interrupted run resumes), or to tests/artifacts/
compat-quick.md (the subset) and compat-named.md (named models).
"""
import copy
import gc
import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch_pruning as tp
import torchvision

from ice_nb.checkpoint import load_pruned, save_pruned
from ice_nb.data import load_data
from ice_nb.criteria import prune_unit
from ice_nb.depgraph import UnsupportedModelError, channel_readers, count_macs_and_params
from ice_nb.models import CIFAR_RESNET_DEPTHS, create_model_for, timm_names, torchvision_names
from ice_nb.session import ICEConfig, PruningSession
from ice_nb.units import find_units

ALL = os.environ.get("ICE_NB_ZOO") == "all"
NAMED = [] if ALL else [n for n in os.environ.get("ICE_NB_ZOO", "").split(",") if n]  # e.g. ICE_NB_ZOO=timm:lcnet_050,alexnet
ARTIFACTS = Path(__file__).parent / "artifacts"
COMPAT = Path(__file__).parents[1] / "docs" / "bench" / "compat.md" if ALL else ARTIFACTS / ("compat-named.md" if NAMED else "compat-quick.md")
STEPS = 2
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


# Small custom networks, one per structure that trips up channel pruning. Each puts the structure inside one
# block (with the layer that reads it), so that the block is an `internal` unit.
class ConcatBlock(nn.Module):
    "Two conv branches joined by torch.cat, read by one 1x1 conv: the cat's channels come from both producers."
    def __init__(self, c: int):
        super().__init__()
        self.left, self.left_bn = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.right, self.right_bn = nn.Conv2d(c, c // 2, 1, bias=False), nn.BatchNorm2d(c // 2)
        self.fuse, self.fuse_bn = nn.Conv2d(c + c // 2, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = torch.cat([F.relu(self.left_bn(self.left(x))), F.relu(self.right_bn(self.right(x)))], 1)
        return F.relu(self.fuse_bn(self.fuse(x)))

class DepthwiseSeparableBlock(nn.Module):
    "Two depthwise-separable convolutions (MobileNet-v1): a depthwise conv's channels are its input's channels."
    def __init__(self, c: int):
        super().__init__()
        self.dw1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, groups=c, bias=False), nn.BatchNorm2d(c)
        self.pw1, self.bn2 = nn.Conv2d(c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c)
        self.dw2, self.bn3 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c, bias=False), nn.BatchNorm2d(2 * c)
        self.pw2, self.bn4 = nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        for conv, bn in ((self.dw1, self.bn1), (self.pw1, self.bn2), (self.dw2, self.bn3), (self.pw2, self.bn4)):
            x = F.relu(bn(conv(x)))
        return x

class GroupedBlock(nn.Module):
    "A ResNeXt-style bottleneck without the shortcut: 1x1, 3x3 grouped (4 groups), 1x1."
    def __init__(self, c: int):
        super().__init__()
        self.reduce, self.bn1 = nn.Conv2d(c, 2 * c, 1, bias=False), nn.BatchNorm2d(2 * c)
        self.grouped, self.bn2 = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=4, bias=False), nn.BatchNorm2d(2 * c)
        self.expand, self.bn3 = nn.Conv2d(2 * c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = F.relu(self.bn1(self.reduce(x)))
        x = F.relu(self.bn2(self.grouped(x)))
        return F.relu(self.bn3(self.expand(x)))

class SharedBlock(nn.Module):
    "One conv applied twice (weights shared), between two plain convs: its input and output channels are tied."
    def __init__(self, c: int):
        super().__init__()
        self.pre, self.bn0 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.shared, self.bn1, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.BatchNorm2d(c)
        self.post, self.bn3 = nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)

    def forward(self, x):
        x = F.relu(self.bn0(self.pre(x)))
        x = F.relu(self.bn1(self.shared(x)))
        x = F.relu(self.bn2(self.shared(x)))
        return F.relu(self.bn3(self.post(x)))

class DataDependentBlock(nn.Module):
    "Two convs, only one of which runs, chosen by the data: the trace sees one path, pruning would break the other."
    def __init__(self, c: int):
        super().__init__()
        self.small, self.large = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return F.relu(self.small(x) if x.abs().mean() < 100 else self.large(x))

class TinyNet(nn.Module):
    "Stem conv, two blocks of one kind, global pooling, classifier."
    def __init__(self, block: type, num_classes: int = 10, in_channels: int = 3, c: int = 8):
        super().__init__()
        self.stem, self.stem_bn = nn.Conv2d(in_channels, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.block1, self.block2 = block(c), block(c)
        self.fc = nn.Linear(c, num_classes)

    def forward(self, x):
        x = self.block2(self.block1(F.relu(self.stem_bn(self.stem(x)))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def nested_sequential(data) -> nn.Sequential:
    "A Sequential of Sequential(conv, bn, relu) blocks, some nested one level deeper: no custom module at all."
    def conv_bn(i, o): return nn.Sequential(nn.Conv2d(i, o, 3, padding=1), nn.BatchNorm2d(o), nn.ReLU())
    return nn.Sequential(conv_bn(data.in_channels, 8), conv_bn(8, 16), nn.Sequential(conv_bn(16, 16), conv_bn(16, 16)),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, data.num_classes))


def ice_model(name: str, **kwargs):
    "A model from `create_model`, adapted to the data (small-image stem for 32 px)."
    return lambda data: create_model_for(data, name, **kwargs)

def custom(block: type):
    return lambda data: TinyNet(block, data.num_classes, data.in_channels)

def sequential(build: Callable):
    return build

def by(name: str, how: Callable) -> str:
    if how is ice_model:
        return ("timm" if name.startswith("timm:") else "your own (import path)" if ":" in name
                else "create_model" if name in CIFAR_RESNET_DEPTHS else "torchvision")
    return {custom: "custom nn.Module", sequential: "nn.Sequential only"}[how]

@dataclass
class ZooModel:
    name: str
    build: Callable     # data -> a new dense model
    by: str             # how it is built, for the table
    fails: str = ""     # what fails, for a known failure of ice_nb

def zoo_model(name: str, how: Callable, *args, fails: tuple = (), run: bool = True, **kwargs):
    "A model of the zoo. fails: (exception type, what fails, why) of a known failure; run=False: too slow to run."
    marks = []
    if fails:  # shown in the matrix until it is fixed; then the strict xfail turns red
        marks.append(pytest.mark.xfail(strict=True, run=run, raises=fails[0], reason=f"{fails[1]}: {fails[2]}"))
    return pytest.param(ZooModel(name, how(*args, **kwargs), by(args[0] if args and isinstance(args[0], str) else name, how),
                                 fails[1] if fails else ""), id=name, marks=marks)

# One model per structure that trips up channel pruning: residual sums, inverted residuals with squeeze-excitation,
# grouped convolutions (ResNeXt, RegNet), channel chunks and shuffles, a convolution classifier, an unpadded stem,
# auxiliary heads, patch stems with LayerNorm and attention (ConvNeXt, Swin, ViT), concatenations, plain chains (AlexNet),
# a versioned state dict (MNASNet).
QUICK = ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "googlenet", "inception_v3",
         "convnext_tiny", "regnet_x_400mf", "resnext50_32x4d", "shufflenet_v2_x0_5", "squeezenet1_1", "alexnet",
         "densenet121", "swin_t", "mnasnet0_5"]
TIMM = ["resnet18", "resnet50d", "resnext26ts", "efficientnet_b0", "mobilenetv3_large_100", "mixnet_s",
        "convnext_nano", "regnetx_002", "regnety_002", "densenet121", "cspresnet50", "dla34", "ghostnet_100",
        "rexnet_100", "res2net50_14w_8s", "hrnet_w18_small", "repvgg_a0", "vit_tiny_patch16_224"]

MODELS = [
    zoo_model("resnet20", ice_model, "resnet20", width=8),
    zoo_model("resnet56", ice_model, "resnet56", width=8),
    *[zoo_model(name, ice_model, name) for name in QUICK],
    zoo_model("vit_b_16", ice_model, "vit_b_16"),
    zoo_model("concat", custom, ConcatBlock),
    zoo_model("depthwise_separable", custom, DepthwiseSeparableBlock),
    zoo_model("grouped_conv", custom, GroupedBlock),
    zoo_model("shared_layer", custom, SharedBlock),
    zoo_model("nested_sequential", sequential, nested_sequential),
    zoo_model("encoder_decoder", ice_model, "zoo_nets:PlainEncoderDecoder"),
    zoo_model("chunk", ice_model, "zoo_nets:ChunkNet"),
    zoo_model("data_dependent_branch", custom, DataDependentBlock),
]
if NAMED:
    MODELS = [zoo_model(name, ice_model, name) for name in NAMED]
if ALL:
    TOO_BIG = "stopped by the out-of-memory killer at this machine's 24 GB (the model, its copies, optimizer state)"
    TOO_SLOW = {"maxvit_t": (Exception, "Torch-Pruning's grouping runs for minutes and past 10 GB on MaxViT's window "
                                         "partitions (at 224 px, which its windows need)", "not run"),
                "regnet_y_128gf": (Exception, f"644 M parameters, {TOO_BIG}", "not run"),
                "vit_h_14": (Exception, f"632 M parameters, as many as regnet_y_128gf, which was {TOO_BIG}", "not run")}
    MODELS += [zoo_model(name, ice_model, name, fails=TOO_SLOW.get(name, ()), run=name not in TOO_SLOW)
               for name in torchvision_names() if name not in QUICK + ["vit_b_16"]]
    TOO_SLOW["res2net50_14w_8s"] = (Exception, "Torch-Pruning's grouping of its 8-way channel split ran for more than "
                                                "5 min without ending", "not run")
    TOO_SLOW["rexnet_100"] = (Exception, "Torch-Pruning's grouping of its partial-channel residual sums ran for more than "
                                          "10 min without ending", "not run")
    MODELS += [zoo_model(f"timm:{name}", ice_model, f"timm:{name}", fails=TOO_SLOW.get(name, ()), run=name not in TOO_SLOW,
                         **({"img_size": 32} if "vit" in name else {}))
               for name in TIMM if timm_names(name)]


def fresh(zoo: ZooModel, data) -> nn.Module:
    torch.manual_seed(0)
    return zoo.build(data)


@pytest.fixture(scope="module")
def data():
    return load_data("synthetic", val_size=4, synthetic_size=(12, 4), synthetic_shape=(3, 32))

@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

TABLE_HEAD = "| model | built by | result | units | params kept | MACs kept |\n|---|---|---|---|---|---|\n"

def counts(rows: dict) -> str:
    "How many models pruned, were refused with a clear error, or failed."
    results = [r.split(" | ")[2] for r in rows.values()]
    ok, clear = sum(r == "OK" for r in results), sum(r.startswith("clear error") for r in results)
    return f"**{ok} pruned, {clear} refused with a clear error, {len(results) - ok - clear} failed** (of {len(results)})"

class Rows(dict):
    "{model name: table row}, kept in a JSON file for the full zoo, so that a run with -k adds to the last one."
    def __init__(self, path: Path | None):
        super().__init__(json.loads(path.read_text()) if path is not None and path.exists() else {})
        self.path = path

    def __setitem__(self, name, value):
        super().__setitem__(name, value)
        if self.path is not None:
            self.path.parent.mkdir(exist_ok=True)
            self.path.write_text(json.dumps(self, indent=1))

@pytest.fixture(scope="session")
def compat():
    "{model name: table row}; written to COMPAT when every model of the zoo has a row."
    rows = Rows(ARTIFACTS / "compat.json" if ALL else None)
    yield rows
    names = [p.values[0].name for p in MODELS]
    for zoo in (p.values[0] for p in MODELS):
        if zoo.fails and zoo.name not in rows: rows[zoo.name] = row(zoo, f"**failed** (known): {zoo.fails}")
    if set(names) <= set(rows):
        versions = (f"torch {torch.__version__.split('+')[0]}, torchvision {torchvision.__version__.split('+')[0]}, "
                    f"Torch-Pruning {tp.__version__}" + (f", timm {timm_version()}" if timm_version() else ""))
        torchvision_rows = {n: rows[n] for n in names if n in torchvision_names()}
        intro = (f"Two ICE steps at ratio 0.3 on 32x32 synthetic images (CIFAR ResNets at width 8), then the checks: "
                 f"pruning is exact, the pruned model runs, is smaller, and reloads with `load_pruned` "
                 f"({versions}; `{'ICE_NB_ZOO=all ' if ALL else ''}python -m pytest tests/test_zoo.py`).\n\n"
                 f"torchvision classifiers: {counts(torchvision_rows)}; all models: {counts(rows)}.\n\n")
        COMPAT.parent.mkdir(exist_ok=True)
        COMPAT.write_text(intro + TABLE_HEAD + "".join(rows[n] for n in names))

def timm_version() -> str | None:
    try:
        import timm
    except ImportError:
        return None
    return timm.__version__

def row(zoo: ZooModel, result: str, units="", params_kept="", macs_kept="") -> str:
    return f"| {zoo.name} | {zoo.by} | {result} | {units} | {params_kept} | {macs_kept} |\n"


def config():
    "ICE with freezing and the pruning-aware LR; the trigger off, so that every step is fine-tuned (and checked)."
    return ICEConfig.paper(use_trigger=False, finetune_images=4, decision_images=4, probe_images=4,
                     batch_size=4, kd=False, criterion_batches=1, seed=0)


def _zero_channels(dim: int, channels: torch.Tensor, module: nn.Module, args: tuple):
    return (args[0].index_fill(dim, channels, 0.0), *args[1:])

def assert_pruning_is_exact(dense: nn.Module, example: torch.Tensor, steps: int = STEPS):
    "Without fine-tuning, the pruned model computes what the dense model computes with the removed channels zeroed."
    pruned, cut = copy.deepcopy(dense).eval(), copy.deepcopy(dense).eval()
    found = find_units(pruned, example)
    units = found[:steps]
    reading = {g.producer: channel_readers(found.graph, g.producer) for unit in units for g in unit.groups}
    for unit in units:
        for producer, removed in prune_unit(pruned, unit, 0.3, "l1").removed.items():
            for layer, dim, channels in reading[producer]:
                zero = torch.tensor([c for r in removed for c in channels[r]])
                cut.get_submodule(layer).register_forward_pre_hook(partial(_zero_channels, dim, zero))
        with torch.no_grad():
            expected, got = cut(X), pruned(X)
        error = float((got - expected).abs().max() / expected.abs().max())
        assert error < 1e-4, f"after pruning {unit.name}, the kept channels compute something else (relative error {error:.2g})"


@pytest.mark.parametrize("zoo", MODELS)
def test_zoo(zoo, data, compat, tmp_path):
    compat[zoo.name] = row(zoo, f"**failed** (known): {zoo.fails}" if zoo.fails else "**failed** (see the test log)")
    try:
        check_model(zoo, data, compat, tmp_path)
    except Exception as e:
        if not zoo.fails: compat[zoo.name] = row(zoo, f"**failed**: {type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}")
        raise

def check_model(zoo, data, compat, tmp_path):
    model = fresh(zoo, data)
    try:  # first, so that the copies it makes are freed before the session makes its own (big models)
        assert_pruning_is_exact(model, torch.zeros(1, data.in_channels, data.image_size, data.image_size))
    except UnsupportedModelError as e:
        message = str(e).splitlines()[0]
        fixes = ("ignored", "granularity", "make the model run", "forward pass must run")
        assert any(fix in message for fix in fixes), f"the error gives no workaround: {message}"
        compat[zoo.name] = row(zoo, f"clear error: {message}")
        return
    gc.collect()
    session = PruningSession(model, data, ratio=0.3, config=config(), device="cpu")
    session.setup()

    records = [session.step() for _ in range(min(STEPS, len(session.units)))]
    for r in records:
        assert r.fine_tuned and r.acc_finetuned is not None and r.finetune_batches == 1, r
        assert r.channels_after < r.channels_before, r
        assert r.params_after < r.params_before and r.macs_after < r.macs_before, r
    model = session.model.eval()
    with torch.no_grad():
        out = model(X)
    assert out.shape == (len(X), data.num_classes) and torch.isfinite(out).all()
    assert count_macs_and_params(model, session.example_input) == (records[-1].macs_after, records[-1].params_after)

    save_pruned(model, tmp_path / "pruned.pt")
    loaded = load_pruned(fresh(zoo, data), tmp_path / "pruned.pt").eval()
    assert sum(p.numel() for p in loaded.parameters()) == records[-1].params_after
    with torch.no_grad():
        torch.testing.assert_close(loaded(X), out, rtol=1e-4, atol=1e-4)  # channels_last vs NCHW: not bitwise
    summary = session.summary()
    compat[zoo.name] = row(zoo, "OK", len(session.units), f"{summary['params_kept']:.1%}", f"{summary['macs_kept']:.1%}")

