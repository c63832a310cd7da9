"""The transactional outbox and its relay, on every store.

Every recorded event is written with the change it tells of, in the same transaction; the relay
delivers it after the commit, at least once, in the order of its aggregate's commits, retrying
a failing handler with a growing pause and parking the event after its last attempt.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from uuid import UUID

import attrs
import pytest
import sqlalchemy as sa

import crmkit
from crmkit import FixedClock
from crmkit.customers import Customer, CustomerRegistered, register_customer
from crmkit.errors import ReadOnlyError, ValidationError
from crmkit.events import DomainEvent
from crmkit.storage.sql import SqlStore

from .conftest import Backend


@attrs.frozen(kw_only=True)
class Noted(DomainEvent):
    """A test event about any aggregate (its `subject_id`)."""

    subject_id: UUID
    text: str


def note(crm: crmkit.CRM, subject: UUID, text: str) -> Noted:
    with crm.unit_of_work(actor="li") as uow:
        return uow.record(Noted, subject_id=subject, text=text)


def quiet(backend: Backend, **options: object) -> crmkit.CRM:
    """A CRM on an emptied store whose units of work leave delivery to the relay."""
    return backend.fresh(relay_on_commit=False, **options)


def test_an_event_is_delivered_once_with_its_stable_id(backend: Backend) -> None:
    crm = quiet(backend)
    seen: list[DomainEvent] = []
    crm.subscribe(DomainEvent, seen.append)
    customer = Customer(name="Acme", owner_id="li")
    with crm.unit_of_work(actor="li") as uow:
        event = register_customer(uow, customer) and uow.events[0]
    assert seen == []  # left to the relay
    assert crm.relay() == crmkit.events.RelayReport(delivered=1)
    assert seen == [event]
    assert crm.relay().delivered == 0  # marked delivered: never again
    assert seen[0].id == event.id


def test_a_rolled_back_unit_of_work_leaves_no_event(backend: Backend) -> None:
    crm = quiet(backend)
    seen: list[DomainEvent] = []
    crm.subscribe(DomainEvent, seen.append)
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, Customer(name="Acme", owner_id="li"))
        uow.rollback()
    with pytest.raises(RuntimeError), crm.unit_of_work(actor="li") as uow:
        register_customer(uow, Customer(name="Globex", owner_id="li"))
        raise RuntimeError
    assert crm.relay().delivered == 0
    assert seen == []


def test_a_plain_app_sees_its_events_at_once_and_a_handler_sees_the_rows(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    counted: list[int] = []

    def look(_: CustomerRegistered) -> None:
        with crm.unit_of_work(actor="mailer", read_only=True) as uow:
            counted.append(uow.customers.count())

    crm.subscribe(CustomerRegistered, look)
    with crm.unit_of_work(actor="li") as uow:
        register_customer(uow, Customer(name="Acme", owner_id="li"))
    assert counted == [1]  # delivered after the commit: the customer is there
    assert crm.relay().delivered == 0


def test_a_read_only_unit_of_work_records_no_event(backend: Backend) -> None:
    crm = backend.fresh()
    with crm.unit_of_work(actor="li", read_only=True) as uow, pytest.raises(ReadOnlyError):
        uow.record(Noted, subject_id=crmkit.new_id(), text="x")


def test_events_of_one_aggregate_go_out_in_order_across_units_of_work(backend: Backend) -> None:
    crm = quiet(backend)
    seen: list[str] = []
    crm.subscribe(Noted, lambda e: seen.append(e.text))
    a, b = crmkit.new_id(), crmkit.new_id()
    for text, subject in [("a1", a), ("b1", b), ("a2", a), ("a3", a), ("b2", b)]:
        note(crm, subject, text)
    assert crm.relay().delivered == 5
    assert [t for t in seen if t[0] == "a"] == ["a1", "a2", "a3"]
    assert [t for t in seen if t[0] == "b"] == ["b1", "b2"]


def test_one_claim_takes_a_streams_pending_events_though_their_numbers_have_gaps(
    backend: Backend,
) -> None:
    """Events are numbered per tenant, so one aggregate's numbers skip the others' events."""
    crm = quiet(backend)
    a, b = crmkit.new_id(), crmkit.new_id()
    with crm.unit_of_work(actor="li") as uow:
        for text, subject in [("a1", a), ("b1", b), ("a2", a), ("b2", b), ("a3", a)]:
            uow.record(Noted, subject_id=subject, text=text)
    note(crm, b, "b3")
    note(crm, a, "a4")
    now = crm.clock.now()
    lease = str(crmkit.new_id())
    claimed = crm.store.outbox.claim(now=now, until=now.add(minutes=1), token=lease, limit=10)
    texts = [c.data["text"] for c in claimed]
    assert [t for t in texts if t[0] == "a"] == ["a1", "a2", "a3", "a4"]
    assert [t for t in texts if t[0] == "b"] == ["b1", "b2", "b3"]
    # Each stream's numbers increase in commit order, and they are the tenant's: no two alike.
    seqs = {t: c.seq for t, c in zip(texts, claimed, strict=True)}
    assert seqs["a1"] < seqs["a2"] < seqs["a3"] < seqs["b3"] < seqs["a4"]
    assert len(set(seqs.values())) == 7


def test_a_failing_handler_is_retried_with_back_off_then_parked_and_can_be_retried(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FixedClock("2026-03-02T09:30:00+08:00")
    crm = quiet(backend, clock=clock)
    calls: list[UUID] = []
    broken = True

    def handler(event: Noted) -> None:
        calls.append(event.id)
        if broken:
            raise RuntimeError("the mail server is down")

    crm.subscribe(Noted, handler)
    event = note(crm, crmkit.new_id(), "hello")

    def relay() -> crmkit.events.RelayReport:
        return crm.relay(attempts=3, backoff=10.0)

    assert relay() == crmkit.events.RelayReport(retried=1)
    assert "the mail server is down" in caplog.text
    assert relay().retried == 0  # not due yet: it waits 10 s
    clock.advance(seconds=10)
    assert relay().retried == 1
    clock.advance(seconds=19)
    assert relay().parked == 0  # the second pause is 20 s
    clock.advance(seconds=1)
    assert relay().parked == 1
    assert calls == [event.id] * 3
    clock.advance(days=1)
    assert relay() == crmkit.events.RelayReport()  # parked: left alone

    (parked,) = crm.parked_events()
    assert (parked.id, parked.event, parked.attempts) == (event.id, event, 3)
    assert "RuntimeError: the mail server is down" in parked.error
    assert crm.parked_events(tenant="elsewhere") == []

    broken = False
    assert crm.retry_parked([event.id]) == 1
    assert crm.retry_parked() == 0
    assert relay().delivered == 1
    assert crm.parked_events() == []
    assert calls == [event.id] * 4


def test_later_events_of_an_aggregate_wait_for_a_failing_one_others_go_on(
    backend: Backend,
) -> None:
    clock = FixedClock("2026-03-02T09:30:00+08:00")
    crm = quiet(backend, clock=clock)
    seen: list[str] = []
    failing = {"a1"}

    def handler(event: Noted) -> None:
        if event.text in failing:
            raise RuntimeError(event.text)
        seen.append(event.text)

    crm.subscribe(Noted, handler)
    a, b = crmkit.new_id(), crmkit.new_id()
    for text, subject in [("a1", a), ("b1", b), ("a2", a)]:
        note(crm, subject, text)
    assert crm.relay() == crmkit.events.RelayReport(delivered=1, retried=1)
    assert seen == ["b1"]  # a2 waits behind a1
    failing.clear()
    clock.advance(seconds=1)
    assert crm.relay().delivered == 2
    assert seen == ["b1", "a1", "a2"]


def test_a_parked_event_lets_its_aggregate_go_on(backend: Backend) -> None:
    crm = quiet(backend)
    seen: list[str] = []

    def handler(event: Noted) -> None:
        if event.text == "bad":
            raise RuntimeError("bad")
        seen.append(event.text)

    crm.subscribe(Noted, handler)
    subject = crmkit.new_id()
    note(crm, subject, "bad")
    note(crm, subject, "good")
    assert crm.relay(attempts=1) == crmkit.events.RelayReport(delivered=1, parked=1)
    assert seen == ["good"]


def test_an_event_whose_class_is_unknown_is_parked_naming_it(backend: Backend) -> None:
    crm = quiet(backend)
    event = note(crm, crmkit.new_id(), "x")
    from crmkit import events

    kinds = events._KINDS
    name = events._kind_name(Noted)
    del kinds[name]
    try:
        assert crm.relay(attempts=1).parked == 1
        (parked,) = crm.parked_events()
    finally:
        kinds[name] = Noted
    assert parked.event is None
    assert f"no event class {name}" in parked.error
    assert parked.data["text"] == "x"
    assert crm.retry_parked([event.id]) == 1
    assert crm.relay().delivered == 1


def test_two_relays_at_once_never_deliver_one_event_twice(backend: Backend) -> None:
    first = quiet(backend)
    second = backend.crm(relay_on_commit=False)
    delivered: Counter[UUID] = Counter()
    lock = threading.Lock()

    def handler(event: Noted) -> None:
        with lock:
            delivered[event.id] += 1

    first.subscribe(Noted, handler)
    second.subscribe(Noted, handler)
    events = [note(first, crmkit.new_id(), str(i)) for i in range(60)]
    failures: list[BaseException] = []

    def run(crm: crmkit.CRM) -> None:
        try:
            for _ in range(3):
                crm.relay(limit=7)
        except BaseException as e:  # reported below
            failures.append(e)

    threads = [threading.Thread(target=run, args=(crm,)) for crm in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    first.relay()
    assert sorted(delivered) == sorted(e.id for e in events)
    assert set(delivered.values()) == {1}


def test_relay_arguments_are_checked(backend: Backend) -> None:
    if backend.name != "memory":
        pytest.skip("the CRM's argument checks are the same on every store")
    crm = backend.fresh()
    for arguments, field in [
        ({"attempts": 0}, "attempts"),
        ({"backoff": -1}, "backoff"),
        ({"backoff": float("nan")}, "backoff"),
        ({"lease": 0}, "lease"),
        ({"limit": 0}, "limit"),
        ({"max_backoff": "1"}, "max_backoff"),
    ]:
        with pytest.raises(ValidationError) as caught:
            crm.relay(**arguments)  # type: ignore[arg-type]
        assert caught.value.issues[0].path == field
    with pytest.raises(ValidationError):
        crm.retry_parked("not ids")
    with pytest.raises(ValidationError):
        crm.parked_events(limit=0)
    with pytest.raises(ValidationError):
        crmkit.CRM(crm.store, relay_on_commit="yes")  # type: ignore[arg-type]


@attrs.frozen(kw_only=True)
class Odd(DomainEvent):
    """An event of a host's with a field crmkit cannot store."""

    subject_id: UUID
    thing: object


