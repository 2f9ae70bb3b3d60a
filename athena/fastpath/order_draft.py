"""OrderUpdate built without its frozen dataclass __init__: the per-row parser fills a draft of the same
slot layout and turns it into the OrderUpdate by assigning __class__ (athena/okx/parse.py). This leans
on CPython allowing __class__ assignment between two classes of one __slots__ layout.

`ATHENA_FASTPATH_ORDER_DRAFT=off` (or `ATHENA_FASTPATHS=off`), read when athena.okx.parse is imported:
the parser fills the draft as before and builds the OrderUpdate with its constructor (constructed()).
"""

from __future__ import annotations

from dataclasses import fields

from athena.domain.orders import OrderUpdate
from athena.fastpath import enabled

_NAMES = tuple(f.name for f in fields(OrderUpdate))


class OrderUpdateDraft:
    """OrderUpdate's mutable twin, for the per-row parser (orders-pending pages, WS order pushes).

    A frozen dataclass's __init__ sets each field through object.__setattr__ (~25 calls, most of an
    order row's parse time). The draft has the very same slots, so a parser assigns them as plain
    attributes and then makes the object the OrderUpdate it is: `draft.__class__ = OrderUpdate`
    (allowed between classes of one slot layout). The result is an ordinary frozen OrderUpdate, equal
    and hashable as if built by OrderUpdate(...). OrderUpdate has no __post_init__, so nothing is
    skipped. The caller must assign every field (an unset slot raises AttributeError when read);
    tests/unit/test_parse_fast.py pins the output to the dataclass constructor's.
    """

    __slots__ = OrderUpdate.__slots__


def _check_draft_layout() -> None:
    names = _NAMES
    draft = object.__new__(OrderUpdateDraft)
    for name in names:
        setattr(draft, name, None)
    draft.__class__ = OrderUpdate  # type: ignore[assignment]  # TypeError here if the layouts drift apart
    if OrderUpdateDraft.__slots__ != names:
        raise TypeError("OrderUpdateDraft slots differ from OrderUpdate's fields")


_check_draft_layout()


RETYPE = enabled("order_draft")  # read once: the parser checks it per row


def constructed(draft: OrderUpdateDraft) -> OrderUpdate:
    """The plain path: the OrderUpdate the dataclass constructor builds from the draft's fields."""
    return OrderUpdate(**{name: getattr(draft, name) for name in _NAMES})
