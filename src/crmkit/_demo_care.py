"""The demo's customer care desk: a file imported, a duplicate found and merged, a 360 view.

A file from a trade show is imported with one bad row reported; one of its companies is a
customer the CRM already has under a slightly different name. The duplicate finder points at
it with its reasons, the merge is planned (the dry run) and carried out, and the survivor's
360 view is printed. Deterministic: the demo's customers and a `FixedClock`.
"""

from __future__ import annotations

import enum
import io
from collections.abc import Callable

import crmkit
from crmkit.customers import (
    Channel,
    Customer,
    CustomersMerged,
    find_duplicate_customers,
    import_contacts,
    import_customers,
    merge_customers,
    plan_merge,
)
from crmkit.views import customer_360

__all__ = ["run_care_desk"]


def run_care_desk(crm: crmkit.CRM, customers: list[Customer], out: Callable[[str], object]) -> None:
    """Import a trade-show file, find and merge the duplicate it made, and show the survivor."""
    # A company the CRM has, under a name written the Chinese way if one is at hand.
    known = next((c for c in customers[:20] if c.name.endswith("有限公司")), customers[0])
    phone = known.contacts[0].phones[0]
    merged: list[CustomersMerged] = []
    crm.subscribe(CustomersMerged, merged.append)

    out("\nCustomer care: a trade-show file imported")
    # The same company as the trade-show staff typed it: full-width brackets round its city,
    # another company suffix.
    city = known.name[:2]
    twin = known.name[2:].replace("有限公司", f"\uff08{city}\uff09有限责任公司")
    lines = [
        "external_id,name,owner_id,city,postcode,tags,birthday",
        f"TS-001,{twin},zhou.ting,,,trade_show|follow up,",
        "TS-002,杭州新锐包装有限公司,zhou.ting,杭州市,310000,trade_show,",
        "TS-003,Nova Logistics Co. Ltd.,zhou.ting,Ningbo,315000,trade_show,2026-02-30",
    ]
    report = import_customers(crm, io.StringIO("\n".join(lines) + "\n"), actor="zhou.ting")
    out(f"  customers: {report.summary()}")
    for error in report.errors:
        out(f"    refused {error}")
    people = io.StringIO(
        "customer_external_id,external_id,name,phones\n"
        f"TS-001,TS-P-1,{known.contacts[0].name},{phone.e164}\n"
    )
    out(f"  contacts: {import_contacts(crm, people, actor='zhou.ting', region='CN').summary()}")

    with crm.unit_of_work(actor="zhou.ting", read_only=True) as uow:
        pairs = find_duplicate_customers(uow)
        imported = uow.customers.by_external_ids(["TS-001"])["TS-001"]
    ours = [p for p in pairs if imported.id in (p.a_id, p.b_id)]
    out(f"\nThe duplicate finder: {len(pairs)} candidate pairs among the tenant's customers")
    for pair in ours:
        out(f"  {pair.score:.4f}  {'; '.join(pair.reasons)}")
    if not ours:
        out("  (the imported company was not matched)")
        return

    with crm.unit_of_work(actor="wang.fang", read_only=True) as uow:
        plan = plan_merge(uow, into=known.id, merged=imported.id)
    out(f"\nDry run: merging {imported.name!r} into {known.name!r} would move")
    out("  " + ", ".join(f"{n} {record}" for record, n in sorted(plan.moved.items())))
    for conflict in plan.conflicts:
        kept, dropped = _shown(conflict.kept), _shown(conflict.dropped)
        out(f"  {conflict.field}: keep {kept}, drop {dropped} ({conflict.rule})")
    with crm.unit_of_work(actor="wang.fang") as uow:
        merge_customers(uow, into=known.id, merged=imported.id)
    for event in merged:
        out(f"  merged: CustomersMerged recorded ({sum(event.moved.values())} records moved)")

    with crm.unit_of_work(actor="wang.fang", read_only=True) as uow:
        view = customer_360(uow, known.id)
    survivor = view.customer
    out(f"\nCustomer 360 after the merge: {survivor.name} ({survivor.code})")
    out(f"  external id {survivor.external_id}, tags {', '.join(sorted(survivor.tags))}")
    out(f"  contacts: {', '.join(c.name for c in survivor.contacts)}")
    out(f"  lifecycle {view.lifecycle.value}, {len(view.interactions)} recent interactions")
    answer = view.may_contact(Channel.CALL)
    out(f"  may we call now? {'yes' if answer else 'no'}")


def _shown(value: object) -> str:
    return repr(value.value) if isinstance(value, enum.Enum) else repr(value)
