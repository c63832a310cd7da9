"""The outbox's law, on every store: whatever units of work commit or roll back, whatever
handlers fail and however the clock moves, once the handlers heal every committed event has been
delivered exactly once (one relay at a time, no crash), no rolled-back event ever was, and each
aggregate's events went out in the order they were committed.
"""

from __future__ import annotations

import os
from uuid import UUID

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from crmkit import FixedClock

from .conftest import NOW, Backend
from .test_outbox import Noted

SUBJECTS = [UUID(int=n) for n in range(1, 4)]


class OutboxLaw(RuleBasedStateMachine):
    """Units of work that commit or roll back, relays with failing handlers, a moving clock."""

    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        self.clock = FixedClock(NOW)
        self.crm = self.backend.fresh(clock=self.clock)
        self.failing: set[str] = set()
        self.committed: dict[UUID, list[str]] = {s: [] for s in SUBJECTS}
        self.rolled_back: set[str] = set()
        self.delivered: list[tuple[UUID, str]] = []  # successful deliveries, in order
        self.texts = 0
        self.parked: set[str] = set()
        self.crm.subscribe(Noted, self.handle)

    def handle(self, event: Noted) -> None:
        if event.text in self.failing:
            raise RuntimeError(f"handler fails on {event.text}")
        self.delivered.append((event.subject_id, event.text))

    def text(self) -> str:
        self.texts += 1
        return f"t{self.texts}"

    @rule(
        subjects=st.lists(st.sampled_from(SUBJECTS), min_size=1, max_size=3),
        commit=st.booleans(),
        fail=st.booleans(),
    )
    def unit_of_work(self, subjects: list[UUID], commit: bool, fail: bool) -> None:
        texts = [self.text() for _ in subjects]
        if fail:
            self.failing.update(texts)
        with self.crm.unit_of_work(actor="law") as uow:
            for subject, text in zip(subjects, texts, strict=True):
                uow.record(Noted, subject_id=subject, text=text)
            if not commit:
                uow.rollback()
        if commit:
            for subject, text in zip(subjects, texts, strict=True):
                self.committed[subject].append(text)
        else:
            self.rolled_back.update(texts)

    @rule(seconds=st.sampled_from([0, 1, 5, 60]), attempts=st.integers(1, 3))
    def relay(self, seconds: int, attempts: int) -> None:
        self.clock.advance(seconds=seconds)
        self.crm.relay(attempts=attempts, backoff=1.0)

    @rule(texts=st.sets(st.integers(1, 30)))
    def heal_some(self, texts: set[int]) -> None:
        self.failing -= {f"t{n}" for n in texts}

    @invariant()
    def never_a_rolled_back_event_nor_one_twice_nor_out_of_order(self) -> None:
        texts = [text for _, text in self.delivered]
        assert not set(texts) & self.rolled_back
        assert len(texts) == len(set(texts))
        parked = {str(p.data["text"]) for p in self.crm.parked_events(limit=1000)}
        self.parked |= parked
        for subject, committed in self.committed.items():
            # Apart from parked events (set aside), each aggregate's events go out in commit
            # order, and none before an earlier one: what went out is a first part.
            mine = [t for s, t in self.delivered if s == subject and t not in self.parked]
            expected = [t for t in committed if t not in self.parked]
            assert mine == expected[: len(mine)], (mine, expected)

    def teardown(self) -> None:
        self.failing.clear()
        self.crm.retry_parked()
        self.clock.advance(days=1)
        self.crm.relay()
        self.never_a_rolled_back_event_nor_one_twice_nor_out_of_order()
        texts = [text for _, text in self.delivered]
        committed = [t for texts_ in self.committed.values() for t in texts_]
        assert sorted(texts) == sorted(committed)
        assert len(texts) == len(set(texts))


def test_every_committed_event_is_delivered_once_and_in_order_nothing_else(
    backend: Backend,
) -> None:
    server = backend.name in ("postgres", "mysql")
    examples = int(os.environ.get("CRMKIT_OUTBOX_EXAMPLES", "10" if server else "30"))
    machine = type(f"OutboxLaw_{backend.name}", (OutboxLaw,), {"backend": backend})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=examples,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )


def test_without_failures_each_aggregate_goes_out_in_commit_order(backend: Backend) -> None:
    crm = backend.fresh(relay_on_commit=False)
    seen: list[tuple[UUID, str]] = []
    crm.subscribe(Noted, lambda e: seen.append((e.subject_id, e.text)))
    expected: dict[UUID, list[str]] = {s: [] for s in SUBJECTS}
    for n in range(30):
        subject = SUBJECTS[(n * 7) % len(SUBJECTS)]
        with crm.unit_of_work(actor="law") as uow:
            uow.record(Noted, subject_id=subject, text=str(n))
        expected[subject].append(str(n))
    crm.relay()
    for subject in SUBJECTS:
        assert [t for s, t in seen if s == subject] == expected[subject]
