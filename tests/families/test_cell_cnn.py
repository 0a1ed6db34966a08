"""The cell-cnn family: its image tasks, their data and meta-features, the network, training."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from family_helpers import family_module, run_python, task_data

from metasearch.errors import SpaceError
from metasearch.families import TaskFamily, get_family

# The first ids, pinned: the warehouse remembers trials by task id, so they must never change.
PINNED_IDS = [
    "digits", "digits-c01234", "digits-c56789", "digits-c02468", "digits-c13579", "digits-c012",
    "digits-c358", "digits-c147", "digits-rot90", "digits-c01234-rot180", "digits-jit15",
    "digits-jit45", "digits-noise0.15", "digits-noise0.4", "digits-side16", "digits-side6",
    "digits-side4", "digits-n150", "digits-c56789-n60", "digits-jit30-noise0.25",
    "digits-side4-noise0.2", "digits-jit30-side16", "digits-c358-side4-noise0.3",
    "digits-c02468-rot270-noise0.2", "digits-c13579-jit45-n100", "digits-noise0.6-n300",
]  # fmt: skip
FEW = ("digits", "digits-c358", "digits-side16", "digits-side4-noise0.2", "digits-n150")

CONV3 = "+".join("|" + "|".join(f"nor_conv_3x3~{i}" for i in range(j)) + "|" for j in (1, 2, 3))
MIXED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|skip_connect~0|none~1|nor_conv_3x3~2|"
NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
GOOD = {
    "cell": MIXED,
    "channels": 16,
    "lr": 1e-2,
    "weight_decay": 1e-4,
    "batch_size": 64,
    "optimizer": "adam",
}

# A relabelling of the intermediate nodes (1 and 2 swapped): the same network. NAS-Bench-201's
# canonical key tells these two apart (it keeps the zero term of edge 1->2 in node 2's sum).
ISOMORPHIC = (
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|nor_conv_3x3~1|avg_pool_3x3~2|",
    "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|",
)
# Cells that differ only in edges that cannot change the output (the canonical key agrees).
DEAD_EDGES = [
    # node 1 leads nowhere: its convolutions cannot change the output
    (
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
        "|none~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
    ),
    # node 1 is never reached: the edges out of it are dead
    (
        "|none~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        "|none~0|+|nor_conv_1x1~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
    ),
]
DIFFERENT = [
    (CONV3, CONV3.replace("nor_conv_3x3~2", "nor_conv_1x1~2")),
    (MIXED, MIXED.replace("skip_connect~1", "nor_conv_1x1~1")),
]


@pytest.fixture(scope="module")
def family() -> TaskFamily:
    return get_family("cell-cnn")








def _n_params(family: TaskFamily, cell: str, channels: int = 8) -> int:
    cell_space = family.space.cells[0]
    model = family_module(family).build_network(cell_space.parse(cell), channels, 1, 10)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# -- tasks and data ------------------------------------------------------------------------


def test_family_is_registered_with_many_stable_ids(family: TaskFamily) -> None:
    ids = family.task_ids()
    assert family.name == "cell-cnn" and family.uses_torch and 10 <= family.max_budget <= 12
    assert len(ids) >= 20 and len(set(ids)) == len(ids)
    assert ids[: len(PINNED_IDS)] == PINNED_IDS
    assert type(family)().task_ids() == ids
    names = {p.name for p in family.space.params} | {c.name for c in family.space.cells}
    assert {"cell", "channels", "lr", "weight_decay", "batch_size", "optimizer"} <= names


def test_listing_and_meta_features_do_not_import_torch(family: TaskFamily) -> None:
    code = (
        "import json, sys\n"
        "from metasearch.families import get_family\n"
        "family = get_family('cell-cnn')\n"
        f"features = {{t: family.task(t).meta_features for t in {list(FEW)!r}}}\n"
        "print(json.dumps({'torch': 'torch' in sys.modules, 'ids': family.task_ids(),\n"
        "                  'features': features}))\n"
    )
    out = run_python(code)
    assert out["torch"] is False
    # The other process saw the same tasks, with the same data behind them.
    assert out["ids"] == family.task_ids()
    for task_id in FEW:
        assert out["features"][task_id] == pytest.approx(family.task(task_id).meta_features)


def test_meta_features_are_finite_and_tell_tasks_apart(family: TaskFamily) -> None:
    features = [family.task(t).meta_features for t in FEW]
    assert all(f.keys() == features[0].keys() for f in features)
    assert all(math.isfinite(v) for f in features for v in f.values())
    for key in ("n_rows", "n_features", "n_classes", "landmark_1nn", "resolution"):
        assert len({f[key] for f in features}) > 1, key
    by_id = dict(zip(FEW, features, strict=True))
    assert by_id["digits-side16"]["resolution"] == 16 and by_id["digits"]["n_features"] == 64
    assert by_id["digits-side4-noise0.2"]["landmark_1nn"] < by_id["digits"]["landmark_1nn"]


@pytest.mark.parametrize("task_id", ["digits", "digits-c358-side4-noise0.3", "digits-n150"])
def test_splits_are_disjoint_stratified_normalised_and_deterministic(
    family: TaskFamily, task_id: str
) -> None:
    data = task_data(family, task_id)
    train, valid, test = data.rows
    everything = np.concatenate([train, valid, test])
    assert len(np.unique(everything)) == len(everything)  # no image in two splits
    assert abs(len(valid) - len(test)) <= 1
    n_train = family.task(task_id).spec.n_train  # type: ignore[attr-defined]
    assert len(train) == n_train if n_train else abs(len(train) / len(everything) - 0.6) < 0.01
    side = data.side
    for x, y in ((data.x_train, data.y_train), (data.x_valid, data.y_valid)):
        assert x.shape == (len(y), 1, side, side) and x.dtype == np.float32
        assert set(y) == set(range(data.n_classes))
    assert abs(float(data.x_train.mean())) < 1e-4 and abs(float(data.x_train.std()) - 1) < 1e-3
    again = task_data(type(family)(), task_id)  # a fresh family: data rebuilt from the id alone
    for name in ("x_train", "y_train", "x_valid", "y_valid", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, name), getattr(data, name))


def test_variants_change_what_their_id_says(family: TaskFamily) -> None:
    base = task_data(family, "digits")
    assert base.x_train.shape[1:] == (1, 8, 8) and base.n_classes == 10
    assert task_data(family, "digits-side16").side == 16
    assert task_data(family, "digits-side4").side == 4
    assert task_data(family, "digits-c358").n_classes == 3
    assert len(task_data(family, "digits-n150").y_train) == 150
    assert len(task_data(family, "digits-n150").y_valid) == len(base.y_valid)
    # quarter turns keep every pixel; random rotations and noise change the pixels
    spec = family_module(family)._SPECS
    plain, _ = spec["digits"].load()
    turned, _ = spec["digits-rot90"].load()
    np.testing.assert_array_equal(np.rot90(plain, axes=(1, 2)), turned)
    for variant in ("digits-jit15", "digits-noise0.15"):
        assert not np.allclose(spec[variant].load()[0], plain)


# -- the network -----------------------------------------------------------------------------


def _outputs(family: TaskFamily, cell: str, channels: int = 8) -> Any:
    """The network's output on a fixed batch, every weight a function of its shape only.

    Two convolutions of one kind then compute the same function wherever they sit, so two
    cells give equal outputs exactly when their networks compose the same ops the same way;
    equal parameter counts do not tell that (a chain of two convolutions and two side by side
    have as many).
    """
    import zlib

    import torch

    model = family_module(family).build_network(family.space.cells[0].parse(cell), channels,
                                                1, 10).eval()
    with torch.no_grad():
        for weight in model.parameters():
            seed = zlib.crc32(repr(tuple(weight.shape)).encode())
            weight.copy_(0.3 * torch.randn(weight.shape,
                                           generator=torch.Generator().manual_seed(seed)))
        x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        return model(x)


@pytest.mark.parametrize(("first", "second"), [ISOMORPHIC, *DEAD_EDGES])
def test_equivalent_cells_build_the_same_network(
    family: TaskFamily, first: str, second: str
) -> None:
    import torch

    if (first, second) in DEAD_EDGES:
        cell_space = family.space.cells[0]
        assert cell_space.canonical(first) == cell_space.canonical(second)
    assert _n_params(family, first) == _n_params(family, second)
    assert _n_params(family, first, channels=24) == _n_params(family, second, channels=24)
    torch.testing.assert_close(_outputs(family, first), _outputs(family, second))


# Two convolutions in a chain, and two side by side (with a skip): as many weights, another
# network.
CHAIN = "|nor_conv_3x3~0|+|none~0|none~1|+|none~0|nor_conv_3x3~1|none~2|"
SIDE_BY_SIDE = "|none~0|+|nor_conv_3x3~0|none~1|+|nor_conv_3x3~0|none~1|skip_connect~2|"


@pytest.mark.parametrize(("first", "second"), [*DIFFERENT, (CHAIN, SIDE_BY_SIDE)])
def test_different_cells_build_different_networks(
    family: TaskFamily, first: str, second: str
) -> None:
    if (first, second) == (CHAIN, SIDE_BY_SIDE):
        assert _n_params(family, first) == _n_params(family, second)
    else:
        assert _n_params(family, first) != _n_params(family, second)
    assert not np.allclose(_outputs(family, first).numpy(), _outputs(family, second).numpy(),
                           atol=1e-4)


def test_dead_edges_are_not_built(family: TaskFamily) -> None:
    # A cell of only a skip from input to output has no parameters of its own.
    skip_only = "|nor_conv_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|none~2|"
    assert _n_params(family, skip_only) == _n_params(family, NONE)
    assert _n_params(family, CONV3) > _n_params(family, MIXED) > _n_params(family, NONE)


@pytest.mark.parametrize("side", [4, 6, 8, 16])
def test_the_network_takes_every_resolution(family: TaskFamily, side: int) -> None:
    import torch

    cell = family.space.cells[0].parse(CONV3)
    model = family_module(family).build_network(cell, 8, 1, 3)
    assert model(torch.zeros(2, 1, side, side)).shape == (2, 3)


# -- training ------------------------------------------------------------------------------


def test_a_decent_cell_learns_and_reports_every_epoch(family: TaskFamily) -> None:
    reports: list[tuple[int, float]] = []
    result = family.task("digits-c01234").evaluate(
        GOOD, 3, device="cpu", seed=0, report=lambda s, v: reports.append((s, v))
    )
    assert result.status == "complete" and result.failure_reason is None
    assert len(result.curve) == result.budget == 3
    assert all(0.0 <= v <= 1.0 for v in result.curve)
    assert reports == list(enumerate(result.curve, start=1))
    assert result.test_value is not None and 0.0 <= result.test_value <= 1.0
    assert result.curve[-1] > 0.2 + 0.4  # five classes: chance is 0.2
    assert result.device == "cpu" and result.cost_s > 0


def test_the_all_none_cell_trains_at_chance(family: TaskFamily) -> None:
    result = family.task("digits-c358").evaluate({**GOOD, "cell": NONE}, 2, device="cpu")
    assert result.status == "complete" and len(result.curve) == 2
    # The head sees the same constant for every image, so it predicts one class.
    y_valid = task_data(family, "digits-c358").y_valid
    assert result.curve[-1] <= np.bincount(y_valid).max() / len(y_valid) + 1e-9


def test_same_seed_same_curve_across_processes(family: TaskFamily) -> None:
    task = family.task("digits-c012")
    first = task.evaluate(GOOD, 2, device="cpu", seed=7)
    second = task.evaluate(GOOD, 2, device="cpu", seed=7)
    assert first.curve == second.curve and first.test_value == second.test_value
    code = (
        "import json\n"
        "from metasearch.families import get_family\n"
        "task = get_family('cell-cnn').task('digits-c012')\n"
        f"result = task.evaluate({GOOD!r}, 2, device='cpu', seed=7)\n"
        "print(json.dumps([*result.curve, result.test_value]))\n"
    )
    assert tuple(run_python(code)) == (*first.curve, first.test_value)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"cell": MIXED.replace("nor_conv_1x1", "sep_conv_5x5")}, "sep_conv_5x5"),
        ({"lr": 3.0}, "lr"),
        ({"channels": 12}, "channels"),
        ({"optimizer": "lbfgs"}, "optimizer"),
        ({"dropout": 0.1}, "dropout"),
    ],
)
def test_a_config_outside_the_space_is_refused(
    family: TaskFamily, change: dict[str, Any], named: str
) -> None:
    with pytest.raises(SpaceError, match=named):
        family.task("digits").evaluate({**GOOD, **change}, 1, device="cpu")


def test_missing_keys_and_budgets_beyond_the_family_are_refused(family: TaskFamily) -> None:
    for key in ("cell", "weight_decay"):
        with pytest.raises(SpaceError, match=key):
            family.task("digits").evaluate(
                {k: v for k, v in GOOD.items() if k != key}, 1, device="cpu"
            )
    with pytest.raises(SpaceError, match=str(family.max_budget + 1)):
        family.task("digits").evaluate(GOOD, family.max_budget + 1, device="cpu")
