"""Tests of the NAS-Bench-201-style cell space: parsing, Optuna form, canonical keys, encoding."""

from __future__ import annotations

import csv
import itertools
import os
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from metasearch.errors import SpaceError
from metasearch.spaces import _cell
from metasearch.spaces._cell import NB201_OPS, Cell, CellSpace, canonical

SPACE = CellSpace.nb201()

# Edge order: (0,1), (0,2), (1,2), (0,3), (1,3), (2,3).
ALL_NONE = Cell(4, ("none",) * 6)


def nb201_cell(**edges: str) -> Cell:
    """A 4-node cell with the given edges (``e01="skip_connect"``, ...), every other one none."""
    ops = [edges.pop(f"e{i}{j}", "none") for i, j in SPACE.edges]
    if edges:
        raise TypeError(f"unknown edges {sorted(edges)}")
    return Cell(4, tuple(ops))


def benchmark_archs() -> list[str]:
    """The 15,625 NB201 strings: the NATS-Bench table's ``arch`` column where
    ``$METASEARCH_BENCHMARKS`` names the shared data, else every cell spelled out here (the
    column is exactly that: each of the 5**6 cells once)."""
    root = os.environ.get("METASEARCH_BENCHMARKS")
    if not root:
        return ["+".join("|" + "|".join(f"{op}~{i}" for i, op in enumerate(node)) + "|"
                         for node in (ops[:1], ops[1:3], ops[3:]))
                for ops in itertools.product(NB201_OPS, repeat=6)]
    path = Path(root) / "nats_tss" / "nats_tss_cifar.csv"
    with path.open(newline="") as handle:
        return [row["arch"] for row in csv.DictReader(handle)]


# --- structure and the NB201 string ---------------------------------------------------------


def test_edges_follow_the_nb201_string_order() -> None:
    assert SPACE.edges == ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
    assert SPACE.param_names == tuple(f"cell_edge_{i}_{j}" for i, j in SPACE.edges)
    assert CellSpace(name="normal").edge_param(1, 3) == "normal_edge_1_3"
    assert SPACE.size == 5**6 == 15_625
    assert SPACE.encoding_length == 30


def test_to_nb201_puts_each_op_on_its_edge() -> None:
    cell = nb201_cell(e01="nor_conv_3x3", e12="skip_connect", e03="avg_pool_3x3")
    expected = "|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|none~1|none~2|"
    assert cell.to_nb201() == expected == str(cell)
    assert cell.op(1, 2) == "skip_connect"
    assert cell.op(0, 3) == "avg_pool_3x3"
    assert SPACE.parse(expected) == cell


def test_live_edges_keep_only_edges_from_the_input_to_the_output() -> None:
    space = CellSpace.nb201()
    # Node 1 is fed only by ``none``: its edges out are dead though their ops are not none.
    unreached = space.parse("|none~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"
                            "+|none~0|skip_connect~1|skip_connect~2|")
    assert unreached.live_edges() == [(0, 2, "nor_conv_3x3"), (2, 3, "skip_connect")]
    # Nodes 1 and 2 never reach the output: only the skip from the input is live.
    unused = space.parse("|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|"
                         "+|skip_connect~0|none~1|none~2|")
    assert unused.live_edges() == [(0, 3, "skip_connect")]
    full = space.parse("|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|"
                       "+|avg_pool_3x3~0|skip_connect~1|nor_conv_3x3~2|")
    assert full.live_edges() == [(i, j, full.op(i, j)) for j in range(1, 4) for i in range(j)]


def test_parse_and_to_nb201_round_trip_random_cells() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        cell = SPACE.sample(rng)
        text = SPACE.to_string(cell)
        assert SPACE.parse(text) == cell
        assert SPACE.parse(cell) is cell
        assert SPACE.parse(f"  {text}\n") == cell


def test_flatten_unflatten_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        cell = SPACE.sample(rng)
        flat = SPACE.flatten(cell.to_nb201())
        assert list(flat) == list(SPACE.param_names)
        assert SPACE.unflatten(flat) == cell
        assert SPACE.unflatten({**flat, "lr": 0.1}) == cell  # other hyperparameters pass by


def test_unflatten_names_a_missing_edge() -> None:
    flat = SPACE.flatten(ALL_NONE)
    del flat["cell_edge_1_3"]
    with pytest.raises(SpaceError, match="cell_edge_1_3"):
        SPACE.unflatten(flat)


