"""Signing declared at the statement (schema/015): every money movement is signed under the
purpose its journal kind declares in SQL (journal_kind_purposes), nothing queued for signing
outlives its transaction, and a money movement committed without the server's signer is refused
by the journal's deferred constraint.

Runs on the shared server: a region, a provider with a pool, a tenant who deposits, buys,
cancels and withdraws; then reads the journal and the ledger of that tenant's accounts.
"""
import struct

import harness
import ledger_util as L
from harness import Collector, Failed, check, hour


def _req(e, method, path, body, token, want):
    r = e.c.req(method, path, body=body, token=token)
    check(r.status == want, "%s %s: %s (expected %s)" % (method, path, r.short(), want))
    return r.json


def test_ledger_signed_as_declared():
    e = harness.env()
    c = Collector()
    region = e.region()
    prov = e.account("provider")
    e.pool(prov["token"], region)
    tenant = e.account("tenant")
    tid = tenant["id"]
    _req(e, "POST", "/v1/accounts/%d/deposits" % tid, {"amount": "900.00", "memo": "e2e"}, e.admin, 201)
    body = {"gpus": 2, "duration_hours": 2, "earliest_start": hour(60), "regions": [region]}
    o = _req(e, "POST", "/v1/orders", body, tenant["token"], 201)
    check(o["state"] == "filled" and o["trades"], "order not filled: %s" % o)
    trades = [t["id"] for t in o["trades"]]
    _req(e, "POST", "/v1/trades/%d/cancel" % trades[0], None, tenant["token"], 200)
    _req(e, "POST", "/v1/accounts/%d/withdrawals" % tid, {"amount": "10.00"}, tenant["token"], 201)

    # each journal transaction of this tenant: its entry has the purpose its kind declares
    rows = L.rows(harness.db_url(),
                  "SELECT j.id, j.kind, k.purpose, coalesce(j.trade_id, 0),"
                  " (SELECT string_agg(e.purpose || ':' || encode(e.record, 'hex'), ',')"
                  "    FROM ledger_entries e WHERE e.journal_txn_id = j.id)"
                  " FROM journal_txns j LEFT JOIN trades t ON t.id = j.trade_id"
                  " LEFT JOIN journal_kind_purposes k ON k.kind = j.kind"
                  " WHERE coalesce(t.tenant_id, j.account_id) = %d ORDER BY j.id" % tid)
    kinds = sorted({r[1] for r in rows})
    c.check(kinds == ["cancellation", "deposit", "trade", "withdrawal"],
            "the tenant's journal kinds: %s" % kinds)
    for jid, kind, purpose, trade, entries in rows:
        c.check(purpose != "", "journal transaction %s: kind %s has no declared purpose" % (jid, kind))
        if kind == "trade":  # the escrow: signed as its trade's TRADE record, not on its own
            c.check(entries == "", "escrow transaction %s has its own entry: %s" % (jid, entries))
            continue
        got = entries.split(",") if entries else []
        if not c.check(len(got) == 1, "journal transaction %s (%s): %d entries, expected 1"
                       % (jid, kind, len(got))):
            continue
        p, rec = got[0].split(":")
        size, rec_purpose = struct.unpack(">II", bytes.fromhex(rec)[:8])
        c.check(p == purpose and rec_purpose == int(purpose) and size == 72,
                "journal transaction %s (%s): entry purpose %s, record purpose %d (size %d), declared %s"
                % (jid, kind, p, rec_purpose, size, purpose))
    for t in trades:
        n = L.one(harness.db_url(), "SELECT count(*) FROM ledger_entries WHERE purpose = 1 AND trade_id = %d"
                  " AND journal_txn_id IS NULL AND get_byte(record, 7) = 1" % t)
        c.check(n == "1", "trade %d: %s TRADE entries, expected 1" % (t, n))
    # nothing queued outlives its transaction
    c.check(L.one(harness.db_url(), "SELECT count(*) FROM ledger_to_sign") == "0",
            "ledger_to_sign keeps committed items")
    c.done()


def test_ledger_unsigned_money_movement_refused():
    """A deposit committed by hand (no signer) is refused at COMMIT, and leaves nothing."""
    e = harness.env()
    tenant = e.account("tenant")
    before = L.one(harness.db_url(), "SELECT count(*) FROM journal_txns WHERE account_id = %d" % tenant["id"])
    try:
        harness.psql("BEGIN; SELECT sl_deposit(%d, 100, 'by hand'); COMMIT;" % tenant["id"])
    except Failed as err:
        check("ledger_entry_required" in str(err) or "has no signed ledger entry" in str(err),
              "the unsigned deposit failed for another reason: %s" % err)
    else:
        raise Failed("a deposit without its signed ledger entry committed")
    after = L.one(harness.db_url(), "SELECT count(*) FROM journal_txns WHERE account_id = %d" % tenant["id"])
    check(before == after, "journal transactions of the account: %s before, %s after" % (before, after))
    check(L.one(harness.db_url(), "SELECT count(*) FROM ledger_to_sign") == "0",
          "the refused transaction left items in ledger_to_sign")
