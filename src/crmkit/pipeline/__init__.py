"""The sales pipeline: leads, their assignment and reclaim, opportunities and stages.

A lead comes from a source channel, waits in the shared pool or is worked by its owner, is
followed up, and is either converted into a customer or disqualified. Assignment policies decide
who gets a lead and say why; the reclaim rule returns leads nobody followed up to the pool.

Examples:
    >>> from crmkit.pipeline import ByWorkload, Chain, Lead, RoundRobin, Snapshot
    >>> team = Snapshot(salespeople=("li.na", "wang.fang"), open_leads={"li.na": 5})
    >>> policy = Chain(ByWorkload(cap=5), RoundRobin())
    >>> policy.decide(Lead(name="Zhao Lei", source="short_video"), team).salesperson_id
    'wang.fang'
"""

# --- leads, assignment and reclaim (issue 16 items 1-3) ------------------------------------------
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
from crmkit.pipeline._lead_events import (
    LeadAssigned,
    LeadConverted,
    LeadCreated,
    LeadDisqualified,
    LeadFollowedUp,
    LeadReclaimed,
)
from crmkit.pipeline._leads import (
    PROBABILITY_PLACES,
    SOURCE_CHANNELS,
    FollowUp,
    IntentGrade,
    Lead,
    LeadStatus,
)
from crmkit.pipeline._reclaim import (
    DEFAULT_RECLAIM_DAYS,
    Reclaim,
    due_for_reclaim,
    reclaim_due_at,
)

__all__ = [
    "DEFAULT_RECLAIM_DAYS",
    "PROBABILITY_PLACES",
    "SOURCE_CHANNELS",
    "AssignmentPolicy",
    "ByIndustry",
    "ByTerritory",
    "ByWorkload",
    "Chain",
    "Decision",
    "FollowUp",
    "IntentGrade",
    "Lead",
    "LeadAssigned",
    "LeadConverted",
    "LeadCreated",
    "LeadDisqualified",
    "LeadFollowedUp",
    "LeadReclaimed",
    "LeadStatus",
    "Reclaim",
    "RoundRobin",
    "Snapshot",
    "due_for_reclaim",
    "reclaim_due_at",
]
# --- end of leads, assignment and reclaim --------------------------------------------------------