def test_unflatten_names_a_bad_op() -> None:
    flat = {**SPACE.flatten(ALL_NONE), "cell_edge_0_2": "sep_conv_5x5"}
    with pytest.raises(SpaceError, match="sep_conv_5x5") as info:
        SPACE.unflatten(flat)
    assert "cell_edge_0_2" in str(info.value)
    assert "nor_conv_3x3" in str(info.value)


@pytest.mark.parametrize(
    ("arch", "reason"),
    [
        ("|conv_7x7~0|+|none~0|none~1|+|none~0|none~1|none~2|", "conv_7x7"),
        ("|none~0|+|none~0|none~1|", "node groups"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "node groups"),
        ("|none~0|+|none~0|none~2|+|none~0|none~1|none~2|", "~1"),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", "inputs"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2", "enclosed"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "~0"),
        ("garbage", "node groups"),
        ("", "node groups"),
    ],
)
def test_parse_rejects_malformed_strings_naming_them(arch: str, reason: str) -> None:
    with pytest.raises(SpaceError) as info:
        SPACE.parse(arch)
    message = str(info.value)
    assert repr(arch) in message
    assert reason in message
    assert "avg_pool_3x3" in message  # the valid ops are listed


def test_parse_rejects_other_types_and_foreign_cells() -> None:
    with pytest.raises(SpaceError, match="int"):
        SPACE.parse(42)  # type: ignore[arg-type]
    with pytest.raises(SpaceError, match="3 nodes"):
        SPACE.parse(Cell(3, ("none",) * 3))
    with pytest.raises(SpaceError, match="sep_conv"):
        SPACE.parse(Cell(4, ("sep_conv",) * 6))


