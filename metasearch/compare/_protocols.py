"""The three protocols of a comparison: which tasks are searched, and what each model learns from.

* :class:`HeldOutSplit`: a seeded (or given) split of the family's stored tasks; one model is
  meta-trained on the training tasks and searches every test task.
* :class:`LeaveOneOut`: every stored task is a test task once, searched with a model
  meta-trained on all the others.
* :class:`TransferFrom`: leave-one-family-out; one model meta-trained on other families'
  tasks (same search space) searches the family's tasks.

Each is a small object made once from the command's options (:func:`make_protocol`, which
refuses options a protocol chooses itself), so a fourth protocol is one more class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metasearch.compare._train import SOURCE_SEP
from metasearch.errors import MetasearchError
from metasearch.metamodel import TaskSplit
from metasearch.names import name_path

__all__ = ["Fit", "HeldOutSplit", "LeaveOneOut", "Protocol", "TransferFrom", "choose_tasks",
           "make_protocol"]


@dataclass(frozen=True)
class Fit:
    """One meta-model a protocol needs: its folder, its training tasks, the tasks it searches."""

    folder: Path
    train: list[str]
    test: list[str]
    status: str


class Protocol(ABC):
    """How a comparison splits tasks into training and test tasks, and which models it fits."""

    @abstractmethod
    def tasks(self, store: Any, family: Any) -> tuple[list[str], list[str]]:
        """The training and test tasks of ``family`` (its tasks, its stored data in ``store``).

        The family's own task list is read first, so a benchmark whose data is missing says
        that, rather than that the warehouse holds none of its trials.
        """

    def fits(self, train: list[str], test: list[str], out: Path) -> list[Fit]:
        """The models to meta-train: by default one, on every training task, for every test."""
        return [Fit(out / "models" / "shared", train, test,
                    f"meta-training on {len(train)} training tasks")]

    @abstractmethod
    def args(self, train: Sequence[str], test: Sequence[str]) -> list[str]:
        """The command-line options that choose this protocol and these tasks again."""


@dataclass(frozen=True)
class HeldOutSplit(Protocol):
    """Given training and test tasks, else a seeded split (see :func:`choose_tasks`)."""

    train: Sequence[str] | None = None
    test: Sequence[str] | None = None
    seed: int = 0
    n_test: int | None = None

    def tasks(self, store: Any, family: Any) -> tuple[list[str], list[str]]:
        registered = family.task_ids()  # first: a benchmark without its data says so
        stored = family_tasks(store, family.name)
        return choose_tasks(stored, registered, self.train, self.test, self.seed, self.n_test)

    def args(self, train: Sequence[str], test: Sequence[str]) -> list[str]:
        return ["--test-tasks", ",".join(test), "--train-tasks", ",".join(train)]


@dataclass(frozen=True)
class LeaveOneOut(Protocol):
    """Every stored task of the family is searched once, by a model that never saw it."""

    def tasks(self, store: Any, family: Any) -> tuple[list[str], list[str]]:
        registered = family.task_ids()
        stored = family_tasks(store, family.name)
        return stored, sorted(set(stored) & set(registered))

    def fits(self, train: list[str], test: list[str], out: Path) -> list[Fit]:
        fits = []
        for task_id in test:
            fit_on = [t for t in train if t != task_id]
            fits.append(Fit(name_path(out / "models", f"without-{task_id}", kind="task"),
                            fit_on, [task_id],
                            f"meta-training without {task_id} ({len(fit_on)} tasks)"))
        return fits

    def args(self, train: Sequence[str], test: Sequence[str]) -> list[str]:
        return ["--leave-one-out"]


@dataclass(frozen=True)
class TransferFrom(Protocol):
    """The family's tasks (``test``, default all) searched by a model of other families'."""

    sources: Sequence[str]
    test: Sequence[str] | None = None

    def tasks(self, store: Any, family: Any) -> tuple[list[str], list[str]]:
        registered = family.task_ids()
        sources = check_sources(store, family, self.sources)
        unknown_test = sorted(set(self.test or ()) - set(registered))
        if unknown_test:
            raise MetasearchError(f"test tasks {unknown_test} are not tasks of the family")
        test = sorted(self.test) if self.test else sorted(registered)
        return [f"{b}{SOURCE_SEP}{t}" for b in sources for t in family_tasks(store, b)], test

    def args(self, train: Sequence[str], test: Sequence[str]) -> list[str]:
        return ["--test-tasks", ",".join(test), "--transfer-from", ",".join(self.sources)]


def make_protocol(*, train: Sequence[str] | None, test: Sequence[str] | None,
                  leave_one_out: bool, transfer_from: Sequence[str] | None,
                  model: Path | None, seed: int, n_test: int | None) -> Protocol:
    """The protocol the options ask for, refusing options it chooses itself.

    Raises:
        MetasearchError: ``--leave-one-out`` with given tasks or a model, or
            ``--transfer-from`` with leave-one-out, training tasks or a model.
    """
    if leave_one_out and (train or test or model):
        raise MetasearchError("--leave-one-out chooses the splits itself: drop --train-tasks, "
                              "--test-tasks and --model")
    if transfer_from and (leave_one_out or train or model):
        raise MetasearchError("--transfer-from meta-trains on the other families' tasks: drop "
                              "--leave-one-out, --train-tasks and --model")
    if transfer_from:
        return TransferFrom(list(transfer_from), test)
    if leave_one_out:
        return LeaveOneOut()
    return HeldOutSplit(train, test, seed, n_test)


def family_tasks(store: Any, family: str) -> list[str]:
    if not store.has_family(family):
        raise MetasearchError(
            f"family {family!r} has no data in warehouse {store.url}: fill it first "
            f"(`metasearch warehouse build --family {family}` or `warehouse import`)")
    return sorted(t.name for t in store.tasks(family))


def choose_tasks(stored: Sequence[str], registered: Sequence[str], train: Sequence[str] | None,
                 test: Sequence[str] | None, seed: int, n_test: int | None = None
                 ) -> tuple[list[str], list[str]]:
    """The train and test tasks: as given, else a seeded split of the stored tasks.

    Test tasks must be tasks of the family (they are searched); train tasks must be in the
    warehouse (they are learned from). With only ``test`` given, every other stored task is a
    training task; with neither, a seeded 20% of the stored tasks (at least one) are held out.

    Raises:
        MetasearchError: unknown tasks, or a task in both lists.
    """
    unknown_test = sorted(set(test or ()) - set(registered))
    if unknown_test:
        raise MetasearchError(f"test tasks {unknown_test} are not tasks of the family")
    unknown_train = sorted(set(train or ()) - set(stored))
    if unknown_train:
        raise MetasearchError(f"train tasks {unknown_train} have no trials in the warehouse")
    if test is None:
        pool = sorted(set(stored) & set(registered) - set(train or ()))
        if len(pool) < 2:
            raise MetasearchError("need --test-tasks: fewer than 2 stored tasks to split")
        fraction = (n_test / len(pool)) if n_test else 0.2
        split = TaskSplit.make(pool, seed=seed, validation=0.0, test=fraction)
        test = list(split.test) or [split.train[-1]]
    if train is None:
        train = [t for t in stored if t not in set(test)]
    both = sorted(set(train) & set(test))
    if both:
        raise MetasearchError(f"tasks {both} are both train and test tasks: not held out")
    if not train:
        raise MetasearchError("no training tasks left to meta-train on")
    return sorted(train), sorted(test)


def check_sources(store: Any, family: Any, sources: Sequence[str]) -> list[str]:
    """The ``--transfer-from`` families, refused unless stored with the same space."""
    out = []
    for name in sources:
        if name == family.name:
            raise MetasearchError(f"--transfer-from {name}: that is the family being compared "
                                  "(leave it out)")
        family_tasks(store, name)
        record = store.family(name)
        if record.fingerprint != family.space.fingerprint():
            raise MetasearchError(
                f"--transfer-from {name}: its search space differs from {family.name!r}'s "
                f"(fingerprints {record.fingerprint[:12]} and "
                f"{family.space.fingerprint()[:12]}); a meta-model transfers only within one "
                "space")
        if record.direction != family.direction or (record.max_budget or 0) != \
                family.max_budget:
            raise MetasearchError(
                f"--transfer-from {name}: it {record.direction}s over {record.max_budget} "
                f"steps, {family.name!r} {family.direction}s over {family.max_budget}")
        out.append(name)
    return out
