"""Statements compiled once per process: the hot paths' queries, written by the ORM, run without rebuilding them.

Building and compiling a queryset costs ~0.2-0.5 ms of CPU per query (filters resolved, joins set up, ordering and
columns worked out, SQL assembled); running the SQL it gives costs ~0.03 ms. A check-in makes a dozen queries of the
same few shapes on every post. A ``Statement`` asks the ORM for the SQL of one shape once per database vendor, with a
``Param`` where each varying value goes, keeps the text and the ORM's result converters, and then runs it with each
call's values, prepared for the database by the same field the ORM would use (``get_db_prep_value``). The SQL,
quoting, locking clause and result conversion are therefore the ORM's own; only their assembly is not repeated.

Rules for a shape: a varying value is a ``Param`` (never a Python value that changes between calls: it would be
frozen into the cached SQL); no ``__in`` over a ``Param`` (a list changes the SQL's shape: use the ORM); queries that
return rows are ``values_list`` querysets. ``Statement.insert``, ``update`` and ``delete`` write one row. The
database each call uses is the one the ORM would (``router.db_for_read`` / ``db_for_write``), and a locking read
refuses to run in autocommit as the ORM's ``select_for_update`` does. Nothing is cached but the SQL text: every call
reads and writes the database afresh. Pinned by tests/polling/election_day/test_write_path_costs.py.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.db import connections, router
from django.db.models import Expression, Field, Model, Q, QuerySet
from django.db.models.sql import DeleteQuery, InsertQuery, UpdateQuery
from django.db.transaction import TransactionManagementError

M = TypeVar("M", bound=Model)


class _Slot:
    """Where a ``Param``'s value goes in a compiled statement's parameters."""

    __slots__ = ("field", "name")

    def __init__(self, name: str, field: Field[Any, Any]) -> None:
        self.name = name
        self.field = field


class Param(Expression):
    """A value given when the statement runs, prepared for the database as ``output_field`` prepares it."""

    def __init__(self, name: str, output_field: Any) -> None:
        """``output_field``: the model field the value is compared with or stored in (``Model._meta.get_field``)."""
        if not isinstance(output_field, Field):
            raise TypeError(f"Param {name!r}: a model field, not {output_field!r}")
        super().__init__(output_field=output_field)
        self.name = name

    def as_sql(self, compiler: Any, connection: Any) -> Any:
        return "%s", [_Slot(self.name, self.output_field)]

    def __repr__(self) -> str:
        return f"Param({self.name!r})"


class _Compiled:
    __slots__ = ("converters", "locks", "params", "returning", "sql")

    def __init__(
        self,
        sql: str,
        params: Sequence[Any],
        converters: list[tuple[int, list[Any], Any]],
        returning: bool,
        locks: bool = False,
    ) -> None:
        self.sql = sql
        self.params = list(params)
        self.converters = converters
        self.returning = returning
        self.locks = locks


class Statement:
    """One query shape: ``build()`` returns the ``values_list`` queryset (or, for ``insert``/``update``, is not used:
    see those constructors), with ``Param``s for every value that varies."""

    def __init__(
        self, model: type[Model], build: Callable[[], Any] | None, *, write: bool = False, kind: str = "select"
    ) -> None:
        self.model = model
        self._build = build
        self._write = write
        self._kind = kind
        self._fields: list[str] = []
        self._returning = False
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    @classmethod
    def select(cls, model: type[Model], build: Callable[[], QuerySet[Any]], *, write: bool = False) -> Statement:
        """Rows of a ``values_list`` queryset. ``write``: run on the database for writes (a locking read)."""
        return cls(model, build, write=write)

    @classmethod
    def insert(cls, model: type[Model], fields: Sequence[str], *, returning: bool = True) -> Statement:
        """``INSERT`` one row of ``fields`` (names); ``run`` returns its primary key with ``returning``. Give every
        field without a database default: a model's Python defaults are not applied."""
        statement = cls(model, None, write=True, kind="insert")
        statement._fields = list(fields)
        statement._returning = returning
        return statement

    @classmethod
    def delete(cls, model: type[Model]) -> Statement:
        """``DELETE`` the row whose primary key is the parameter ``pk`` (no cascade, no signals: for models nothing
        references and no receiver watches)."""
        return cls(model, None, write=True, kind="delete")

    @classmethod
    def update(cls, model: type[Model], fields: Sequence[str]) -> Statement:
        """``UPDATE`` ``fields`` (attribute names) of the row whose primary key is the parameter ``pk``."""
        statement = cls(model, None, write=True, kind="update")
        statement._fields = list(fields)
        return statement

    def _alias(self) -> str:
        alias = router.db_for_write(self.model) if self._write else router.db_for_read(self.model)
        return alias or "default"

    def _compile(self, alias: str) -> _Compiled:
        vendor = connections[alias].vendor
        compiled = self._compiled.get(vendor)
        if compiled is not None:
            return compiled
        with self._lock:
            connection = connections[alias]
            meta = self.model._meta
            fields = [_concrete(self.model, name) for name in self._fields]
            if self._kind == "insert":
                obj = self.model()
                for field in fields:
                    setattr(obj, field.attname, Param(field.attname, field))
                query = InsertQuery(self.model)
                query.insert_values(fields, [obj])
                compiler = query.get_compiler(alias)
                if self._returning:
                    compiler.returning_fields = [meta.pk]
                (sql, params), *more = compiler.as_sql()
                assert not more
                returning = self._returning
                if returning and not connection.features.can_return_columns_from_insert:  # pragma: no cover
                    returning = False  # every supported database returns them (PostgreSQL, SQLite >= 3.35)
                converters: list[tuple[int, list[Any], Any]] = []
            elif self._kind == "update":
                update = UpdateQuery(self.model)
                update.add_q(Q(pk=Param("pk", meta.pk)))
                update.add_update_values({field.name: Param(field.attname, field) for field in fields})
                sql, params = update.get_compiler(alias).as_sql()
                returning, converters = False, []
            elif self._kind == "delete":
                delete = DeleteQuery(self.model)
                delete.add_q(Q(pk=Param("pk", meta.pk)))
                sql, params = delete.get_compiler(alias).as_sql()
                returning, converters = False, []
            else:
                assert self._build is not None
                queryset = self._build()
                compiler = queryset.query.get_compiler(alias)
                sql, params = compiler.as_sql()
                selected = [s[0] for s in compiler.select[0 : compiler.col_count]]
                converters = [
                    (position, backend + own, expression)
                    for position, expression in enumerate(selected)
                    for backend, own in [
                        (connection.ops.get_db_converters(expression), expression.get_db_converters(connection))
                    ]
                    if backend + own
                ]
                returning = False
            locks = self._kind == "select" and queryset.query.select_for_update
            compiled = _Compiled(sql, params, converters, returning, bool(locks))
            self._compiled[vendor] = compiled
            return compiled

    def _params(self, compiled: _Compiled, values: dict[str, Any], connection: Any) -> list[Any]:
        out = []
        for param in compiled.params:
            if isinstance(param, _Slot):
                value = values[param.name]
                if self._kind == "select":
                    if value is None:
                        # "= NULL" matches nothing where the ORM would write "IS NULL": refuse, never answer wrong.
                        raise ValueError(f"Param {param.name!r} is None: a compared value must be given")
                    value = param.field.get_db_prep_value(value, connection, prepared=False)
                else:
                    value = param.field.get_db_prep_save(value, connection)
                out.append(value)
            else:
                out.append(param)
        return out

    def rows(self, **values: Any) -> list[tuple[Any, ...]]:
        """Run a ``select`` with these parameter values: its rows, converted as the ORM converts them."""
        alias = self._alias()
        compiled = self._compile(alias)
        connection = connections[alias]
        if compiled.locks and connection.features.has_select_for_update and connection.get_autocommit():
            raise TransactionManagementError("select_for_update cannot be used outside of a transaction.")
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, self._params(compiled, values, connection))
            rows: Iterable[Sequence[Any]] = cursor.fetchall()
        if not compiled.converters:
            return [tuple(r) for r in rows]
        out = []
        for row in rows:
            converted = list(row)
            for position, functions, expression in compiled.converters:
                value = converted[position]
                for function in functions:
                    value = function(value, expression, connection)
                converted[position] = value
            out.append(tuple(converted))
        return out

    def first(self, **values: Any) -> tuple[Any, ...] | None:
        """The first row (the shape should have ``[:1]`` or a unique filter), or None."""
        found = self.rows(**values)
        return found[0] if found else None

    def run(self, **values: Any) -> Any:
        """Run an ``insert`` (its primary key, with ``returning``) or ``update`` (the number of rows changed)."""
        alias = self._alias()
        compiled = self._compile(alias)
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(compiled.sql, self._params(compiled, values, connection))
            if self._kind in ("update", "delete"):
                return cursor.rowcount
            if compiled.returning:
                return cursor.fetchone()[0]
            return connection.ops.last_insert_id(cursor, self.model._meta.db_table, str(self.model._meta.pk.column))


def _concrete(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field) and field.concrete, name
    return field


def instance(model: type[M], alias: str | None, fields: Sequence[str], values: Sequence[Any]) -> M:
    """A model instance as the ORM would load it with ``only(*fields)`` (attribute names, in any order)."""
    given = dict(zip(fields, values, strict=True))
    ordered = [f.attname for f in model._meta.concrete_fields if f.attname in given]
    return model.from_db(alias or "default", ordered, [given[name] for name in ordered])