def test_cell_validates_its_shape() -> None:
    with pytest.raises(SpaceError, match="6 edges"):
        Cell(4, ("none",) * 5)
    with pytest.raises(SpaceError, match="n_nodes=1"):
        Cell(1, ())
    with pytest.raises(SpaceError, match=r"\(3, 1\)"):
        ALL_NONE.op(3, 1)
    assert Cell(3, ["none", "none", "none"]).ops == ("none",) * 3  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"n_nodes": 1}, "n_nodes >= 2"),
        ({"n_nodes": 2.0}, "2.0"),
        ({"ops": ()}, "at least one op"),
        ({"ops": ("conv", "conv")}, "'conv'"),
        ({"ops": ("conv~1",)}, "conv~1"),
        ({"ops": ("a|b",)}, "a|b"),
        ({"ops": ("a+b",)}, "a+b"),
        ({"ops": ("conv(3)",)}, "conv(3)"),
        ({"ops": ("",)}, "non-empty"),
        ({"ops": "none"}, "'none'"),
        ({"name": ""}, "name"),
    ],
)
def test_cell_space_validates_its_definition(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(SpaceError) as info:
        CellSpace(**kwargs)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_edge_param_rejects_a_missing_edge() -> None:
    with pytest.raises(SpaceError, match=r"\(2, 2\)"):
        SPACE.edge_param(2, 2)


# --- Optuna, sampling, enumeration ----------------------------------------------------------


def test_distributions_are_one_categorical_per_edge() -> None:
    from optuna.distributions import CategoricalDistribution

    dists = SPACE.distributions()
    assert list(dists) == list(SPACE.param_names)
    for dist in dists.values():
        assert isinstance(dist, CategoricalDistribution)
        assert tuple(dist.choices) == NB201_OPS


def test_sample_is_seeded_and_uniform_per_edge() -> None:
    first = [SPACE.sample(np.random.default_rng(7)) for _ in range(3)]
    again = [SPACE.sample(np.random.default_rng(7)) for _ in range(3)]
    assert first == again
    rng = np.random.default_rng(3)
    cells = [SPACE.sample(rng) for _ in range(5000)]
    for edge in range(len(SPACE.edges)):
        counts = np.array([sum(c.ops[edge] == op for c in cells) for op in NB201_OPS])
        assert np.all(np.abs(counts - 1000) < 150), counts  # ~5 sigma for Binomial(5000, 0.2)


def test_all_cells_enumerates_the_space_once_smallest_first() -> None:
    cells = list(SPACE.all_cells())
    assert len(cells) == len(set(cells)) == SPACE.size
    assert cells[0] == ALL_NONE


# --- canonical keys -------------------------------------------------------------------------


def test_canonical_matches_the_nb201_convention_by_hand() -> None:
    cell = nb201_cell(
        e01="nor_conv_3x3", e12="skip_connect", e03="skip_connect", e23="nor_conv_1x1"
    )
    # node1 = (0)@conv3; node2 = '#' + node1 as text; node3 = x + '#' + conv1(node2)
    assert canonical(cell) == "#+(#+(0)@nor_conv_3x3)@nor_conv_1x1+0"
    assert SPACE.network_key(cell) == "nor_conv_1x1(nor_conv_3x3(x))+x"


def test_order_of_a_nodes_inputs_does_not_matter() -> None:
    a = nb201_cell(e01="skip_connect", e03="nor_conv_1x1", e13="nor_conv_3x3")
    b = nb201_cell(e01="skip_connect", e03="nor_conv_3x3", e13="nor_conv_1x1")
    assert canonical(a) == canonical(b)


def test_edges_out_of_a_zero_node_do_not_matter() -> None:
    keys = {
        canonical(nb201_cell(e12=op12, e13=op13, e03="nor_conv_3x3", e23="skip_connect"))
        for op12 in NB201_OPS
        for op13 in NB201_OPS
    }
    assert len(keys) == 1  # node 1 is none(x) = 0, whatever leaves it adds zero


def test_edges_into_a_dead_end_node_do_not_matter() -> None:
    keys = {
        canonical(nb201_cell(e01="nor_conv_1x1", e02=op02, e12=op12, e13="skip_connect"))
        for op02 in NB201_OPS
        for op12 in NB201_OPS
    }
    assert len(keys) == 1  # node 2 feeds the output only through none


def test_multiplicity_counts_x_plus_x_is_not_x() -> None:
    twice = nb201_cell(e01="skip_connect", e03="skip_connect", e13="skip_connect")
    once = nb201_cell(e03="skip_connect")
    assert canonical(twice) != canonical(once)
    assert SPACE.network_key(twice) == "x+x"
    assert SPACE.network_key(once) == "x"


def test_cells_with_unreachable_output_equal_all_none() -> None:
    unreachable = [
        nb201_cell(e01="none", e13="nor_conv_3x3", e02="nor_conv_1x1"),
        nb201_cell(e01="nor_conv_3x3", e12="avg_pool_3x3"),
        nb201_cell(e01="none", e12="skip_connect", e23="none", e13="avg_pool_3x3"),
    ]
    for cell in unreachable:
        assert canonical(cell) == canonical(ALL_NONE)
        assert SPACE.network_key(cell) == "0"


def test_nb201_convention_keeps_an_all_none_node_apart_but_network_key_does_not() -> None:
    """Pins the authors' quirk the published 6,466 depends on (see _cell._nb201_key)."""
    zero_fed = nb201_cell(e23="nor_conv_3x3")  # node 2 = none + none, then conv into the output
    assert canonical(zero_fed) != canonical(ALL_NONE)
    assert SPACE.network_key(zero_fed) == SPACE.network_key(ALL_NONE) == "0"
    zero_outputs = [c for c in SPACE.all_cells() if SPACE.network_key(c) == "0"]
    assert len(zero_outputs) == 341
    assert len({canonical(c) for c in zero_outputs}) == 5


def test_swapping_symmetric_nodes_keeps_the_network() -> None:
    a = nb201_cell(e01="nor_conv_3x3", e02="nor_conv_1x1", e13="skip_connect", e23="skip_connect")
    b = nb201_cell(e01="nor_conv_1x1", e02="nor_conv_3x3", e13="skip_connect", e23="skip_connect")
    assert SPACE.network_key(a) == SPACE.network_key(b)
    assert SPACE.representative(a) == SPACE.representative(b)
    np.testing.assert_array_equal(SPACE.encode(a), SPACE.encode(b))
    # The NB201 convention counts node 2's zero input from node 1, so it tells them apart.
    assert canonical(a) != canonical(b)


def test_network_key_ignores_how_skips_group_a_sum() -> None:
    # (conv1 x + conv3 x) + pool x  versus  (conv1 x + pool x) + conv3 x
    a = nb201_cell(
        e01="skip_connect",
        e02="nor_conv_1x1",
        e12="nor_conv_3x3",
        e23="skip_connect",
        e03="avg_pool_3x3",
    )
    b = nb201_cell(
        e01="skip_connect",
        e02="nor_conv_1x1",
        e12="avg_pool_3x3",
        e23="skip_connect",
        e03="nor_conv_3x3",
    )
    assert SPACE.network_key(a) == SPACE.network_key(b)
    assert SPACE.network_key(a) == "avg_pool_3x3(x)+nor_conv_1x1(x)+nor_conv_3x3(x)"


def test_an_op_of_a_sum_is_not_a_sum_of_ops() -> None:
    inside = nb201_cell(
        e01="skip_connect", e02="skip_connect", e12="skip_connect", e23="nor_conv_3x3"
    )  # conv(x + x)
    outside = nb201_cell(e01="skip_connect", e03="nor_conv_3x3", e13="nor_conv_3x3")
    assert SPACE.network_key(inside) == "nor_conv_3x3(x+x)"
    assert SPACE.network_key(outside) == "nor_conv_3x3(x)+nor_conv_3x3(x)"
    assert canonical(inside) != canonical(outside)


def test_enumeration_gives_the_published_6466_networks() -> None:
    keys = {SPACE.canonical(cell) for cell in SPACE.all_cells()}
    assert len(keys) == 6466
    assert len({SPACE.network_key(cell) for cell in SPACE.all_cells()}) == 4930


def test_benchmark_table_has_the_published_6466_networks() -> None:
    archs = benchmark_archs()
    assert len(archs) == len(set(archs)) == 15_625
    assert len({canonical(arch) for arch in archs}) == 6466


def test_canonical_keys_refine_network_keys() -> None:
    network_of: dict[str, set[str]] = defaultdict(set)
    for cell in SPACE.all_cells():
        network_of[SPACE.canonical(cell)].add(SPACE.network_key(cell))
    assert all(len(networks) == 1 for networks in network_of.values())


def test_module_canonical_infers_the_node_count() -> None:
    cell = Cell(3, ("skip_connect", "nor_conv_3x3", "none"))
    assert canonical(cell) == canonical(cell.to_nb201()) == "#+(0)@nor_conv_3x3"
    assert canonical(cell) == CellSpace(n_nodes=3).canonical(cell)
    custom = CellSpace(n_nodes=3, ops=("none", "conv"))
    with pytest.raises(SpaceError, match="conv"):
        canonical(Cell(3, ("conv", "conv", "none")))
    assert canonical(Cell(3, ("conv", "conv", "none")), custom) == "#+(0)@conv"


# --- representatives and encoding -----------------------------------------------------------


def test_representative_is_shared_within_a_class_and_idempotent() -> None:
    rep_of_key: dict[str, set[Cell]] = defaultdict(set)
    for cell in SPACE.all_cells():
        rep = SPACE.representative(cell)
        rep_of_key[SPACE.canonical(cell)].add(rep)
        assert SPACE.network_key(rep) == SPACE.network_key(cell)
    assert all(len(reps) == 1 for reps in rep_of_key.values())
    reps = {rep for reps in rep_of_key.values() for rep in reps}
    assert len(reps) == 4930
    assert all(SPACE.representative(rep) == rep for rep in reps)


def test_representative_is_the_smallest_cell_of_its_class() -> None:
    assert SPACE.representative(nb201_cell(e23="nor_conv_3x3")) == ALL_NONE
    fed_twice = nb201_cell(e01="skip_connect", e13="skip_connect", e03="skip_connect")
    rep = SPACE.representative(fed_twice)
    index = {op: k for k, op in enumerate(NB201_OPS)}
    assert tuple(index[op] for op in rep.ops) <= tuple(index[op] for op in fed_twice.ops)
    assert SPACE.network_key(rep) == "x+x"


def test_encode_is_one_hot_per_edge_of_the_representative() -> None:
    cell = nb201_cell(e01="nor_conv_3x3", e13="avg_pool_3x3")
    vector = SPACE.encode(cell.to_nb201())
    assert vector.dtype == np.float64
    assert vector.shape == (SPACE.encoding_length,)
    blocks = vector.reshape(len(SPACE.edges), len(NB201_OPS))
    np.testing.assert_array_equal(blocks.sum(axis=1), np.ones(len(SPACE.edges)))
    rep = SPACE.representative(cell)
    assert [NB201_OPS[k] for k in blocks.argmax(axis=1)] == list(rep.ops)


def test_encode_tells_distinct_networks_apart() -> None:
    by_network: dict[str, bytes] = {}
    for cell in SPACE.all_cells():
        code = SPACE.encode(cell).tobytes()
        assert by_network.setdefault(SPACE.network_key(cell), code) == code
    assert len(set(by_network.values())) == len(by_network) == 4930


def test_fallback_for_big_spaces_prunes_and_relabels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_cell, "_ENUMERATE_MAX", 0)  # force the path spaces > 200,000 cells take
    reps: dict[str, set[Cell]] = defaultdict(set)
    for cell in SPACE.all_cells():
        rep = SPACE.representative(cell)
        assert SPACE.network_key(rep) == SPACE.network_key(cell)
        assert SPACE.representative(rep) == rep
        reps[SPACE.network_key(cell)].add(rep)
    assert reps["0"] == {ALL_NONE}  # every dead edge pruned
    a = nb201_cell(e01="nor_conv_3x3", e02="nor_conv_1x1", e13="skip_connect", e23="nor_conv_1x1")
    b = nb201_cell(e01="nor_conv_1x1", e02="nor_conv_3x3", e13="nor_conv_1x1", e23="skip_connect")
    assert SPACE.representative(a) == SPACE.representative(b)  # isomorphic: nodes 1, 2 swapped


