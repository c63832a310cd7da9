"""The lifecycle graph and policy, the complaint's transitions, the transfer rules: no storage."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pendulum
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

import crmkit
from crmkit.customers import (
    MOVES,
    Address,
    ByRegion,
    Complaint,
    ComplaintStatus,
    Customer,
    EvenSplit,
    LifecycleChange,
    LifecyclePolicy,
    LifecycleStage,
    OwnershipTransfer,
    PurchaseSummary,
    ToOne,
    check_move,
)
from crmkit.errors import ValidationError

S = LifecycleStage
T0 = pendulum.datetime(2026, 1, 5, 8)
POLICY = LifecyclePolicy(at_risk_after=30, churned_after=90)
stages = st.sampled_from(list(LifecycleStage))


# --- the graph ---------------------------------------------------------------------------------


def test_the_main_path_and_the_way_back_are_allowed() -> None:
    path = [S.LEAD, S.PROSPECT, S.CUSTOMER, S.REPEAT_CUSTOMER, S.AT_RISK, S.CHURNED, S.WON_BACK]
    for a, b in itertools.pairwise(path):
        check_move(a, b)
    for a, b in [(S.AT_RISK, S.CUSTOMER), (S.AT_RISK, S.REPEAT_CUSTOMER), (S.WON_BACK, S.AT_RISK)]:
        check_move(a, b)


@given(stages, stages)
def test_a_move_is_refused_exactly_when_the_graph_lacks_it_and_the_error_names_both(
    a: LifecycleStage, b: LifecycleStage
) -> None:
    if b in MOVES[a]:
        check_move(a, b)
        return
    with pytest.raises(ValidationError) as e:
        check_move(a, b)
    assert e.value.issues[0].path == "stage"
    assert f"from {a} to {b}" in str(e.value)


def test_no_stage_moves_to_itself_and_every_stage_can_be_left() -> None:
    assert set(MOVES) == set(LifecycleStage)
    for stage, targets in MOVES.items():
        assert stage not in targets
        assert targets


def test_a_change_record_refuses_a_move_the_graph_lacks() -> None:
    with pytest.raises(ValidationError, match="stage"):
        LifecycleChange(
            customer_id=crmkit.new_id(),
            previous=S.CHURNED,
            stage=S.CUSTOMER,
            at=T0,
            by="li",
            reason="x",
        )


# --- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"at_risk_after": 0}, "at_risk_after"),
        ({"churned_after": 30}, "churned_after"),
        ({"repeat_after": 1}, "repeat_after"),
        ({"at_risk_after": True}, "at_risk_after"),
    ],
)
def test_bad_policy_parameters_are_refused_by_name(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as e:
        LifecyclePolicy(**{"at_risk_after": 30, **changes})  # type: ignore[arg-type]
    assert field in str(e.value)


def bought(*days: int) -> PurchaseSummary:
    times = [T0.add(days=d) for d in days]
    return PurchaseSummary(count=len(times), first_at=min(times), last_at=max(times))


@pytest.mark.parametrize(
    ("stage", "purchases", "day", "entered", "path"),
    [
        (S.LEAD, PurchaseSummary(), 10, None, []),
        (S.PROSPECT, bought(0), 1, None, [S.CUSTOMER]),
        (S.LEAD, bought(0, 3), 5, None, [S.CUSTOMER, S.REPEAT_CUSTOMER]),
        (S.CUSTOMER, bought(0), 29, None, []),
        (S.CUSTOMER, bought(0), 30, None, [S.AT_RISK]),
        (S.REPEAT_CUSTOMER, bought(0, 1), 91, None, [S.CHURNED]),
        (S.AT_RISK, bought(0), 95, 40, [S.CHURNED]),
        (S.AT_RISK, bought(0, 50), 51, 40, [S.REPEAT_CUSTOMER]),
        (S.AT_RISK, bought(0), 35, 31, []),
        (S.CHURNED, bought(0, 200), 201, 100, [S.WON_BACK]),
        (S.CHURNED, bought(0), 200, 100, []),
        (S.WON_BACK, bought(0, 200, 230), 231, 201, [S.REPEAT_CUSTOMER]),
        (S.WON_BACK, bought(0, 200), 240, 201, [S.AT_RISK]),
        (S.LEAD, bought(0), 100, None, [S.CUSTOMER, S.CHURNED]),
    ],
)
def test_the_policy_moves_by_its_rules(
    stage: LifecycleStage,
    purchases: PurchaseSummary,
    day: int,
    entered: int | None,
    path: list[LifecycleStage],
) -> None:
    since = None if entered is None else T0.add(days=entered)
    decision = POLICY.decide(stage, purchases, now=T0.add(days=day), entered_at=since)
    assert [m.stage for m in decision.moves] == path
    assert decision.target == (path[-1] if path else stage)
    assert all(m.reason for m in decision.moves)


purchase_days = st.lists(st.integers(0, 400), max_size=5)


@given(stages, purchase_days, st.integers(0, 500), st.none() | st.integers(0, 500))
def test_every_decided_move_is_allowed_and_deciding_again_moves_nothing(
    stage: LifecycleStage, days: list[int], now_day: int, entered_day: int | None
) -> None:
    p = bought(*days) if days else PurchaseSummary()
    now = T0.add(days=now_day)
    since = None if entered_day is None else T0.add(days=entered_day)
    decision = POLICY.decide(stage, p, now=now, entered_at=since)
    current = stage
    for move in decision.moves:
        assert move.previous == current
        check_move(move.previous, move.stage)
        current = move.stage
    assert len(decision.moves) <= 4
    if decision.moves:
        again = POLICY.decide(decision.target, p, now=now, entered_at=now)
        assert again.moves == ()
    if not days:
        assert decision.moves == ()


# --- complaints ---------------------------------------------------------------------------------


def a_complaint(**changes: object) -> Complaint:
    fields: dict[str, object] = {
        "customer_id": crmkit.new_id(),
        "subject": "包裹晚到三天",
        "cause": "late_delivery",
        "opened_at": T0,
        "due": T0.add(days=2),
    }
    fields.update(changes)
    return Complaint(**fields)  # type: ignore[arg-type]


def test_a_complaint_goes_open_in_progress_resolved_and_can_be_reopened() -> None:
    c = a_complaint()
    c.start("wang.fang")
    assert (c.status, c.assignee_id) == (ComplaintStatus.IN_PROGRESS, "wang.fang")
    c.resolve("refunded the shipping fee", at=T0.add(hours=3))
    assert (c.status, c.closed_at, c.is_open) == (ComplaintStatus.RESOLVED, T0.add(hours=3), False)
    c.reopen()
    assert (c.status, c.closed_at, c.resolution) == (ComplaintStatus.OPEN, None, None)


def test_closing_needs_a_resolution_and_a_time_after_opening() -> None:
    c = a_complaint()
    with pytest.raises(ValidationError, match="resolution"):
        c.resolve("  ", at=T0)
    with pytest.raises(ValidationError, match="at"):
        c.reject("not ours", at=T0.subtract(seconds=1))
    assert c.status is ComplaintStatus.OPEN


def test_status_and_resolution_change_only_through_the_operations() -> None:
    c = a_complaint()
    with pytest.raises(ValidationError, match="status"):
        c.status = ComplaintStatus.RESOLVED
    with pytest.raises(ValidationError, match="resolution"):
        c.resolution = "done"


def test_a_closed_complaint_cannot_be_worked_on() -> None:
    c = a_complaint()
    c.reject("not our parcel", at=T0)
    actions: list[Callable[[], None]] = [
        c.start,
        lambda: c.reassign("li"),
        lambda: c.resolve("x", at=T0),
    ]
    for action in actions:
        with pytest.raises(ValidationError, match="status"):
            action()


def test_overdue_means_open_past_its_due_time() -> None:
    c = a_complaint()
    assert not c.is_overdue(T0.add(days=2))
    assert c.is_overdue(T0.add(days=2, seconds=1))
    c.resolve("done", at=T0.add(days=1))
    assert not c.is_overdue(T0.add(days=9))


class ComplaintMachine(RuleBasedStateMachine):
    """Random operations on a complaint agree with the status graph, and never break it."""

    def __init__(self) -> None:
        super().__init__()
        self.complaint = a_complaint()
        self.model = ComplaintStatus.OPEN

    def _try(self, action: object, allowed: bool, then: ComplaintStatus) -> None:
        if allowed:
            action()  # type: ignore[operator]
            self.model = then
        else:
            with pytest.raises(ValidationError):
                action()  # type: ignore[operator]

    @rule()
    def start(self) -> None:
        self._try(
            self.complaint.start, self.model is ComplaintStatus.OPEN, ComplaintStatus.IN_PROGRESS
        )

    @rule(done=st.booleans())
    def close(self, done: bool) -> None:
        c = self.complaint
        act = c.resolve if done else c.reject
        target = ComplaintStatus.RESOLVED if done else ComplaintStatus.REJECTED
        self._try(lambda: act("handled", at=T0.add(hours=1)), c.is_open, target)

    @rule()
    def reopen(self) -> None:
        c = self.complaint
        self._try(c.reopen, not c.is_open, ComplaintStatus.OPEN)

    @invariant()
    def agrees_and_is_valid(self) -> None:
        assert self.complaint.status is self.model
        assert crmkit.from_dict(crmkit.to_dict(self.complaint), Complaint) == self.complaint


TestComplaintMachine = ComplaintMachine.TestCase
TestComplaintMachine.settings = settings(max_examples=50, stateful_step_count=12, deadline=None)


# --- transfer rules --------------------------------------------------------------------------


def customers(n: int, **fields: object) -> list[Customer]:
    return [Customer(name=f"C{i}", owner_id="li", **fields) for i in range(n)]  # type: ignore[arg-type]


@given(st.integers(0, 40), st.integers(1, 6))
def test_an_even_split_is_balanced_to_one_and_deterministic(n: int, k: int) -> None:
    owners = tuple(f"rep{i}" for i in range(k))
    book = customers(n)
    placed = EvenSplit(owners).place(book)
    counts = [list(placed.values()).count(o) for o in owners]
    assert sum(counts) == n
    assert max(counts) - min(counts) <= 1
    assert EvenSplit(owners).place(list(reversed(book))) == placed


def test_to_one_places_everyone_with_the_one() -> None:
    book = customers(3)
    assert set(ToOne("wang").place(book).values()) == {"wang"}


def test_by_region_uses_the_region_then_the_city_then_the_default() -> None:
    gd = Customer(name="A", owner_id="li", address=Address(region="广东省", city="深圳市"))
    sz = Customer(name="B", owner_id="li", address=Address(city="深圳市"))
    none = Customer(name="C", owner_id="li")
    rule_ = ByRegion({"广东省": "wang", "深圳市": "zhao"}, default="chen")
    assert rule_.place([gd, sz, none]) == {gd.id: "wang", sz.id: "zhao", none.id: "chen"}
    assert rule_.owners == ("wang", "zhao", "chen")


def test_by_region_without_a_default_refuses_a_customer_it_cannot_place() -> None:
    with pytest.raises(ValidationError, match="places no customer"):
        ByRegion({"广东省": "wang"}).place(customers(1))


@pytest.mark.parametrize(
    "make",
    [
        lambda: EvenSplit(()),
        lambda: EvenSplit(("wang", "wang")),
        lambda: ToOne(" li"),
        lambda: ByRegion({}),
        lambda: ByRegion({"广东省": ""}),
    ],
)
def test_bad_rules_are_refused(make: object) -> None:
    with pytest.raises(ValidationError):
        make()  # type: ignore[operator]


def test_a_transfer_record_may_not_hand_to_the_departing_owner() -> None:
    with pytest.raises(ValidationError, match="to_owners"):
        OwnershipTransfer(
            from_owner="li", to_owners=("li",), rule="to_one", at=T0, by="boss", reason="x"
        )
