"""How rows are built and how their ids are read: one way for each.

Building: a table model's constructor (`Item(...)`) validates its fields and is the way for rows
made a few at a time (a command, a schedule, a seed). The hot path — rows made for every incoming
message or outgoing send (intake's message, item, event and ack; outbox rows; set-aside events) —
uses `new_row(Item, ...)`, which skips SQLModel's per-field cost and validates nothing.

Ids: a row read from the database, or flushed, has its primary key; `id_of(row)` returns it as an
`int` and raises if it is missing (a new row not flushed yet), where `row.id or 0` would quietly
name a row that does not exist.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Protocol, TypeVar

from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import SQLModel


class HasId(Protocol):
    @property
    def id(self) -> int | None: ...


def id_of(row: HasId) -> int:
    """The primary key of a loaded or flushed row; a row without one yet is a bug, not row 0."""
    row_id = row.id
    if row_id is None:
        raise ValueError(f"{type(row).__name__} has no id yet: flush it before using its id")
    return row_id


RowT = TypeVar("RowT", bound=SQLModel)


@cache
def _fields(model: type[SQLModel]) -> tuple[frozenset[str], tuple[tuple[str, Any, Any], ...]]:
    """A table model's field names, and (name, default, default_factory) of its optional fields."""
    fields = model.model_fields
    optional = tuple(
        (name, field.default, field.default_factory) for name, field in fields.items() if not field.is_required()
    )
    return frozenset(fields), optional


def new_row(model: type[RowT], **values: Any) -> RowT:
    """`model(**values)` for a row about to be inserted, without SQLModel's per-field cost.

    A table model's constructor sets every field through both pydantic and SQLAlchemy, about
    4 µs a field; intake makes five rows a message. This builds the instance the way SQLAlchemy
    does when it loads a row (no `__init__`), fills the fields' values and defaults straight into
    its dict, which is where both libraries read them, and sets relationships normally so the
    flush orders the inserts. Only for new rows: nothing here records changes of a loaded one.
    """
    row: RowT = manager_of_class(model).new_instance()
    relationships = model.__sqlmodel_relationships__
    names, optional = _fields(model)
    data = row.__dict__
    for name, default, factory in optional:
        if name not in values:
            data[name] = factory() if factory is not None else default
    given = set()
    for name, value in values.items():
        if name in relationships:
            continue
        if name not in names:
            raise TypeError(f"{model.__name__} has no field {name!r}")
        data[name] = value
        given.add(name)
    object.__setattr__(row, "__pydantic_fields_set__", given)
    object.__setattr__(row, "__pydantic_extra__", None)
    object.__setattr__(row, "__pydantic_private__", None)
    for name in relationships:
        if name in values:
            setattr(row, name, values[name])
    return row
