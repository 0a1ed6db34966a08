"""NAS-Bench-201-style cell architectures: parsing, Optuna parameters, canonical keys, encoding.

A cell is a small DAG whose every edge ``i -> j`` (``i < j``) carries one operation. The same
cell travels in three forms: the NAS-Bench-201 string users and benchmarks write
(``|nor_conv_3x3~0|+|skip_connect~0|none~1|+...``), one categorical Optuna parameter per edge
(how Syne Tune and most HPO libraries flatten it), and a fixed-length one-hot vector for models.
Many cells compute the same network (an isomorphic relabelling, or edges whose output is never
used), so models encode a canonical representative of each cell, not the cell itself.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from metasearch.errors import SpaceError

if TYPE_CHECKING:
    from optuna.distributions import CategoricalDistribution

__all__ = ["NB201_OPS", "Cell", "CellSpace", "canonical"]

NB201_OPS: tuple[str, ...] = (
    "none",
    "skip_connect",
    "nor_conv_1x1",
    "nor_conv_3x3",
    "avg_pool_3x3",
)
"""The five NAS-Bench-201 operations, in the benchmark's order (``none`` first)."""

ZERO_OP = "none"
"""The op that outputs zero, whatever its input."""

SKIP_OP = "skip_connect"
"""The op that passes its input through unchanged."""

# '~', '|' and '+' delimit the NB201 string; '#', '(', ')' and '@' build canonical keys, so a
# name holding one of them could make two different networks share a key.
_RESERVED_CHARS = "~|+#()@"

_ENUMERATE_MAX = 200_000
"""Spaces up to this size find representatives by enumerating every cell once."""

_RELABEL_MAX_INNER = 7
"""Above this many intermediate nodes the fallback only prunes: 7! = 5,040 orders is the most
it tries per cell."""


@functools.lru_cache(maxsize=64)
def _edges(n_nodes: int) -> tuple[tuple[int, int], ...]:
    """Edges ``(i, j)`` ordered by target ``j`` then source ``i``: the NB201 string's order."""
    return tuple((i, j) for j in range(1, n_nodes) for i in range(j))


def _edge_index(n_nodes: int, i: int, j: int) -> int:
    """Position of edge ``i -> j`` in :func:`_edges`; SpaceError where there is no such edge."""
    if not (isinstance(i, int) and isinstance(j, int) and 0 <= i < j < n_nodes):
        raise SpaceError(f"no edge ({i!r}, {j!r}) in a cell of {n_nodes} nodes; need 0 <= i < j")
    return j * (j - 1) // 2 + i


def _check_op_name(op: object) -> str:
    """Return ``op`` if it is a usable op name; SpaceError naming it otherwise."""
    if not isinstance(op, str) or not op:
        raise SpaceError(f"an op name must be a non-empty string, got {op!r}")
    bad = _reserved_in(op)
    if bad:
        raise SpaceError(f"op name {op!r} contains reserved character(s) {bad!r}")
    return op


@functools.lru_cache(maxsize=1024)
def _reserved_in(op: str) -> str:
    """The reserved characters ``op`` holds (cached: every Cell checks each of its ops)."""
    return "".join(c for c in _RESERVED_CHARS if c in op)


@dataclass(frozen=True)
class Cell:
    """An assignment of one op to every edge i->j (i<j) of an n_nodes DAG.

    Node 0 is the input, node ``n_nodes - 1`` the output, and each node sums its incoming edges.
    A cell is plain data: which ops are allowed is its :class:`CellSpace`'s business.

    Attributes:
        n_nodes: number of nodes, input and output included (4 in NAS-Bench-201).
        ops: one op name per edge, in edge order (see :attr:`CellSpace.edges`).
    """

    n_nodes: int
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if isinstance(self.n_nodes, bool) or not isinstance(self.n_nodes, int):
            raise SpaceError(f"a cell's n_nodes must be an int, got {self.n_nodes!r}")
        if self.n_nodes < 2:
            raise SpaceError(f"a cell needs at least 2 nodes, got n_nodes={self.n_nodes}")
        ops = tuple(self.ops)
        n_edges = len(_edges(self.n_nodes))
        if len(ops) != n_edges:
            raise SpaceError(
                f"a cell of {self.n_nodes} nodes has {n_edges} edges, got {len(ops)} ops: {ops!r}"
            )
        for op in ops:
            _check_op_name(op)
        object.__setattr__(self, "ops", ops)  # accept any sequence, store the hashable tuple

    def op(self, i: int, j: int) -> str:
        """The op on edge ``i -> j``."""
        return self.ops[_edge_index(self.n_nodes, i, j)]

    def live_edges(self) -> list[tuple[int, int, str]]:
        """The edges ``(i, j, op)`` that can change the cell's output, ordered by ``j`` then ``i``.

        An edge is live when its op is not ``none``, its input node is reached from node 0 and
        its output node reaches the last node, both through edges that are not ``none`` (see
        :func:`_live_ops`); a network built from the cell needs only these.
        """
        return [(i, j, op) for (i, j), op in zip(_edges(self.n_nodes), _live_ops(self),
                                                 strict=True) if op != ZERO_OP]

    def to_nb201(self) -> str:
        """The NAS-Bench-201 string: node j's inputs ``op~i`` for i < j, nodes joined by '+'."""
        return _nb201_string(self.n_nodes, self.ops)

    def __str__(self) -> str:
        return self.to_nb201()