def test_an_event_that_cannot_be_stored_fails_the_commit_and_writes_nothing(
    backend: Backend,
) -> None:
    crm = backend.fresh()
    seen: list[DomainEvent] = []
    crm.subscribe(DomainEvent, seen.append)
    with pytest.raises(ValidationError, match="Odd: the event cannot be stored"):  # noqa: SIM117
        with crm.unit_of_work(actor="li") as uow:
            register_customer(uow, Customer(name="Acme", owner_id="li"))
            uow.record(Odd, subject_id=crmkit.new_id(), thing=object())
    with crm.unit_of_work(actor="li") as uow:
        assert uow.customers.count() == 0
    assert crm.relay().delivered == 0
    assert seen == []


def test_delivered_events_are_purged_once_old_enough(backend: Backend) -> None:
    clock = FixedClock("2026-03-02T09:30:00+08:00")
    crm = quiet(backend, clock=clock)
    crm.subscribe(Noted, lambda e: 1 / 0 if e.text == "parked" else None)
    note(crm, crmkit.new_id(), "ok")
    note(crm, crmkit.new_id(), "parked")
    crm.relay(attempts=1)
    clock.advance(days=1, hours=1)
    note(crm, crmkit.new_id(), "pending")
    assert crm.purge_delivered(older_than=2 * 86400) == 0
    assert crm.purge_delivered(older_than=86400) == 1
    assert crm.purge_delivered() == 0
    assert len(crm.parked_events()) == 1  # parked and pending events stay
    assert crm.relay().delivered == 1
    with pytest.raises(ValidationError):
        crm.purge_delivered(older_than=-1)


