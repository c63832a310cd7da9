"""The sales pipeline: opportunities moving through configured stages, guarded by gates.

A `Pipeline` is configuration: ordered stages with win probabilities, forecast categories and
entry gates. An `Opportunity` moves through it with `move`, `win`, `lose` and `reopen`, which
refuse, listing every unmet requirement, what the pipeline does not allow; `missing` says so
beforehand. Each operation returns the event to record (a `PendingEvent`).

Examples:
    >>> import datetime as dt, pendulum
    >>> from crmkit import Money, new_id
    >>> from crmkit.pipeline import b2b_pipeline, missing, move, open_opportunity
    >>> p = b2b_pipeline()
    >>> deal, _ = open_opportunity(
    ...     p, at=pendulum.datetime(2026, 3, 2), name="200 licences", customer_id=new_id(),
    ...     owner_id="li", amount=Money("90000", "CNY"), expected_close=dt.date(2026, 6, 30))
    >>> _ = move(deal, p, "needs_analysis", at=pendulum.datetime(2026, 3, 3))
    >>> [str(r) for r in missing(deal, p, "proposal")]
    ['proposal: needs analysis recorded', 'proposal: decision maker identified']
"""

# --- opportunities and stages (issue 16, item 5) ---
from crmkit.pipeline._events import (
    DealLost,
    DealReopened,
    DealWon,
    OpportunityCreated,
    StageChanged,
)
from crmkit.pipeline._opportunities import (
    DealContact,
    Opportunity,
    PendingEvent,
    StageEntry,
    lose,
    missing,
    move,
    open_opportunity,
    probability,
    reopen,
    win,
)
from crmkit.pipeline._stages import (
    DECISION_MAKER_IDENTIFIED,
    NEEDS_ANALYSIS_RECORDED,
    QUOTE_ATTACHED,
    ForecastCategory,
    Gate,
    Pipeline,
    Requirement,
    Stage,
    StageGateError,
    b2b_pipeline,
    transactional_pipeline,
)

# --- end of opportunities and stages ---

__all__ = [
    # opportunities and stages
    "DECISION_MAKER_IDENTIFIED",
    "NEEDS_ANALYSIS_RECORDED",
    "QUOTE_ATTACHED",
    "DealContact",
    "DealLost",
    "DealReopened",
    "DealWon",
    "ForecastCategory",
    "Gate",
    "Opportunity",
    "OpportunityCreated",
    "PendingEvent",
    "Pipeline",
    "Requirement",
    "Stage",
    "StageChanged",
    "StageEntry",
    "StageGateError",
    "b2b_pipeline",
    "lose",
    "missing",
    "move",
    "open_opportunity",
    "probability",
    "reopen",
    "transactional_pipeline",
    "win",
    # end of opportunities and stages
]
