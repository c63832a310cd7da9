"""The sales pipeline: leads, their assignment and reclaim, opportunities moving through stages.

A lead comes from a source channel, waits in the shared pool or is worked by its owner, is
followed up, and is either converted into a customer or disqualified. Assignment policies decide
who gets a lead and say why; the reclaim rule returns leads nobody followed up to the pool.

A `Pipeline` is configuration: ordered stages with win probabilities, forecast categories and
entry gates. An `Opportunity` moves through it with `move`, `win`, `lose` and `reopen`, which
refuse, listing every unmet requirement, what the pipeline does not allow; `missing` says so
beforehand. Each operation returns the event to record (a `PendingEvent`).

The services do all this in a unit of work, storing each change and recording its event:
`add_lead`, `assign_lead` (under a lock, with the host's `Team` of `Salesperson`s),
`follow_up_lead`, `disqualify_lead` and `reclaim_leads` (idempotent, for a schedule);
`create_opportunity`, `move_opportunity` (with `stage_check`, its dry run), `win_opportunity`,
`lose_opportunity` and `reopen_opportunity` find a deal's pipeline in the host's `Pipelines`;
`find_customer_matches` proposes the customers a lead may already be, and `convert_lead` turns
it into a customer, a contact and perhaps a deal, all or nothing.

Examples:
    >>> from crmkit.pipeline import ByWorkload, Chain, Lead, RoundRobin, Snapshot
    >>> team = Snapshot(salespeople=("li.na", "wang.fang"), open_leads={"li.na": 5})
    >>> policy = Chain(ByWorkload(cap=5), RoundRobin())
    >>> policy.decide(Lead(name="Zhao Lei", source="short_video"), team).salesperson_id
    'wang.fang'

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

from crmkit.pipeline._assignment import (
    AssignmentPolicy,
    ByIndustry,
    ByTerritory,
    ByWorkload,
    Chain,
    Decision,
    RoundRobin,
    Snapshot,
)
from crmkit.pipeline._channels import ChannelReport, ChannelRow, channel_report
from crmkit.pipeline._conversion import (
    Conversion,
    CustomerMatch,
    convert_lead,
    find_customer_matches,
)
from crmkit.pipeline._deal_services import (
    Pipelines,
    create_opportunity,
    lose_opportunity,
    move_opportunity,
    reopen_opportunity,
    stage_check,
    win_opportunity,
)
from crmkit.pipeline._events import (
    DealLost,
    DealReopened,
    DealWon,
    OpportunityCreated,
    StageChanged,
)
from crmkit.pipeline._funnel import Funnel, FunnelStage, FunnelWarning, funnel
from crmkit.pipeline._lead_events import (
    LeadAssigned,
    LeadConverted,
    LeadCreated,
    LeadDisqualified,
    LeadFollowedUp,
    LeadReclaimed,
)
from crmkit.pipeline._lead_services import (
    ASSIGNMENT_BOOK_ID,
    AssignmentBook,
    add_lead,
    add_leads,
    assign_lead,
    assign_leads,
    disqualify_lead,
    follow_up_lead,
    reclaim_leads,
)
from crmkit.pipeline._leads import (
    PROBABILITY_PLACES,
    SOURCE_CHANNELS,
    FollowUp,
    IntentGrade,
    Lead,
    LeadStatus,
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
from crmkit.pipeline._reclaim import (
    DEFAULT_RECLAIM_DAYS,
    Reclaim,
    due_for_reclaim,
    reclaim_due_at,
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
from crmkit.pipeline._team import Salesperson, Team

__all__ = [
    "ASSIGNMENT_BOOK_ID",
    "DECISION_MAKER_IDENTIFIED",
    "DEFAULT_RECLAIM_DAYS",
    "NEEDS_ANALYSIS_RECORDED",
    "PROBABILITY_PLACES",
    "QUOTE_ATTACHED",
    "SOURCE_CHANNELS",
    "AssignmentBook",
    "AssignmentPolicy",
    "ByIndustry",
    "ByTerritory",
    "ByWorkload",
    "Chain",
    "ChannelReport",
    "ChannelRow",
    "Conversion",
    "CustomerMatch",
    "DealContact",
    "DealLost",
    "DealReopened",
    "DealWon",
    "Decision",
    "FollowUp",
    "ForecastCategory",
    "Funnel",
    "FunnelStage",
    "FunnelWarning",
    "Gate",
    "IntentGrade",
    "Lead",
    "LeadAssigned",
    "LeadConverted",
    "LeadCreated",
    "LeadDisqualified",
    "LeadFollowedUp",
    "LeadReclaimed",
    "LeadStatus",
    "Opportunity",
    "OpportunityCreated",
    "PendingEvent",
    "Pipeline",
    "Pipelines",
    "Reclaim",
    "Requirement",
    "RoundRobin",
    "Salesperson",
    "Snapshot",
    "Stage",
    "StageChanged",
    "StageEntry",
    "StageGateError",
    "Team",
    "add_lead",
    "add_leads",
    "assign_lead",
    "assign_leads",
    "b2b_pipeline",
    "channel_report",
    "convert_lead",
    "create_opportunity",
    "disqualify_lead",
    "due_for_reclaim",
    "find_customer_matches",
    "follow_up_lead",
    "funnel",
    "lose",
    "lose_opportunity",
    "missing",
    "move",
    "move_opportunity",
    "open_opportunity",
    "probability",
    "reclaim_due_at",
    "reclaim_leads",
    "reopen",
    "reopen_opportunity",
    "stage_check",
    "transactional_pipeline",
    "win",
    "win_opportunity",
]