def test_a_stored_body_is_the_events_data_encoded_once(backend: Backend) -> None:
    """The body a text store keeps is the compact JSON of the event's data, not JSON of JSON."""
    crm = quiet(backend)
    subject = crmkit.new_id()
    with crm.unit_of_work(actor="li") as uow:
        events = [
            uow.record(Noted, subject_id=subject, text=text) for text in ("Grüße", "夜", '"q"')
        ]
    if backend.is_sql:
        store = crm.store
        assert isinstance(store, SqlStore)
        outbox = store.tables.metadata.tables[f"{store.tables.prefix}outbox"]
        with store.engine.connect() as connection:
            # The column as the database holds it, without the type's decoding.
            raw = sa.type_coerce(outbox.c.body, sa.Text)
            rows = connection.execute(sa.select(outbox.c.id, raw)).all()
        bodies = {row[0]: row[1] for row in rows}
        for event in events:
            data, body = crmkit.to_dict(event), bodies[event.id]
            if isinstance(body, str):  # text; the driver hands PostgreSQL's jsonb over as data
                assert json.loads(body) == data  # JSON of JSON would load as a string
            else:
                assert body == data
    seen: list[DomainEvent] = []
    crm.subscribe(Noted, seen.append)
    assert crm.relay().delivered == 3
    assert seen == events


