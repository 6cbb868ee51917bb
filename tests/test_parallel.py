"""The backends run units and give results back in unit order; a failing unit raises here."""

from __future__ import annotations

import pytest

from analyzer.parallel import Inline, Local, UnitError


def square(x: int) -> int:
    return x * x


def fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


class Counter:
    def __init__(self, start: int) -> None:
        if start < 0:
            raise ValueError("negative start")
        self.n = start

    def add(self, k: int) -> int:
        self.n += k
        return self.n

    def boom(self) -> None:
        raise KeyError("nope")


@pytest.fixture(params=["inline", "local"])
def be(request):
    b = Inline() if request.param == "inline" else Local(2)
    yield b
    b.close()


def test_map_keeps_unit_order(be) -> None:
    assert be.map(square, list(range(7))) == [0, 1, 4, 9, 16, 25, 36]


def test_actors_keep_state_and_order(be) -> None:
    actors = be.actors(Counter, [(10,), (20,), (30,)])
    assert be.call(actors, "add", [(1,), (2,), (3,)]) == [11, 22, 33]
    assert be.call(actors, "add", [(1,), (1,), (1,)]) == [12, 23, 34]


def test_a_failing_unit_raises_here(be) -> None:
    with pytest.raises((ValueError, UnitError), match="three"):
        be.map(fail_on_three, [1, 2, 3, 4])
    actors = be.actors(Counter, [(0,)])
    with pytest.raises((KeyError, UnitError), match="nope"):
        be.call(actors, "boom")
    # the actor survives its method's exception
    assert be.call(actors, "add", [(5,)]) == [5]


def test_a_constructor_that_fails_raises_at_the_first_call(be) -> None:
    with pytest.raises((ValueError, UnitError), match="negative start"):
        actors = be.actors(Counter, [(1,), (-1,)])
        be.call(actors, "add", [(1,), (1,)])
