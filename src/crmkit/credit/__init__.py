"""Credit: credit limits by tier and payment history, the order check, receivables ageing.

The credit-limit policy is pure: `credit_limit` starts from a customer's base limit, adjusts it
by tier and by payment history (`PaymentHistory`), adds the `TemporaryIncrease`s in force, and
returns a `CreditLimit` that lists every step. `CreditPolicy` holds the parameters, with
documented defaults a host may change.

`check_order` decides whether a customer (its `CreditPosition`: what it owes, what is overdue,
whether it is on credit hold) may take an order: a `CreditDecision` to approve, warn or block,
with every `Reason` and the figures. A block is overridden only by a recorded `CreditOverride`
naming the order and at least its amount (`covers`, `override_problem`).

`ageing` buckets open items (`OpenItem`) by days overdue per customer, per owner and in total;
`overdue_warnings`, `days_sales_outstanding` and `bad_debt_rate` complete the receivables
figures. They are the references the SQL stores match.

Examples:
    >>> import pendulum
    >>> from crmkit import Money
    >>> from crmkit.credit import CreditPosition, check_order, credit_limit
    >>> limit = credit_limit(Money("100000", "CNY"), tier="C")
    >>> limit.limit
    Money('70000.00', 'CNY')
    >>> position = CreditPosition(
    ...     unpaid_invoices=Money("50000", "CNY"), open_orders=Money("12000", "CNY"))
    >>> decision = check_order(position, limit, Money("9000", "CNY"),
    ...                        at=pendulum.datetime(2026, 3, 2))
    >>> decision.outcome, [str(r.code) for r in decision.reasons]
    (<Outcome.BLOCK: 'block'>, ['limit_exceeded'])
"""

# --- policy, order check and ageing (pure) ---
from crmkit.credit._ageing import (
    BAD_DEBT_PLACES,
    DSO_PLACES,
    Ageing,
    AgeingRow,
    Bucket,
    OpenItem,
    OverdueWarning,
    ageing,
    bad_debt_rate,
    days_sales_outstanding,
    overdue_warnings,
)
from crmkit.credit._decision import (
    CreditDecision,
    CreditOverride,
    CreditPosition,
    Outcome,
    Reason,
    ReasonCode,
    check_order,
    covers,
    override_problem,
)
from crmkit.credit._policy import (
    CreditLimit,
    CreditPolicy,
    ExposurePart,
    LimitStep,
    PaymentHistory,
    TemporaryIncrease,
    credit_limit,
)

__all__ = [
    "BAD_DEBT_PLACES",
    "DSO_PLACES",
    "Ageing",
    "AgeingRow",
    "Bucket",
    "CreditDecision",
    "CreditLimit",
    "CreditOverride",
    "CreditPolicy",
    "CreditPosition",
    "ExposurePart",
    "LimitStep",
    "OpenItem",
    "Outcome",
    "OverdueWarning",
    "PaymentHistory",
    "Reason",
    "ReasonCode",
    "TemporaryIncrease",
    "ageing",
    "bad_debt_rate",
    "check_order",
    "covers",
    "credit_limit",
    "days_sales_outstanding",
    "overdue_warnings",
    "override_problem",
]