@functools.lru_cache(maxsize=1 << 14)
def _nb201_string(n_nodes: int, ops: tuple[str, ...]) -> str:
    """:meth:`Cell.to_nb201` (cached: samplers write the same few cells over and over)."""
    nodes = []
    for j in range(1, n_nodes):
        nodes.append("|" + "|".join(f"{ops[_edge_index(n_nodes, i, j)]}~{i}"
                                    for i in range(j)) + "|")
    return "+".join(nodes)


@functools.lru_cache(maxsize=1 << 17)
def _nb201_key(n_nodes: int, ops: tuple[str, ...]) -> str:
    """The NAS-Bench-201 authors' identity of a cell (``to_unique_str(consider_zero=True)``).

    Node 0 is ``"0"``. Edge ``i -> j`` contributes a term: ``"#"`` (zero) where its op is
    ``none`` or node i's expression is exactly ``"#"``; node i's expression unchanged for
    ``skip_connect``; ``"(<expr i>)@<op>"`` for any other op. Node j's expression is its j terms
    sorted and joined by ``'+'``, zero terms kept. The output node's expression is the key.

    Why this convention: it is the one behind the 6,466 unique networks NAS-Bench-201 and
    NATS-Bench publish, so keys and counts agree with the benchmark and its tools; no cleaner
    semantics we measured gives that count (see :func:`_network_key`). It is *sound*: equal
    keys imply the same network, since the text parses back into its nested sum of terms (op
    names hold no reserved character), so it refines :func:`_network_key`. It is finer than
    function equality in three ways, each needed for the published count:

    * zero terms stay in a sum, so ``x + 0`` (``"#+0"``) and ``x`` (``"0"``) differ, and with
      them nodes of different in-degree: swapping two intermediate nodes changes the key;
    * a node is zero only if its expression is one ``"#"`` (in NB201 only node 1 can be), so
      a node whose inputs are all ``none`` still feeds ops that see ``"#+#"``; the 341 NB201
      cells whose output is zero fall into 5 keys, not 1;
    * a skip inlines its source's sum as one text unit, sorted as a whole among the target's
      terms, so ``(a+c)+b`` and ``(a+b)+c`` reached through different skips can differ.

    Multiplicity is kept throughout: ``x + x`` (``"0+0"``) is not ``x`` (``"0"``).
    """
    nodes = ["0"]
    edge = 0
    for target in range(1, n_nodes):
        terms = []
        for source in range(target):
            terms.append(_nb201_term(ops[edge], nodes[source]))
            edge += 1
        nodes.append("+".join(sorted(terms)))
    return nodes[-1]


def _nb201_term(op: str, source: str) -> str:
    """The term edge ``op`` adds to its target in :func:`_nb201_key`'s convention."""
    if op == ZERO_OP or source == "#":
        return "#"
    if op == SKIP_OP:
        return source
    return f"({source})@{op}"


