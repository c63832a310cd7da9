"""The contract every aggregate on the repository core keeps, as an inheritable pytest suite.

Subclass `AggregateContract` once for an aggregate (say how to make a new record and change
one), then once per store with a `make_store`; every subclass runs the whole contract: CRUD,
versions, tenant isolation, unique keys, the parent and cascade, paging, and a state machine
that checks the store agrees with the memory store on random operations.

Examples:
    A test module (``tests/contract/test_core.py`` in crmkit's sources is one, where `Shelf`
    and `Widget` are attrs classes with an ``id`` and a ``version``; the page "Storage
    internals: adding an aggregate" walks through a declaration):

    ```py
    import crmkit
    from crmkit.storage import Aggregate, MemoryStore, Parent, UniqueKey
    from crmkit.testing.contract import AggregateContract, SqlContract

    SHELVES = Aggregate(Shelf, "shelf", "shelves")
    WIDGETS = Aggregate(
        Widget, "widget", "widgets",
        parent=Parent("shelf", "shelves", "shelf_id"),
        unique=(UniqueKey("code"),),
    )

    class WidgetContract(AggregateContract[Widget]):
        aggregate, parent = WIDGETS, SHELVES

        def new(self, uow):
            shelf = Shelf(name="top")
            uow.repository(SHELVES).add(shelf)
            return Widget(shelf_id=shelf.id, name="bolt", code=f"W-{crmkit.new_id().hex[:12]}")

        def change(self, widget):
            widget.name = widget.name + "!"

    class TestWidgetsInMemory(WidgetContract):
        def make_store(self):
            return MemoryStore(aggregates=[SHELVES, WIDGETS])

    class TestWidgetsOnSqlite(SqlContract, WidgetContract):
        url = "sqlite://"
    ```

They need the ``testing`` extra (hypothesis and pytest).
"""

from __future__ import annotations

import abc
import os
import zlib
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Generic, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import crmkit
from crmkit._clock import FixedClock
from crmkit.errors import (
    ConcurrencyError,
    CrmkitError,
    DuplicateError,
    NotFound,
    ReadOnlyError,
    UnitOfWorkClosed,
    ValidationError,
)
from crmkit.storage import MemoryStore, Store, UnitOfWork
from crmkit.storage._aggregates import Aggregate, Operation, Write
from crmkit.storage._changes import MASKED, Change, masked, replay

__all__ = ["AggregateContract", "SqlContract"]

T = TypeVar("T")
_NOW = "2026-03-02T09:30:00+08:00"