def test_big_space_representative_runs_without_enumerating() -> None:
    space = CellSpace(n_nodes=6, ops=NB201_OPS)  # 5**15 cells: too many to enumerate
    cell = space.sample(np.random.default_rng(0))
    rep = space.representative(cell)
    assert space.network_key(rep) == space.network_key(cell)
    assert space.encode(cell).shape == (15 * 5,)


# --- a non-default space --------------------------------------------------------------------


def test_custom_space_end_to_end() -> None:
    space = CellSpace(name="tiny", n_nodes=3, ops=("none", "skip_connect", "conv", "pool"))
    assert space.edges == ((0, 1), (0, 2), (1, 2))
    assert space.size == 64
    assert space.param_names == ("tiny_edge_0_1", "tiny_edge_0_2", "tiny_edge_1_2")
    cell = space.parse("|conv~0|+|skip_connect~0|pool~1|")
    assert space.unflatten(space.flatten(cell)) == cell
    assert space.canonical(cell) == "((0)@conv)@pool+0"
    assert space.network_key(cell) == "pool(conv(x))+x"
    swapped = space.parse("|skip_connect~0|+|pool~0|conv~1|")  # conv(x) + pool(x) both ways
    other = space.parse("|skip_connect~0|+|conv~0|pool~1|")
    assert space.canonical(swapped) == space.canonical(other)
    np.testing.assert_array_equal(space.encode(swapped), space.encode(other))
    assert space.encoding_length == 12
    # Counted by hand: the output is op02(x) + op12(op01(x)). The first term is one of
    # {0, x, conv, pool}, the second one of {0, x, conv, pool, conv.conv, conv.pool, pool.conv,
    # pool.pool} (a skip on the path is the identity, a none anywhere zeroes it). With the first
    # term 0 that is 8 networks; with both non-zero, 3 x 7 ordered pairs of which the 3 pairs
    # of two plain ops count twice: 18 more. 26 networks, and canonical keys tell them apart.
    cells = list(space.all_cells())
    assert len({space.network_key(c) for c in cells}) == 26
    assert len({space.canonical(c) for c in cells}) == 26
    assert len({(space.canonical(c), space.network_key(c)) for c in cells}) == 26
    with pytest.raises(SpaceError, match="nor_conv_3x3"):
        space.parse("|nor_conv_3x3~0|+|none~0|none~1|")


def test_space_of_opaque_ops_tells_every_cell_apart() -> None:
    space = CellSpace(n_nodes=3, ops=("a", "b"))
    cells = list(space.all_cells())
    assert len({space.canonical(c) for c in cells}) == len(cells) == 8
    assert len({space.encode(c).tobytes() for c in cells}) == 8