def test_record_many_records_each_event_at_one_instant_and_delivers_them_in_order(
    backend: Backend,
) -> None:
    crm = quiet(backend)
    seen: list[Noted] = []
    crm.subscribe(Noted, seen.append)
    subject = crmkit.new_id()
    with crm.unit_of_work(actor="li") as uow:
        made = uow.record_many(Noted, ({"subject_id": subject, "text": t} for t in "abc"))
    assert [e.text for e in made] == ["a", "b", "c"]
    assert len({e.id for e in made}) == 3
    assert {e.occurred_at for e in made} == {made[0].occurred_at}
    assert {(e.tenant_id, e.actor_id) for e in made} == {("default", "li")}
    assert crm.relay().delivered == 3
    assert seen == made


@pytest.mark.parametrize(
    ("items", "where"),
    [
        (
            [{"subject_id": crmkit.new_id(), "text": "ok"}, {"subject_id": crmkit.new_id()}],
            "[1].text",
        ),
        ([{"subject_id": crmkit.new_id(), "text": "ok", "id": crmkit.new_id()}], "[0].id"),
        ([{"subject_id": crmkit.new_id(), "text": "ok"}, "text"], "[1]"),
        ({"subject_id": crmkit.new_id(), "text": "ok"}, "items"),
        (None, "items"),
    ],
    ids=["missing field", "filled-in field", "not a mapping", "one mapping", "none"],
)
def test_record_many_refuses_a_bad_item_and_records_nothing(
    backend: Backend, items: object, where: str
) -> None:
    crm = quiet(backend)
    with crm.unit_of_work(actor="li") as uow:
        uow.record(Noted, subject_id=crmkit.new_id(), text="before")
        with pytest.raises(ValidationError) as caught:
            uow.record_many(Noted, items)  # type: ignore[arg-type]
        assert [i.path for i in caught.value.issues] == [where]
        assert [e.text for e in uow.events] == ["before"]  # type: ignore[attr-defined]
    assert crm.relay().delivered == 1


def test_record_many_is_refused_in_a_read_only_unit_of_work(backend: Backend) -> None:
    crm = quiet(backend)
    with crm.unit_of_work(actor="li", read_only=True) as uow, pytest.raises(ReadOnlyError):
        uow.record_many(Noted, [{"subject_id": crmkit.new_id(), "text": "x"}])