class AggregateContract(abc.ABC, Generic[T]):
    """The contract of one aggregate's repository; subclass it per aggregate, then per store.

    Attributes:
        aggregate: the aggregate under test.
        parent: its parent's aggregate, if it has a parent (for the cascade).
        machine_examples: how many random runs the agreement state machine makes.
    """

    aggregate: ClassVar[Aggregate[Any]]
    parent: ClassVar[Aggregate[Any] | None] = None
    machine_examples: ClassVar[int] = 25

    @abc.abstractmethod
    def make_store(self) -> Store:
        """A store holding the aggregate (and its parent), with no records."""

    @abc.abstractmethod
    def new(self, uow: UnitOfWork) -> T:
        """A valid record not yet added; add what it needs (its parent) through `uow`."""

    @abc.abstractmethod
    def change(self, obj: T) -> None:
        """Change a field of `obj` that may change (neither unique nor immutable)."""

    @classmethod
    def aggregates(cls) -> list[Aggregate[Any]]:
        """The aggregates a store under test holds: the parent's, then this one."""
        return [a for a in (cls.parent, cls.aggregate) if a is not None]

    # --- fixtures ------------------------------------------------------------------------------

    @pytest.fixture
    def crm(self) -> Iterator[crmkit.CRM]:
        """A CRM on an empty store made by `make_store`."""
        store = self.make_store()
        try:
            yield crmkit.CRM(store, clock=FixedClock(_NOW))
        finally:
            store.close()

    def _add(self, crm: crmkit.CRM, tenant: str = "acme") -> T:
        with crm.unit_of_work(actor="li", tenant=tenant) as uow:
            obj = self.new(uow)
            uow.repository(self.aggregate).add(obj)
        return obj

    def _get(self, crm: crmkit.CRM, key: Any, tenant: str = "acme") -> T:  # noqa: ANN401
        with crm.unit_of_work(actor="li", tenant=tenant, read_only=True) as uow:
            found: T = uow.repository(self.aggregate).get(key)
            return found

    def _skip_if_append_only(self) -> None:
        if self.aggregate.append_only:
            pytest.skip("the aggregate is append-only: its records are never changed or removed")

    # --- the contract ----------------------------------------------------------------------------

    def test_an_append_only_record_cannot_be_changed_or_removed(self, crm: crmkit.CRM) -> None:
        """An append-only aggregate's records are refused to `update` and `remove`, unchanged."""
        if not self.aggregate.append_only:
            pytest.skip("the aggregate's records may be changed and removed")
        obj = self._add(crm)
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            records = uow.repository(self.aggregate)
            stored = records.get(obj.id)  # type: ignore[attr-defined]
            self.change(stored)
            with pytest.raises(ValidationError, match="is only ever added, never changed"):
                records.update(stored)
            with pytest.raises(ValidationError, match="is only ever added, never removed"):
                records.remove(records.get(obj.id))  # type: ignore[attr-defined]
        assert self._get(crm, obj.id) == obj  # type: ignore[attr-defined]

    def test_an_added_record_reads_back_equal_at_version_1(self, crm: crmkit.CRM) -> None:
        """An added record reads back equal at version 1."""
        obj = self._add(crm)
        assert obj.version == 1  # type: ignore[attr-defined]
        assert self._get(crm, obj.id) == obj  # type: ignore[attr-defined]

    def test_a_missing_record_is_not_found_and_a_bad_id_is_refused(self, crm: crmkit.CRM) -> None:
        """A missing record is not found and a bad id is refused."""
        with crm.unit_of_work(actor="li", read_only=True) as uow:
            records = uow.repository(self.aggregate)
            with pytest.raises(NotFound):
                records.get(crmkit.new_id())
            with pytest.raises(ValidationError, match=f"{self.aggregate.record}_id"):
                records.get("not an id")  # type: ignore[arg-type]
            assert uow.is_open

    def test_get_many_keeps_the_order_asked_and_skips_missing_ids(self, crm: crmkit.CRM) -> None:
        """Get many keeps the order asked and skips missing ids."""
        first, second = self._add(crm), self._add(crm)
        keys = [second.id, crmkit.new_id(), first.id]  # type: ignore[attr-defined]
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            assert uow.repository(self.aggregate).get_many(keys) == [second, first]

    def test_an_update_bumps_the_version_and_a_stale_one_conflicts(self, crm: crmkit.CRM) -> None:
        """An update bumps the version and a stale one conflicts."""
        self._skip_if_append_only()
        obj = self._add(crm)
        stale = self._get(crm, obj.id)  # type: ignore[attr-defined]
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            self.change(obj)
            uow.repository(self.aggregate).update(obj)
        assert obj.version == 2  # type: ignore[attr-defined]
        assert self._get(crm, obj.id) == obj  # type: ignore[attr-defined]
        uow = crm.unit_of_work(actor="li", tenant="acme")
        self.change(stale)
        with pytest.raises(ConcurrencyError):
            uow.repository(self.aggregate).update(stale)
        with pytest.raises(UnitOfWorkClosed):
            uow.commit()
        assert stale.version == 1  # type: ignore[attr-defined]

    def test_a_locked_record_reads_back_as_stored_and_can_be_written(self, crm: crmkit.CRM) -> None:
        """`lock` returns the record as stored, and the unit of work can then change it."""
        self._skip_if_append_only()
        obj = self._add(crm)
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            records = uow.repository(self.aggregate)
            locked = records.lock(obj.id)  # type: ignore[attr-defined]
            assert locked == obj
            self.change(locked)
            records.update(locked)
            assert records.lock(obj.id) == locked  # type: ignore[attr-defined]
        assert locked.version == 2
        assert self._get(crm, obj.id) == locked  # type: ignore[attr-defined]

    def test_locking_a_missing_record_or_in_a_read_only_unit_of_work_is_refused(
        self, crm: crmkit.CRM
    ) -> None:
        """Locking a missing record, another tenant's, or with a bad id, or read-only, fails."""
        obj = self._add(crm)
        key = obj.id  # type: ignore[attr-defined]
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            records = uow.repository(self.aggregate)
            with pytest.raises(NotFound):
                records.lock(crmkit.new_id())
            with pytest.raises(ValidationError, match=f"{self.aggregate.record}_id"):
                records.lock("not an id")  # type: ignore[arg-type]
            assert uow.is_open
            assert records.lock(key) == obj
        with crm.unit_of_work(actor="li", tenant="other") as uow, pytest.raises(NotFound):
            uow.repository(self.aggregate).lock(key)
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            with pytest.raises(ReadOnlyError):
                uow.repository(self.aggregate).lock(key)
            assert uow.is_open

    def test_a_removed_record_is_gone_and_a_stale_removal_conflicts(self, crm: crmkit.CRM) -> None:
        """A removed record is gone and a stale removal conflicts."""
        self._skip_if_append_only()
        obj, kept = self._add(crm), self._add(crm)
        stale = self._get(crm, obj.id)  # type: ignore[attr-defined]
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            uow.repository(self.aggregate).remove(obj)
        with pytest.raises(NotFound):
            self._get(crm, obj.id)  # type: ignore[attr-defined]
        assert self._get(crm, kept.id) == kept  # type: ignore[attr-defined]
        uow = crm.unit_of_work(actor="li", tenant="acme")
        with pytest.raises(ConcurrencyError):
            uow.repository(self.aggregate).remove(stale)
        uow.rollback()

    def test_an_id_can_be_added_once(self, crm: crmkit.CRM) -> None:
        """An id can be added once."""
        taken = self._add(crm).id  # type: ignore[attr-defined]
        uow = crm.unit_of_work(actor="li", tenant="acme")
        obj = self.new(uow)
        obj.id = taken  # type: ignore[attr-defined]
        with pytest.raises(DuplicateError) as caught:
            uow.repository(self.aggregate).add(obj)
        uow.rollback()
        assert (caught.value.kind, caught.value.field) == (self.aggregate.record, "id")

    def test_unique_keys_clash_within_a_tenant_only(self, crm: crmkit.CRM) -> None:
        """Unique keys clash within a tenant only."""
        for key in self.aggregate.unique:
            if key.values is not None:
                continue
            value = getattr(self._add(crm), key.field)
            if value is None:
                continue
            for tenant in ("acme", "globex"):
                try:
                    with crm.unit_of_work(actor="li", tenant=tenant) as uow:
                        twin = self.new(uow)
                        setattr(twin, key.field, value)
                        uow.repository(self.aggregate).add(twin)
                except DuplicateError as e:
                    assert tenant == "acme", f"{key.field} clashed across tenants"
                    assert (e.kind, e.field) == (key.record or self.aggregate.record, key.field)
                else:
                    assert tenant == "globex", f"a second record took {key.field} {value!r}"

    def test_tenants_see_only_their_own_records(self, crm: crmkit.CRM) -> None:
        """Tenants see only their own records."""
        self._skip_if_append_only()
        obj = self._add(crm, tenant="acme")
        self._add(crm, tenant="globex")
        with crm.unit_of_work(actor="li", tenant="globex") as uow:
            records = uow.repository(self.aggregate)
            with pytest.raises(NotFound):
                records.get(obj.id)  # type: ignore[attr-defined]
            assert records.get_many([obj.id]) == []  # type: ignore[attr-defined]
            assert records.count() == 1
            assert obj not in records.page()
        uow = crm.unit_of_work(actor="li", tenant="globex")
        with pytest.raises(ConcurrencyError):
            uow.repository(self.aggregate).remove(obj)
        uow.rollback()
        assert self._get(crm, obj.id) == obj  # type: ignore[attr-defined]

    def test_removing_the_parent_removes_its_records(self, crm: crmkit.CRM) -> None:
        """Removing the parent removes its records."""
        if self.aggregate.parent is None or self.parent is None:
            pytest.skip("the aggregate has no parent")
        obj, other = self._add(crm), self._add(crm)
        field = self.aggregate.parent.field
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            parents = uow.repository(self.parent)
            parents.remove(parents.get(getattr(obj, field)))
        with pytest.raises(NotFound):
            self._get(crm, obj.id)  # type: ignore[attr-defined]
        assert self._get(crm, other.id) == other  # type: ignore[attr-defined]

    def test_a_record_of_a_missing_parent_is_refused(self, crm: crmkit.CRM) -> None:
        """A record of a missing parent is refused."""
        parent = self.aggregate.parent
        if parent is None:
            pytest.skip("the aggregate has no parent")
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            obj = self.new(uow)
        setattr(obj, parent.field, crmkit.new_id())
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            with pytest.raises(NotFound) as caught:
                uow.repository(self.aggregate).add(obj)
            assert caught.value.kind == parent.record
            assert uow.is_open, "a refusal before any write spoils nothing"

    def test_fields_that_cannot_change_are_refused(self, crm: crmkit.CRM) -> None:
        """Fields that cannot change are refused."""
        self._skip_if_append_only()
        for field, problem in self.aggregate.immutable.items():
            obj, other = self._add(crm), self._add(crm)
            setattr(obj, field, getattr(other, field))
            with crm.unit_of_work(actor="li", tenant="acme") as uow:
                with pytest.raises(ValidationError, match=problem):
                    uow.repository(self.aggregate).update(obj)
                assert uow.is_open

    def test_pages_walk_every_record_once_in_id_order(self, crm: crmkit.CRM) -> None:
        """Pages walk every record once in id order."""
        added = [self._add(crm) for _ in range(5)]
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            records = uow.repository(self.aggregate)
            assert records.count() == len(added)
            seen: list[Any] = []
            after = None
            while page := records.page(after=after, limit=2):
                seen.extend(page)
                after = page[-1].id
            with pytest.raises(ValidationError, match="limit"):
                records.page(limit=0)
        assert seen == sorted(added, key=lambda o: o.id)  # type: ignore[attr-defined]

    def test_a_batch_with_a_duplicate_inside_writes_none_of_it(self, crm: crmkit.CRM) -> None:
        """A batch with a duplicate inside writes none of it."""
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            batch = [self.new(uow) for _ in range(3)]
        batch.append(batch[0])
        uow = crm.unit_of_work(actor="li", tenant="acme")
        with pytest.raises(DuplicateError):
            uow.repository(self.aggregate).add_many(batch)
        uow.rollback()
        assert all(o.version == 0 for o in batch)  # type: ignore[attr-defined]
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            assert uow.repository(self.aggregate).count() == 0

    def test_a_read_only_unit_of_work_refuses_writes(self, crm: crmkit.CRM) -> None:
        """A read-only unit of work refuses writes."""
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            obj = self.new(uow)
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            with pytest.raises(ReadOnlyError):
                uow.repository(self.aggregate).add(obj)
            assert uow.is_open

    def test_every_write_reaches_the_write_hooks_with_before_and_after(
        self, crm: crmkit.CRM
    ) -> None:
        """Every write reaches the write hooks, with before and after: a change log plugs in."""
        self._skip_if_append_only()
        seen: list[tuple[str, Any, Operation, Any, Any]] = []

        def record(write: Write) -> None:
            # A recorder reads the objects at once: `after` is the caller's own object.
            before, after = crmkit.to_dict(write.before), crmkit.to_dict(write.after)
            seen.append((write.record, write.id, write.operation, before, after))

        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            obj = self.new(uow)
            uow._write_hooks.append(record)
            records = uow.repository(self.aggregate)
            records.add(obj)
            added = crmkit.to_dict(obj)
            self.change(obj)
            records.update(obj)
            updated = crmkit.to_dict(obj)
            records.remove(obj)
        key, name = obj.id, self.aggregate.record  # type: ignore[attr-defined]
        assert [w for w in seen if w[0] == name] == [
            (name, key, Operation.CREATE, None, added),
            (name, key, Operation.UPDATE, added, updated),
            (name, key, Operation.DELETE, updated, None),
        ]

    def test_every_write_is_in_the_change_log_and_replaying_it_gives_the_records(
        self, crm: crmkit.CRM
    ) -> None:
        """Every write is in the change log, sensitive fields masked; its replay gives the records.

        The records a removal takes with it are in the log too.
        """
        self._skip_if_append_only()
        a = self.aggregate
        with crm.unit_of_work(actor="li", tenant="acme") as uow:
            records = uow.repository(a)
            obj, other = self.new(uow), self.new(uow)
            records.add_many([obj, other])
            self.change(obj)
            records.update(obj)
            secrets = [v for o in (obj, other) for f in a.sensitive if (v := getattr(o, f))]
        with crm.unit_of_work(actor="wang", tenant="acme") as uow:
            records = uow.repository(a)
            records.remove(records.get(obj.id))  # type: ignore[attr-defined]
            if self.parent is not None and a.parent is not None:
                parents = uow.repository(self.parent)
                parents.remove(parents.get(getattr(other, a.parent.field)))
        changes: list[Change] = []
        page = crm.changes_since(0, tenant="acme", limit=2)
        while page.changes:
            changes.extend(page.changes)
            page = crm.changes_since(page.cursor, tenant="acme", limit=2)
        mine = [(c.actor_id, c.record_id, c.operation) for c in changes if c.record == a.record]
        assert mine[:3] == [
            ("li", obj.id, "create"),  # type: ignore[attr-defined]
            ("li", other.id, "create"),  # type: ignore[attr-defined]
            ("li", obj.id, "update"),  # type: ignore[attr-defined]
        ]
        assert ("wang", obj.id, "delete") in mine  # type: ignore[attr-defined]
        if self.parent is not None:
            assert ("wang", other.id, "delete") in mine  # type: ignore[attr-defined]
        for c in changes:
            for data in (c.before or {}, c.after or {}):
                assert all(data[f] == MASKED for f in a.sensitive if f in data)
        assert not any(str(s) in repr(changes) for s in secrets)
        stored: dict[tuple[str, Any], dict[str, Any]] = {}
        with crm.unit_of_work(actor="li", tenant="acme", read_only=True) as uow:
            for held in self.aggregates():
                for r in uow.repository(held).page(limit=1000):
                    stored[held.record, r.id] = masked(crmkit.to_dict(r), held.sensitive)
        assert replay(changes) == stored

    def test_the_store_agrees_with_the_memory_store(self) -> None:
        """The store agrees with the memory store."""
        store = self.make_store()
        try:
            if isinstance(store, MemoryStore):
                pytest.skip("the memory store is the reference the others are compared with")
            machine = type("Agreement", (_Agreement,), {"contract": self, "subject_store": store})
            run_state_machine_as_test(
                machine,
                settings=settings(
                    max_examples=self.machine_examples,
                    stateful_step_count=12,
                    deadline=None,
                    suppress_health_check=[HealthCheck.too_slow],
                ),
            )
        finally:
            store.close()


