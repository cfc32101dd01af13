"""`quick_init`: the same objects as the dataclass's own `__init__` makes, still frozen."""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass, field

import pytest

from actors.wire import ClientRequest, ReturnTicket
from vending.records import quick_init, slot_setters
from vending.requests import Request


@quick_init
@dataclass(frozen=True, slots=True)
class Sample:
    a: int
    b: str = "x"
    c: int | None = None
    d: int = field(default=5, init=False, compare=False)


def test_it_takes_what_the_generated_init_takes() -> None:
    assert Sample(1) == Sample(a=1, b="x", c=None)
    made = Sample(1, c=3)
    assert (made.a, made.b, made.c, made.d) == (1, "x", 3, 5)
    assert Sample(1, "y") != Sample(1)
    assert hash(Sample(2)) == hash(Sample(2))
    with pytest.raises(TypeError):
        Sample()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Sample(1, "x", None, 4)  # type: ignore[call-arg]


def test_what_it_builds_is_still_frozen() -> None:
    made = Sample(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.a = 2  # type: ignore[misc]
    ticket = ReturnTicket("inproc://status", "s_ann", 7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ticket.ticket = 8  # type: ignore[misc]


def test_the_hot_classes_have_it() -> None:
    for cls in (ReturnTicket, ClientRequest, Request):
        assert cls.__init__.__module__ == cls.__module__
        assert "set0" in cls.__init__.__code__.co_names


def test_a_request_keeps_its_fingerprint_out_of_its_value() -> None:
    one, two = Request("deposit", {"amount": 5}, "r1"), Request("deposit", {"amount": 5}, "r1")
    one.fingerprint()
    assert one == two and "_fp" not in repr(one)
    assert one.fingerprint() == two.fingerprint()


def test_what_it_does_not_cover_is_refused() -> None:
    with pytest.raises(TypeError, match="not a frozen dataclass"):
        @quick_init
        @dataclass(slots=True)
        class Plain:
            a: int
    with pytest.raises(TypeError, match="not a slot"):
        @quick_init
        @dataclass(frozen=True)
        class NoSlots:
            a: int
    with pytest.raises(TypeError, match="__post_init__"):
        @quick_init
        @dataclass(frozen=True, slots=True)
        class Checked:
            a: int

            def __post_init__(self) -> None:
                pass
    with pytest.raises(TypeError, match="default_factory"):
        @quick_init
        @dataclass(frozen=True, slots=True)
        class Made:
            a: list[int] = field(default_factory=list)
    with pytest.raises(TypeError, match="takes what this one does not"):
        @quick_init
        @dataclass(frozen=True, slots=True)
        class WithInitVar:
            a: int
            b: InitVar[int] = 0


def test_a_class_made_now_gets_the_quick_init_with_the_generated_ones_shape() -> None:
    # Built inside the test (not at import) so the decorator itself runs under test.
    @quick_init
    @dataclass(frozen=True, slots=True)
    class Late:
        a: int
        c: int = field(default=7, init=False)  # an init field follows it
        b: str = "x"
        d: int = field(init=False)

    assert "set0" in Late.__init__.__code__.co_names
    assert Late.__init__.__qualname__ == f"{Late.__qualname__}.__init__"
    assert Late.__init__.__module__ == __name__
    made = Late(1)
    assert (made.a, made.b, made.c) == (1, "x", 7)
    assert Late(2, "y").b == "y" and Late(a=3, b="z").a == 3
    with pytest.raises(AttributeError):
        made.d  # noqa: B018 - init=False with no default: left unset, as the dataclass's own
    with pytest.raises(TypeError):
        Late()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Late(1, "x", 7)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Late(1, c=8)  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.a = 2  # type: ignore[misc]


def test_a_class_with_no_fields_takes_nothing() -> None:
    @quick_init
    @dataclass(frozen=True, slots=True)
    class Empty:
        pass

    assert Empty() == Empty()
    with pytest.raises(TypeError):
        Empty(1)  # type: ignore[call-arg]


def test_keyword_only_fields_are_refused() -> None:
    with pytest.raises(TypeError, match="kw_only"):
        @quick_init
        @dataclass(frozen=True, slots=True)
        class OneKeyword:
            a: int = field(default=0, kw_only=True)
    with pytest.raises(TypeError, match="kw_only"):
        @quick_init
        @dataclass(frozen=True, slots=True, kw_only=True)
        class AllKeywords:
            a: int
    with pytest.raises(TypeError, match="not a frozen dataclass"):
        quick_init(int)


def test_slot_setters_set_each_field_in_field_order_and_refuse_a_class_without_slots() -> None:
    made = object.__new__(Sample)
    setters = slot_setters(Sample)
    assert len(setters) == len(dataclasses.fields(Sample))
    for setter, value in zip(setters, (1, "y", 3, 6), strict=True):
        setter(made, value)
    assert (made.a, made.b, made.c, made.d) == (1, "y", 3, 6)

    @dataclass(frozen=True)
    class NoSlots:
        a: int
    with pytest.raises(TypeError, match=r"NoSlots\.a is not a slot"):
        slot_setters(NoSlots)
