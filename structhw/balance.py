"""Greedy pipeline balancing under a resource budget, for any list of stages.

A dataflow pipeline delivers one image per ``max(stage cycles)`` cycles, so the budget goes to the
slowest stage first. Each stage offers *candidates* (its hardware parameter choices, in a fixed
order) and evaluates one to (cycles per image, resources). :class:`Balancer` starts every stage at
its first candidate, then alternates two moves until the bottleneck stops improving:

- *grow* gives the slowest stage the candidate that makes it faster for the smallest share of the
  budget (any candidate, not only larger ones: (2, 11) can beat (1, 16) for fewer DSPs), while
  one fits;
- *trim* gives every stage its cheapest candidate that is no slower than the current bottleneck,
  which frees what an earlier, coarser step over-spent.
"""

from __future__ import annotations

from dataclasses import dataclass

from .budget import Budget
from .errors import ResourceError
from .resources import RESOURCES, Resources, budget_limits, format_shortfall, shortfalls


@dataclass(frozen=True)
class Choice:
    """One evaluated candidate of a stage: its parameters, cycles per image and resources."""

    params: object
    cycles: int
    cost: Resources


class Stage:
    """What the balancer needs of a stage (duck-typed; subclass for the defaults).

    ``candidates()`` lists parameter choices, the first one the smallest; ``evaluate(params)``
    gives its :class:`Choice`; ``cycles_lower_bound(params)`` a cheap bound on its cycles that
    lets the search skip candidates (None: no bound).
    """

    def candidates(self) -> list:
        raise NotImplementedError

    def evaluate(self, params) -> Choice:
        raise NotImplementedError

    def cycles_lower_bound(self, params) -> int | None:
        return None


def budget_fraction(delta: Resources, budget: Budget) -> float:
    """How much of the budget a change uses: sum over resources of delta / available (negative
    when the change frees more than it takes)."""
    have = budget_limits(budget)
    return sum(getattr(delta, k) / max(getattr(have, k), 1) for k in RESOURCES)


class Balancer:
    """Greedy balancing of ``stages`` under ``budget`` with fixed extra ``overhead`` (FIFOs and
    other parameter-free hardware). :meth:`balance` returns one :class:`Choice` per stage."""

    def __init__(self, stages: list, budget: Budget, overhead: Resources):
        self.stages, self.budget, self.overhead = stages, budget, overhead
        self.candidates = [list(s.candidates()) for s in stages]
        self.cache = {}

    def evaluate(self, i: int, k: int) -> Choice:
        if (i, k) not in self.cache:
            self.cache[i, k] = self.stages[i].evaluate(self.candidates[i][k])
        return self.cache[i, k]

    def may_reach(self, i: int, k: int, cycles: int) -> bool:
        """False when candidate ``k`` certainly cannot bring stage ``i`` to ``cycles`` or fewer."""
        if (i, k) in self.cache:
            return True
        bound = self.stages[i].cycles_lower_bound(self.candidates[i][k])
        return bound is None or bound <= cycles

    def total(self, chosen: list) -> Resources:
        total = self.overhead
        for choice in chosen:
            total = total + choice.cost
        return total

    def smallest(self) -> list:
        """Every stage's first candidate; :class:`ResourceError` if even that does not fit."""
        chosen = [self.evaluate(i, 0) for i in range(len(self.stages))]
        total = self.total(chosen)
        short = shortfalls(total, self.budget)
        if short:
            raise ResourceError(
                f"the network does not fit the budget even with 1 lane × 1 multiplier per layer: "
                f"{format_shortfall(short, total, self.budget)}")
        return chosen

    def grow(self, chosen: list) -> list:
        chosen = list(chosen)
        total = self.total(chosen)
        while True:
            b = max(range(len(chosen)), key=lambda i: chosen[i].cycles)
            current = chosen[b]
            best = None
            for k in range(len(self.candidates[b])):
                if not self.may_reach(b, k, current.cycles - 1):
                    continue
                cand = self.evaluate(b, k)
                if cand.cycles >= current.cycles:
                    continue
                delta = cand.cost - current.cost
                if shortfalls(total + delta, self.budget):
                    continue
                score = (budget_fraction(delta, self.budget), cand.cycles, _size(cand.params))
                if best is None or score < best[0]:
                    best = (score, cand, delta)
            if best is None:
                return chosen
            chosen[b] = best[1]
            total = total + best[2]

    def trim(self, chosen: list) -> list:
        target = max(c.cycles for c in chosen)
        chosen = list(chosen)
        total = self.total(chosen)
        for i, current in enumerate(chosen):
            best = (budget_fraction(current.cost, self.budget), current.cycles)
            for k in range(len(self.candidates[i])):
                if not self.may_reach(i, k, target):
                    continue
                cand = self.evaluate(i, k)
                score = (budget_fraction(cand.cost, self.budget), cand.cycles)
                if cand.cycles <= target and score < best and \
                        not shortfalls(total - chosen[i].cost + cand.cost, self.budget):
                    total = total - chosen[i].cost + cand.cost
                    chosen[i], best = cand, score
        return chosen

    def balance(self) -> list:
        chosen = self.grow(self.smallest())
        while True:
            trimmed = self.trim(chosen)
            regrown = self.grow(trimmed)
            if max(c.cycles for c in regrown) >= max(c.cycles for c in trimmed):
                return trimmed
            chosen = regrown


def _size(params) -> int:
    """Parallelism of a candidate (lanes × multipliers), the last tie-breaker of *grow*."""
    return getattr(params, "lanes", 1) * getattr(params, "mults", 1)