class _Recorder:
    """A stand-in unit of work for `new`: records what it adds instead of storing it."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self.added: list[tuple[Aggregate[Any], Any]] = []

    def repository(self, aggregate: Aggregate[Any]) -> Any:  # noqa: ANN401
        recorder = self

        class _Adds:
            def add(self, obj: Any) -> None:  # noqa: ANN401
                recorder.added.append((aggregate, obj))

        return _Adds()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        return getattr(self._uow, name)


class _Agreement(RuleBasedStateMachine):
    """Random operations on the store under test and on the memory store: same outcomes."""

    contract: AggregateContract[Any]
    subject_store: Store

    def __init__(self) -> None:
        super().__init__()
        aggregates = self.contract.aggregates()
        self.stores = [MemoryStore(aggregates=aggregates), self.subject_store]
        self.crms = [crmkit.CRM(s, clock=FixedClock(_NOW)) for s in self.stores]
        self._empty(self.subject_store)
        self.known: list[Any] = []

    def _empty(self, store: Store) -> None:
        empty = getattr(self.contract, "empty", None)
        if empty is not None:
            empty(store)

    def both(self, tenant: str, action: Callable[[UnitOfWork, Any], Any]) -> Any:  # noqa: ANN401
        outcomes = []
        for crm in self.crms:
            try:
                with crm.unit_of_work(actor="li", tenant=tenant) as uow:
                    outcomes.append(("ok", crmkit.to_dict(action(uow, crm))))
            except CrmkitError as e:
                outcomes.append(("error", type(e).__name__))
        assert outcomes[0] == outcomes[1], outcomes
        return outcomes[0]

    @rule(tenant=st.sampled_from(["acme", "globex"]))
    def add(self, tenant: str) -> None:
        with self.crms[0].unit_of_work(actor="li", tenant=tenant, read_only=True) as scratch:
            recorder = _Recorder(scratch)
            obj = self.contract.new(recorder)  # type: ignore[arg-type]
        added = [*recorder.added, (self.contract.aggregate, obj)]

        def add(uow: UnitOfWork, _: object) -> None:
            for aggregate, record in added:
                uow.repository(aggregate).add(_copy(record))

        self.both(tenant, add)
        self.known.append((tenant, obj))

    @rule(data=st.data(), tenant=st.sampled_from(["acme", "globex"]))
    def update(self, data: st.DataObject, tenant: str) -> None:
        if not self.known:
            return
        _, obj = data.draw(st.sampled_from(self.known))

        def update(uow: UnitOfWork, _: object) -> Any:  # noqa: ANN401
            records = uow.repository(self.contract.aggregate)
            found = records.get(obj.id)
            self.contract.change(found)
            records.update(found)
            return found

        self.both(tenant, update)

    @rule(data=st.data(), tenant=st.sampled_from(["acme", "globex"]))
    def take_a_unique_value(self, data: st.DataObject, tenant: str) -> None:
        keys = [k for k in self.contract.aggregate.unique if k.values is None]
        if len(self.known) < 2 or not keys:
            return
        (_, a), (_, b) = data.draw(st.permutations(self.known))[:2]
        key = data.draw(st.sampled_from(keys))

        def take(uow: UnitOfWork, _: object) -> Any:  # noqa: ANN401
            records = uow.repository(self.contract.aggregate)
            found = records.get(a.id)
            setattr(found, key.field, getattr(b, key.field))
            records.update(found)
            return found

        self.both(tenant, take)

    @rule(data=st.data(), tenant=st.sampled_from(["acme", "globex"]))
    def remove(self, data: st.DataObject, tenant: str) -> None:
        if not self.known:
            return
        _, obj = data.draw(st.sampled_from(self.known))

        def remove(uow: UnitOfWork, _: object) -> None:
            records = uow.repository(self.contract.aggregate)
            records.remove(records.get(obj.id))

        self.both(tenant, remove)

    @rule(data=st.data(), tenant=st.sampled_from(["acme", "globex"]))
    def remove_the_parent(self, data: st.DataObject, tenant: str) -> None:
        parent, field = self.contract.parent, self.contract.aggregate.parent
        if not self.known or parent is None or field is None:
            return
        _, obj = data.draw(st.sampled_from(self.known))

        def remove(uow: UnitOfWork, _: object) -> None:
            records = uow.repository(parent)
            records.remove(records.get(getattr(obj, field.field)))

        self.both(tenant, remove)

    @invariant()
    def both_hold_the_same(self) -> None:
        for tenant in ("acme", "globex"):
            self.both(tenant, lambda uow, _: uow.repository(self.contract.aggregate).page())
            if self.contract.parent is not None:
                self.both(tenant, self._count_parents)

    def _count_parents(self, uow: UnitOfWork, _: object) -> int:
        assert self.contract.parent is not None
        return uow.repository(self.contract.parent).count()

    def teardown(self) -> None:
        self._empty(self.subject_store)


def _copy(obj: T) -> T:
    """A fresh copy of `obj` (version 0), so each store stamps its own."""
    return crmkit.from_dict(crmkit.to_dict(obj), type(obj))


class SqlContract:
    """Mix in before an `AggregateContract` to run it on the SQL database at `url`.

    The tables (named with a prefix unique to the test process) are created once per class and
    dropped after it; each test starts with them empty. ``url`` may name an environment
    variable as ``"env:NAME"``: the tests then skip when it is not set (and fail under ``CI``).

    Attributes:
        url: a SQLAlchemy URL, or ``"env:NAME"``.
        prefix: the tables' prefix; ``crmkit_c<pid>_`` by default.
    """

    url: ClassVar[str]
    prefix: ClassVar[str | None] = None

    @classmethod
    def aggregates(cls) -> list[Aggregate[Any]]:  # AggregateContract's, after it in the MRO
        """The aggregates whose tables the class makes."""
        found: list[Aggregate[Any]] = super().aggregates()  # type: ignore[misc]
        return found

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _tables(cls) -> Iterator[None]:
        from crmkit.storage.sql import SqlStore, build_tables

        url = cls.url
        if url.startswith("env:"):
            variable = url.removeprefix("env:")
            url = os.environ.get(variable, "")
            if not url:
                reason = f"{variable} is not set: these contract tests need a server"
                if os.environ.get("CI"):
                    pytest.fail(reason)
                pytest.skip(reason)
        # Unique to the process and the class: classes never share (or drop) each other's.
        mark = zlib.crc32(cls.__qualname__.encode()) % 0xFFFF
        prefix = cls.prefix or f"crmkit_c{os.getpid() % 100_000}{mark:04x}_"
        tables = build_tables(prefix=prefix, aggregates=cls.aggregates())
        store = SqlStore.from_url(url)
        with store.engine.begin() as connection:
            tables.metadata.drop_all(connection)
            tables.metadata.create_all(connection)
        cls._engine = store.engine
        cls._made = tables
        try:
            yield
        finally:
            with store.engine.begin() as connection:
                tables.metadata.drop_all(connection)
            store.close()

    _engine: ClassVar[Any]
    _made: ClassVar[Any]

    def make_store(self) -> Store:
        """A store on the class's tables, emptied."""
        from crmkit.storage.sql import SqlStore

        store = SqlStore(self._engine, tables=self._made)
        self.empty(store)
        return store

    def empty(self, store: Store) -> None:
        """Delete every row of the class's tables."""
        del store
        with self._engine.begin() as connection:
            for table in reversed(self._made.metadata.sorted_tables):
                connection.execute(table.delete())