def _network_expressions(n_nodes: int, ops: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Every node's value as a sorted multiset of terms; the empty tuple is zero.

    Node 0 is ``("x",)``. ``none`` and any op fed zero add nothing (op(0) = 0, and 0 is the
    identity of the sum). ``skip_connect`` adds its source's terms one by one: the source *is*
    a sum, and a sum of sums is one flat sum, so where a skip regroups terms cannot matter.
    Any other op adds one opaque term ``op(<source terms joined by '+'>)``: an op of a sum is not
    the sum of the op's values. Multiplicity is kept: ``x + x`` is two terms.
    """
    nodes: list[tuple[str, ...]] = [("x",)]
    edge = 0
    for target in range(1, n_nodes):
        terms: list[str] = []
        for source in range(target):
            op, value = ops[edge], nodes[source]
            edge += 1
            if op == ZERO_OP or not value:
                continue
            if op == SKIP_OP:
                terms.extend(value)
            else:
                terms.append(f"{op}({'+'.join(value)})")
        nodes.append(tuple(sorted(terms)))
    return nodes


@functools.lru_cache(maxsize=1 << 17)
def _network_key(n_nodes: int, ops: tuple[str, ...]) -> str:
    """One key per function the cell computes: its output's expression, ``"0"`` when zero.

    Invariant to relabelling intermediate nodes, to edges out of zero nodes and into nodes that
    never reach the output, and to how skips group a sum: the 15,625 NB201 cells make 4,930
    networks by this key. :func:`_nb201_key` refines it (equal NB201 keys give equal keys here),
    so classes of this key are unions of NB201 classes.
    """
    output = _network_expressions(n_nodes, ops)[-1]
    return "+".join(output) if output else "0"


@functools.lru_cache(maxsize=8)
def _class_table(n_nodes: int, ops: tuple[str, ...]) -> dict[str, Cell]:
    """Map every network key of a small space to the smallest cell (by op index) with it.

    ``itertools.product`` yields op-index tuples in lexicographic order, so the first cell met
    with a key is its class's smallest; all cells of a class therefore share one representative.
    """
    table: dict[str, Cell] = {}
    for combo in itertools.product(ops, repeat=len(_edges(n_nodes))):
        table.setdefault(_network_key(n_nodes, combo), Cell(n_nodes, combo))
    return table


@dataclass(frozen=True)
class CellSpace:
    """A NAS-Bench-201-style cell search space: every edge of a DAG cell picks one op.

    From NAS-Bench-201 (Dong & Yang, "NAS-Bench-201: Extending the Scope of Reproducible
    Neural Architecture Search", ICLR 2020): 4 nodes, 6 edges, 5 ops, 15,625 cells of which
    6,466 are distinct networks. ``n_nodes`` and ``ops`` may differ; ``none`` (zero) and
    ``skip_connect`` (identity) keep their meaning wherever they appear, every other op name is
    an opaque function. Optuna sees one categorical parameter per edge, named
    ``{name}_edge_{i}_{j}``, as Syne Tune flattens NB201.

    Attributes:
        name: the cell's name in a configuration; prefixes its edge parameters.
        n_nodes: nodes per cell, input and output included.
        ops: the ops an edge may carry, in the order of the one-hot encoding.
    """

    name: str = "cell"
    n_nodes: int = 4
    ops: tuple[str, ...] = NB201_OPS

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise SpaceError(f"a cell space needs a non-empty string name, got {self.name!r}")
        if isinstance(self.n_nodes, bool) or not isinstance(self.n_nodes, int):
            raise SpaceError(
                f"cell space {self.name!r}: n_nodes must be an int, got {self.n_nodes!r}"
            )
        if self.n_nodes < 2:
            raise SpaceError(f"cell space {self.name!r} needs n_nodes >= 2, got {self.n_nodes}")
        if isinstance(self.ops, str):
            raise SpaceError(
                f"cell space {self.name!r}: ops must be a sequence of op names, "
                f"got the string {self.ops!r}"
            )
        ops = tuple(self.ops)
        if not ops:
            raise SpaceError(f"cell space {self.name!r} needs at least one op, got {self.ops!r}")
        for op in ops:
            _check_op_name(op)
        duplicates = sorted({op for op in ops if ops.count(op) > 1})
        if duplicates:
            raise SpaceError(f"cell space {self.name!r} lists op(s) {duplicates} more than once")
        object.__setattr__(self, "ops", ops)

    @classmethod
    def nb201(cls, name: str = "cell") -> CellSpace:
        """The NAS-Bench-201 space: 4 nodes, the five :data:`NB201_OPS`."""
        return cls(name=name, n_nodes=4, ops=NB201_OPS)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """Edges ``(i, j)`` ordered by j then i: (0,1), (0,2), (1,2), (0,3), ... as in NB201."""
        return _edges(self.n_nodes)

    def edge_param(self, i: int, j: int) -> str:
        """The flat Optuna parameter name of edge ``i -> j``."""
        _edge_index(self.n_nodes, i, j)
        return f"{self.name}_edge_{i}_{j}"

    @functools.cached_property
    def param_names(self) -> tuple[str, ...]:
        """One parameter name per edge, in edge order (computed once: the space is frozen)."""
        return tuple(self.edge_param(i, j) for i, j in self.edges)

    @property
    def size(self) -> int:
        """How many cells the space holds: ``len(ops) ** len(edges)``."""
        return len(self.ops) ** len(self.edges)

    @property
    def encoding_length(self) -> int:
        """Length of :meth:`encode`'s vector: one one-hot block of ``len(ops)`` per edge."""
        return len(self.edges) * len(self.ops)

    def _fail(self, arch: object, why: str) -> SpaceError:
        """A SpaceError naming the architecture, the reason and what would be valid."""
        example = Cell(self.n_nodes, (self.ops[0],) * len(self.edges)).to_nb201()
        return SpaceError(
            f"invalid cell {arch!r} for space {self.name!r}: {why}; expected a NAS-Bench-201 "
            f"string of {self.n_nodes} nodes like {example!r}, with ops from {list(self.ops)}"
        )

    def parse(self, arch: str | Cell) -> Cell:
        """Read an NB201 string (or check a Cell) into a Cell of this space.

        Raises:
            SpaceError: naming ``arch`` and the valid ops, where the node count, an input
                index or an op does not fit this space.
        """
        if isinstance(arch, Cell):
            return self._check_cell(arch)
        if not isinstance(arch, str):
            raise self._fail(arch, f"expected a string or Cell, got {type(arch).__name__}")
        return _parse_string(self, arch)

    def _parse_string(self, arch: str) -> Cell:
        """:meth:`parse` of a string, uncached (only valid strings are cached, by
        :func:`_parse_string`; a Cell is immutable, so sharing it is safe)."""
        nodes = arch.strip().split("+")
        if len(nodes) != self.n_nodes - 1:
            raise self._fail(arch, f"{len(nodes)} node groups where {self.n_nodes - 1} belong")
        ops: list[str] = []
        for j, node in enumerate(nodes, start=1):
            ops.extend(self._parse_node(arch, j, node))
        return Cell(self.n_nodes, tuple(ops))

    def _parse_node(self, arch: str, j: int, node: str) -> list[str]:
        """Parse node j's group ``|op~0|op~1|...|`` of ``arch``."""
        if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
            raise self._fail(arch, f"node {j}'s group {node!r} is not enclosed in '|'")
        tokens = node[1:-1].split("|")
        if len(tokens) != j:
            raise self._fail(arch, f"node {j} lists {len(tokens)} inputs where {j} belong")
        ops = []
        for i, token in enumerate(tokens):
            op, sep, source = token.rpartition("~")
            if not sep or source != str(i):
                raise self._fail(arch, f"node {j}'s input {token!r} should end in '~{i}'")
            if op not in self.ops:
                raise self._fail(arch, f"unknown op {op!r} on edge {i}->{j}")
            ops.append(op)
        return ops

    def _check_cell(self, cell: Cell) -> Cell:
        """Return ``cell`` if it belongs to this space."""
        if cell.n_nodes != self.n_nodes:
            raise self._fail(cell, f"it has {cell.n_nodes} nodes, the space {self.n_nodes}")
        unknown = sorted({op for op in cell.ops if op not in self.ops})
        if unknown:
            raise self._fail(cell, f"unknown op(s) {unknown}")
        return cell

    def to_string(self, cell: Cell) -> str:
        """The NB201 string of a cell of this space."""
        return self.parse(cell).to_nb201()

    def flatten(self, arch: str | Cell) -> dict[str, str]:
        """The flat Optuna form: ``{edge_param: op}`` for every edge."""
        cell = self.parse(arch)
        return dict(zip(self.param_names, cell.ops, strict=True))

    def unflatten(self, params: Mapping[str, Any]) -> Cell:
        """Rebuild a Cell from its flat form; entries other than edge parameters are ignored.

        Raises:
            SpaceError: naming a missing edge parameter, or an edge value outside ``ops``.
        """
        ops = []
        for name in self.param_names:
            if name not in params:
                raise SpaceError(
                    f"cell space {self.name!r}: missing edge parameter {name!r} "
                    f"(expected all of {list(self.param_names)})"
                )
            value = params[name]
            if not isinstance(value, str) or value not in self.ops:
                raise SpaceError(
                    f"cell space {self.name!r}: edge parameter {name!r} = {value!r} "
                    f"is not one of {list(self.ops)}"
                )
            ops.append(str(value))
        return Cell(self.n_nodes, tuple(ops))

    def with_edge(self, arch: str, name: str, op: Any) -> str:
        """The NB201 string of ``arch`` with edge parameter ``name`` set to ``op``: what
        ``parse(unflatten({**flatten(arch), name: op}).to_nb201()).to_nb201()`` gives, cached
        (a local search moves the same few cells' edges hundreds of times per proposal)."""
        return _with_edge(self, arch, name, op)

    def distributions(self) -> dict[str, CategoricalDistribution]:
        """One Optuna categorical per edge; optuna is imported only when this is called."""
        from optuna.distributions import CategoricalDistribution

        return {name: CategoricalDistribution(choices=self.ops) for name in self.param_names}

    def canonical(self, arch: str | Cell) -> str:
        """One key per distinct network, as NAS-Bench-201 counts them (6,466 of 15,625 cells).

        Edges out of a zero input or into nodes that never reach the output do not change the
        key, nor does the order of a node's inputs; ``x + x`` differs from ``x``. This is the
        benchmark authors' convention, kept so keys and counts match theirs; it is finer than
        function equality (a relabelling of intermediate nodes can change it): see
        :func:`_nb201_key`, and :meth:`network_key` for the coarser, relabelling-invariant key.
        """
        cell = self.parse(arch)
        return _nb201_key(cell.n_nodes, cell.ops)

    def network_key(self, arch: str | Cell) -> str:
        """One key per function the cell computes (4,930 of NB201's 15,625 cells).

        Unlike :meth:`canonical`, invariant to relabelling intermediate nodes, to ``+ 0`` and
        to how skips group a sum; every cell whose output is zero gets ``"0"``. Cells with
        equal :meth:`canonical` keys always have equal network keys. See :func:`_network_key`.
        """
        cell = self.parse(arch)
        return _network_key(cell.n_nodes, cell.ops)

    def representative(self, arch: str | Cell) -> Cell:
        """A canonical Cell of ``arch``'s network class, shared by every cell of the class.

        The class is :meth:`network_key`'s, a union of :meth:`canonical`'s classes, so cells
        with the same canonical key get the same representative, and so do cells that differ
        only by a relabelling of intermediate nodes (which :meth:`canonical` tells apart). The
        representative computes the same function, but its canonical key may differ from
        ``arch``'s. Spaces of up to 200,000 cells enumerate every cell once (cached per
        ``(n_nodes, ops)``) and pick each class's smallest cell by op index. Bigger spaces fall
        back to :meth:`_reduce`: edges that cannot change the output set to ``none``, then the
        smallest relabelling of intermediate nodes that keeps every edge pointing forward. That
        is exact for dead edges and isomorphism but may leave a class several representatives
        where its members differ otherwise (e.g. skips grouping a sum differently).
        """
        cell = self.parse(arch)
        if self.size <= _ENUMERATE_MAX:
            return _class_table(self.n_nodes, self.ops)[_network_key(cell.n_nodes, cell.ops)]
        return self._reduce(cell)

    def _reduce(self, cell: Cell) -> Cell:
        """Prune dead edges to ``none`` and take the smallest valid node relabelling."""
        if ZERO_OP not in self.ops:  # every edge is live, and only the identity keeps them all
            return cell
        live = _live_ops(cell)
        if self.n_nodes - 2 > _RELABEL_MAX_INNER:
            return Cell(self.n_nodes, live)
        index = {op: k for k, op in enumerate(self.ops)}
        best = tuple(index[op] for op in live)
        for order in itertools.permutations(range(1, self.n_nodes - 1)):
            relabelled = _relabel(self.n_nodes, live, (0, *order, self.n_nodes - 1))
            if relabelled is not None:
                best = min(best, tuple(index[op] for op in relabelled))
        return Cell(self.n_nodes, tuple(self.ops[k] for k in best))

    def encode(self, arch: str | Cell) -> np.ndarray:
        """One-hot of the representative's op on every edge: equivalent cells encode alike.

        Returns:
            float64 vector of :attr:`encoding_length`: edge-major blocks of ``len(ops)``.
        """
        return _one_hot(self, self.representative(arch)).copy()

    def encode_string(self, arch: str) -> np.ndarray:
        """:meth:`encode` of an NB201 string, cached per string: read-only, do not change it."""
        return _encode_string(self, arch)

    def _one_hot(self, cell: Cell) -> np.ndarray:
        """The one-hot vector of ``cell``'s ops, uncached (see :func:`_one_hot`)."""
        index = {op: k for k, op in enumerate(self.ops)}
        vector = np.zeros(self.encoding_length, dtype=np.float64)
        for edge, op in enumerate(cell.ops):
            vector[edge * len(self.ops) + index[op]] = 1.0
        return vector

    def sample(self, rng: np.random.Generator) -> Cell:
        """A cell drawn uniformly: each edge's op independently uniform over ``ops``."""
        picks = rng.integers(len(self.ops), size=len(self.edges))
        return Cell(self.n_nodes, tuple(self.ops[int(k)] for k in picks))

    def all_cells(self) -> Iterator[Cell]:
        """Every cell of the space, in lexicographic order of op indices (small spaces only)."""
        for combo in itertools.product(self.ops, repeat=len(self.edges)):
            yield Cell(self.n_nodes, combo)


@functools.lru_cache(maxsize=1 << 14)
def _parse_string(space: CellSpace, arch: str) -> Cell:
    """:meth:`CellSpace.parse` of a string, cached per space (an invalid one raises each time)."""
    return space._parse_string(arch)


@functools.lru_cache(maxsize=1 << 14)
def _with_edge(space: CellSpace, arch: str, name: str, op: Any) -> str:
    """:meth:`CellSpace.with_edge`, cached per space (an invalid edge or op raises each time)."""
    edges = space.flatten(arch)
    edges[name] = op
    return space.parse(space.unflatten(edges).to_nb201()).to_nb201()


@functools.lru_cache(maxsize=1 << 14)
def _encode_string(space: CellSpace, arch: str) -> np.ndarray:
    """:meth:`CellSpace.encode_string`: the representative's one-hot, read-only."""
    return _one_hot(space, space.representative(arch))


@functools.lru_cache(maxsize=1 << 14)
def _one_hot(space: CellSpace, cell: Cell) -> np.ndarray:
    """:meth:`CellSpace.encode`'s vector of a representative, cached; read-only, so copy it."""
    vector = space._one_hot(cell)
    vector.flags.writeable = False
    return vector


def _live_ops(cell: Cell) -> tuple[str, ...]:
    """The cell's ops with every edge that cannot change its output set to ``none``.

    An edge is live where its op is not ``none``, its source is not zero, and its target
    reaches the output along live edges; the others add zero, or feed only unused nodes.
    """
    n, edges = cell.n_nodes, _edges(cell.n_nodes)
    values = _network_expressions(n, cell.ops)
    feeds = [op != ZERO_OP and bool(values[i]) for (i, _), op in zip(edges, cell.ops, strict=True)]
    reaches = [False] * (n - 1) + [True]
    for node in range(n - 2, -1, -1):
        reaches[node] = any(
            feeds[_edge_index(n, node, j)] and reaches[j] for j in range(node + 1, n)
        )
    return tuple(
        op if feeds[k] and reaches[j] else ZERO_OP
        for k, ((_, j), op) in enumerate(zip(edges, cell.ops, strict=True))
    )


def _relabel(n_nodes: int, ops: tuple[str, ...], new: tuple[int, ...]) -> tuple[str, ...] | None:
    """Ops after renaming node v to ``new[v]``, or None where an edge would point backwards."""
    out = [ZERO_OP] * len(ops)
    for (i, j), op in zip(_edges(n_nodes), ops, strict=True):
        if op == ZERO_OP:
            continue
        if new[i] >= new[j]:
            return None
        out[_edge_index(n_nodes, new[i], new[j])] = op
    return tuple(out)


def canonical(arch: str | Cell, space: CellSpace | None = None) -> str:
    """The canonical key of ``arch`` (see :meth:`CellSpace.canonical`).

    Args:
        arch: an NB201 string or a Cell.
        space: the space whose ops ``arch`` uses; defaults to the NAS-Bench-201 ops, with as
            many nodes as ``arch`` has (4 for NB201 itself).
    """
    if space is None:
        n_nodes = arch.n_nodes if isinstance(arch, Cell) else _count_nodes(arch)
        space = CellSpace(n_nodes=n_nodes)
    return space.canonical(arch)


def _count_nodes(arch: object) -> int:
    """Nodes in an NB201 string (groups + the input); 4 for what is not a string."""
    return arch.count("+") + 2 if isinstance(arch, str) else 4
