"""Settlement: accounting periods, statements and signed exports, against a month of activity.

The module runs on a database of its own with a suanlid of its own (ports 18800..18899, its own
SUANLI_KEY_DIR, SUANLI_MAINTENANCE_MS=200), built once by settlement_util.world():

  * a month-like run: 4 regions (one edge), 3 providers with 7 pools, 6 tenants, 3 operators;
    deposits (one memo with a comma, quotes and CJK), trades, a split order over two pools,
    cancellations outside (free) and inside (charged) the free window, a silent pool that goes
    offline so its trades fail over (refunds, replacement trades, an order refunded with no
    replacement), settlements by the maintenance worker, withdrawals of tenants and a provider;
  * activity before the period (phase A, its last transaction 1 us before the start), inside it
    (B1 at its first microsecond, the market B2, B3 ending 1 us before its end), at the next
    period's first microsecond (B4) and after it (phase C, real time);
  * TEST-ONLY, how the activity reaches last month: the world's database runs on a test clock
    (schema/014_clock.sql), switched on before its server first starts, frozen two days before
    last month and moved only forward by the set-up (`suanlid clock set`): the server and SQL
    take business time from it, so trade windows, journal times, orders, reservations, the
    calendar and the signed ledger all carry last month's times as the exchange itself wrote
    them — nothing is rewritten or re-signed.  The clock then runs at the real time for phase
    C.  The set-up is checked by the auditor itself: `suanlid audit` must be clean after the
    month, and again after the period is closed.  Details: settlement_util's docstring;
  * then POST /v1/periods {} closes last calendar month.

Every expectation is computed independently from the raw postings, journal and trades (SQL +
Python in settlement_util.period_postings), never from sl_period_lines.  Tests run in file
order and share the world; each reports every problem it finds (Collector).
"""
import os
import struct
import time

import harness
import ledger_util as L
import settlement_util as U
from harness import Collector, Failed, check, error_problems
from market_util import money

PERIOD_KEYS = {"id", "start", "end", "closed_at", "closed_by", "export_sha256", "ledger_entry"}
TOTAL_MONEY = ("deposits", "withdrawals", "charges", "refunds", "settled", "payouts", "platform_fees",
               "gross_earnings", "refunds_borne")
CSV_HEADER = ["account_id", "account_kind", "txn_id", "at", "kind", "trade_id", "pool_id", "region", "gpu_hours",
              "available_change", "escrow_change", "fee", "memo"]


def _w():
    return U.world()


def _folder():
    d = os.path.join(harness.out_dir(), "settlement")
    os.makedirs(d, exist_ok=True)
    return d


def _keys(w):
    r = w.c.get("/v1/keys")
    check(r.status == 200, "GET /v1/keys: %s" % r.short())
    return r.json


def _pid(w):
    return w.period["id"]


def _stmt(w, account_id, fmt=None, token=None):
    q = "" if fmt is None else "?format=" + fmt
    return w.c.get("/v1/periods/%d/statements/%d%s" % (_pid(w), account_id, q), token=token or w.admin)


_lines_cache = {}


def _lines(w, start=None, end=None):
    key = (start or w.S, end or w.E)
    if key not in _lines_cache:
        _lines_cache[key] = U.period_postings(w.url, *key)
    return _lines_cache[key]


def _acct_lines(lines, owner):
    return sorted((ln for ln in lines.values() if ln.account == owner), key=lambda ln: ln.txn)


def _line_json(ln):
    return {"txn_id": ln.txn, "at": U.rfc3339(ln.at), "kind": ln.kind, "trade_id": ln.trade or None,
            "pool_id": ln.pool or None, "region": ln.region, "gpu_hours": ln.gpu_hours or None,
            "available_change": money(ln.avail), "escrow_change": money(ln.escrow), "fee": money(ln.fee),
            "memo": ln.memo}


def _line_csv(ln):
    return [str(ln.account), ln.kind_of_account, str(ln.txn), U.rfc3339(ln.at), ln.kind,
            str(ln.trade) if ln.trade else "", str(ln.pool) if ln.pool else "", ln.region,
            str(ln.gpu_hours) if ln.gpu_hours else "", money(ln.avail), money(ln.escrow), money(ln.fee), ln.memo]


def _accounts(w):
    """(id, kind, token) of every account with a statement, the exchange (0) included."""
    out = [(a["id"], a["kind"], a["token"]) for a in w.all_accounts]
    return out + [(0, "exchange", w.admin)]


def _borne(lines, provider):
    """{pool: refunds paid back to tenants on this provider's trades} in the lines' period."""
    out = {}
    for ln in lines.values():
        if ln.provider == provider and ln.account == ln.tenant and ln.kind in ("refund", "cancellation"):
            out[ln.pool] = out.get(ln.pool, 0) + ln.avail
    return out


def _expected_groups(kind, own, borne):
    """The per-trade / per-pool / per-region groups a statement must carry, by key."""
    g = {}
    if kind == "tenant":
        for ln in own:
            if not ln.trade:
                continue
            x = g.setdefault(ln.trade, {"trade_id": ln.trade, "gpu_hours": 0, "charged": 0, "refunded": 0, "causes": []})
            if ln.kind == "trade":
                x["charged"] += ln.escrow
            if ln.kind in ("refund", "cancellation"):
                x["refunded"] += ln.avail
                x["causes"].append({"kind": ln.kind, "memo": ln.memo})
            if ln.kind == "settlement":
                x["gpu_hours"] += ln.gpu_hours
    elif kind == "provider":
        for ln in own:
            if not ln.pool:
                continue
            x = g.setdefault(ln.pool, {"pool_id": ln.pool, "gpu_hours": 0, "payout": 0, "fees": 0, "refunds_borne": 0})
            x["payout"] += ln.avail
            x["fees"] += ln.fee
            if ln.kind == "settlement":
                x["gpu_hours"] += ln.gpu_hours
        for pool, amount in borne.items():
            x = g.setdefault(pool, {"pool_id": pool, "gpu_hours": 0, "payout": 0, "fees": 0, "refunds_borne": 0})
            x["refunds_borne"] += amount
    elif kind == "exchange":
        for ln in own:
            if ln.region and ln.fee:
                x = g.setdefault(ln.region, {"region": ln.region, "fees": 0})
                x["fees"] += ln.fee
    return g


def _group_problems(label, kind, got, want):
    p = []
    idk = {"tenant": "trade_id", "provider": "pool_id"}.get(kind, "region")
    if not isinstance(got, list):
        return ["%s: groups are not a list: %r" % (label, got)]
    by = {}
    for x in got:
        by[x.get(idk)] = x
    if set(by) != set(want):
        p.append("%s: groups for %s %s, expected %s" % (label, idk, sorted(by, key=str), sorted(want, key=str)))
    for k, wx in want.items():
        gx = by.get(k)
        if gx is None:
            continue
        if kind == "tenant":
            exp = {"gpu_hours": wx["gpu_hours"], "charged": money(wx["charged"]), "refunded": money(wx["refunded"])}
            have = {f: gx.get(f) for f in exp}
            if have != exp:
                p.append("%s: trade %s group %s, expected %s" % (label, k, have, exp))
            causes = gx.get("refund_causes", [])
            if causes != wx["causes"]:
                p.append("%s: trade %s refund_causes %s, expected %s" % (label, k, causes, wx["causes"]))
        elif kind == "provider":
            exp = {"gpu_hours": wx["gpu_hours"], "payout": money(wx["payout"]), "fees": money(wx["fees"]),
                   "refunds_borne": money(wx["refunds_borne"])}
            have = {f: gx.get(f) for f in exp}
            if have != exp:
                p.append("%s: pool %s group %s, expected %s" % (label, k, have, exp))
        else:
            if gx.get("fees") != money(wx["fees"]):
                p.append("%s: region %s fees %s, expected %s" % (label, k, gx.get("fees"), money(wx["fees"])))
    return p


# ---------------------------------------------------------------- the close

def test_close_last_month_period_signed():
    """POST /v1/periods {} closes last calendar month: the Period's fields, its PERIOD_CLOSE ledger
    entry (record decoded, its signature recomputed with the exchange's key, sequenced, and
    accepted by `suanli-verify receipt`), GET list / one, visible to any role, and an
    Idempotency-Key replay that closes nothing more."""
    w = _w()
    c = Collector()
    p = w.period
    c.check(set(p) == PERIOD_KEYS, "period keys %s, expected %s" % (sorted(p), sorted(PERIOD_KEYS)))
    c.check((p.get("start"), p.get("end")) == (U.rfc3339(w.S), U.rfc3339(w.E)),
            "closed %s..%s, expected last month %s..%s" % (p.get("start"), p.get("end"), U.rfc3339(w.S), U.rfc3339(w.E)))
    c.check(p.get("closed_by") == w.admin_id, "closed_by %s, expected the admin %s" % (p.get("closed_by"), w.admin_id))
    closed_at = U.epoch_of(p["closed_at"]) if isinstance(p.get("closed_at"), str) else 0
    c.check(abs(closed_at - time.time()) < 300, "closed_at %s is not now" % p.get("closed_at"))
    db_sha = w.q1("SELECT encode(export_sha256, 'hex') FROM periods WHERE id = %d" % p["id"])
    c.check(p.get("export_sha256") == db_sha and len(db_sha or "") == 64,
            "export_sha256 %s, periods row has %s" % (p.get("export_sha256"), db_sha))
    # the PERIOD_CLOSE entry: 80 bytes, purpose 9, period id, range, digest, signed by the exchange
    row = w.q("SELECT purpose, encode(record, 'hex'), key_id, encode(signature, 'hex') FROM ledger_entries WHERE id = %s"
              % int(p.get("ledger_entry") or 0))
    if c.check(len(row) == 1, "ledger_entry %s is not a ledger entry" % p.get("ledger_entry")):
        purpose, rec_hex, kid, sig_hex = row[0]
        rec = bytes.fromhex(rec_hex)
        if c.check(len(rec) == 80, "PERIOD_CLOSE record of %d bytes, expected 80" % len(rec)):
            size, purp, entry_id, period_id, start, end = struct.unpack(">IIQQqq", rec[:40])
            sha, at = rec[40:72], struct.unpack(">q", rec[72:80])[0]
            c.check((size, purp, int(purpose), entry_id, period_id, start, end, sha.hex()) ==
                    (80, 9, 9, p["ledger_entry"], p["id"], w.S, w.E, db_sha),
                    "PERIOD_CLOSE record (size, purpose, row purpose, entry, period, start, end, sha) = %s"
                    % ((size, purp, purpose, entry_id, period_id, start, end, sha.hex()),))
            c.check(abs(at - closed_at) <= 1, "PERIOD_CLOSE at %d, closed_at %d" % (at, closed_at))
            want_sig = L.ed25519_sign(L.read_seed(w.keys, kid), rec).hex()
            c.check(sig_hex == want_sig, "the PERIOD_CLOSE signature is not Ed25519(key %s, record)" % kid)
        # it is a ledger entry like the others: sequenced into the tree, readable with its proof
        L.wait_sequenced(w.c, w.url, w.admin)
        r = w.c.get("/v1/ledger/entries/%d" % p["ledger_entry"], token=w.admin)
        c.check(r.status == 200 and r.json.get("purpose") == 9 and r.json.get("record") == rec_hex
                and r.json.get("signature") == sig_hex and r.json.get("leaf_index") is not None
                and r.json.get("inclusion_proof") is not None,
                "GET /v1/ledger/entries/%s (the PERIOD_CLOSE entry): %s" % (p["ledger_entry"], r.short()))
        if r.status == 200:  # and it verifies offline as a receipt, inclusion proof included
            rc, out = L.verify("receipt", L.write_json(_folder(), "period_close.json", r.json),
                               L.write_json(_folder(), "keys.json", _keys(w)))
            c.check(rc == 0, "suanli-verify receipt of the PERIOD_CLOSE entry: exit %d: %s" % (rc, out[-400:]))
    # GET /v1/periods and /v1/periods/{id}, for every role
    for label, tok in (("admin", w.admin), ("tenant", w.tenants[0]["token"]), ("provider", w.providers[0]["token"]),
                       ("operator", w.operators[0]["token"])):
        r = w.c.get("/v1/periods", token=tok)
        c.check(r.status == 200 and r.json == {"items": [p]}, "GET /v1/periods as %s: %s" % (label, r.short()))
        r = w.c.get("/v1/periods/%d" % p["id"], token=tok)
        c.check(r.status == 200 and r.json == p, "GET /v1/periods/%d as %s: %s" % (p["id"], label, r.short()))
    # the same Idempotency-Key replays the first reply and closes nothing more
    first = w.close_reply
    r = w.req("POST", "/v1/periods", body=w.close_body, token=w.admin, headers={"Idempotency-Key": w.close_key})
    c.check(r.status == 201 and r.raw == first.raw and r.headers.get("idempotent-replayed") == "true",
            "replay of the close: %s (replayed=%s)" % (r.short(), r.headers.get("idempotent-replayed")))
    c.check(w.q1("SELECT count(*) FROM periods") == "1", "periods after the replay: %s" % w.q1("SELECT count(*) FROM periods"))
    c.done()


# ---------------------------------------------------------------- statements against the journal

def test_statements_equal_the_journal():
    """Every account's JSON statement (tenants, providers, operators, the admin, the exchange):
    shape, period, account, every line, the totals and the per-trade / per-pool / per-region
    groups equal what the raw postings of the period say."""
    w = _w()
    c = Collector()
    lines = _lines(w)
    period = w.period
    for aid, kind, _tok in _accounts(w):
        label = "statement of %s %d" % (kind, aid)
        r = _stmt(w, aid)
        if not c.check(r.status == 200 and isinstance(r.json, dict), "%s: %s" % (label, r.short())):
            continue
        s = r.json
        c.check(r.headers.get("content-type", "").startswith("application/json"),
                "%s: Content-Type %s" % (label, r.headers.get("content-type")))
        group_key = {"tenant": "trades", "provider": "pools"}.get(kind, "regions")
        want_keys = {"period", "account", "currency", "lines", "opening", "closing", "totals", group_key}
        c.check(set(s) == want_keys, "%s: keys %s, expected %s" % (label, sorted(s), sorted(want_keys)))
        c.check(s.get("period") == period, "%s: period %s, expected %s" % (label, s.get("period"), period))
        acct = s.get("account") or {}
        c.check(acct.get("id") == aid and acct.get("kind") == kind, "%s: account %s" % (label, acct))
        c.check(s.get("currency") == "USD", "%s: currency %r" % (label, s.get("currency")))
        own = _acct_lines(lines, aid)
        want_lines = [_line_json(ln) for ln in own]
        got_lines = s.get("lines")
        if got_lines != want_lines:
            gi = {x.get("txn_id"): x for x in got_lines or []}
            wi = {x["txn_id"]: x for x in want_lines}
            diff = [(t, gi.get(t), wi.get(t)) for t in sorted(set(gi) | set(wi), key=str) if gi.get(t) != wi.get(t)]
            c.add("%s: %d line(s), expected %d; first differences (txn, got, expected): %s"
                  % (label, len(got_lines or []), len(want_lines), diff[:3]))
        borne = _borne(lines, aid) if kind == "provider" else {}
        et = U.expected_totals(own, kind, sum(borne.values()))
        want_totals = {k: money(et[k]) for k in TOTAL_MONEY}
        want_totals.update(delivered_gpu_hours=et["delivered_gpu_hours"], lines=et["lines"])
        got_totals = s.get("totals") or {}
        bad = {k: (got_totals.get(k), v) for k, v in want_totals.items() if got_totals.get(k) != v
               and not (kind == "exchange" and k == "platform_fees")}  # the exchange's fees: its own test
        c.check(set(got_totals) == set(want_totals), "%s: totals keys %s" % (label, sorted(got_totals)))
        c.check(not bad, "%s: totals differ from the journal (got, expected): %s" % (label, bad))
        for p in _group_problems(label, kind, s.get(group_key), _expected_groups(kind, own, borne)):
            c.add(p)
    # the world has what the scenario promises, so the comparisons above are not vacuous: a
    # deposit at the period's first microsecond, a withdrawal at its last, a deposit at the next
    # period's first (not in this one)
    ats = sorted(ln.at for ln in lines.values())
    c.check(ats and ats[0] == w.S and ats[-1] == w.E - 1, "the period's journal runs from %s to %s, expected its first"
            " and last second" % (ats[:1], ats[-1:]))
    c.check(w.q1("SELECT count(*) FROM journal_txns WHERE created_at = to_timestamp(%d)" % w.E) == "1",
            "no journal transaction at the next period's first microsecond")
    kinds = {ln.kind for ln in lines.values()}
    c.check(kinds == {"deposit", "withdrawal", "trade", "settlement", "cancellation", "refund"},
            "the period's journal kinds %s: the scenario lost some activity" % sorted(kinds))
    c.done()


def test_opening_plus_changes_equals_closing():
    """Per account: opening = the postings before the period's start, closing = the postings
    before its end, opening + the lines' changes = closing, and closing = today's stored balance
    minus everything posted after the period (phase C).  Across all accounts both sum to zero."""
    w = _w()
    c = Collector()
    lines = _lines(w)
    sums_open = sums_close = 0
    nonzero_open = 0
    for aid, kind, _tok in _accounts(w):
        label = "statement of %s %d" % (kind, aid)
        r = _stmt(w, aid)
        if not c.check(r.status == 200, "%s: %s" % (label, r.short())):
            continue
        s = r.json
        o, cl = U.balances_before(w.url, aid, w.S), U.balances_before(w.url, aid, w.E)
        want_open = {"available": money(o[0]), "escrow": money(o[1])}
        want_close = {"available": money(cl[0]), "escrow": money(cl[1])}
        c.check(s.get("opening") == want_open, "%s: opening %s, expected %s" % (label, s.get("opening"), want_open))
        c.check(s.get("closing") == want_close, "%s: closing %s, expected %s" % (label, s.get("closing"), want_close))
        own = _acct_lines(lines, aid)
        da, de = sum(ln.avail for ln in own), sum(ln.escrow for ln in own)
        c.check((o[0] + da, o[1] + de) == cl, "%s: opening %s + changes (%d, %d) != closing %s" % (label, o, da, de, cl))
        # the same from what the statement itself says
        try:
            sa = U.minor(s["opening"]["available"]) + sum(U.minor(x["available_change"]) for x in s["lines"])
            se = U.minor(s["opening"]["escrow"]) + sum(U.minor(x["escrow_change"]) for x in s["lines"])
            c.check((money(sa), money(se)) == (s["closing"]["available"], s["closing"]["escrow"]),
                    "%s: its own opening + lines = (%s, %s), its closing %s" % (label, money(sa), money(se), s["closing"]))
        except (KeyError, TypeError, Failed) as e:
            c.add("%s: malformed balances or lines: %s" % (label, e))
        stored = U.stored_balances(w.url, aid)
        after = U.period_postings(w.url, w.E, 2 ** 40)
        la = sum(ln.avail for ln in after.values() if ln.account == aid)
        le = sum(ln.escrow for ln in after.values() if ln.account == aid)
        c.check((stored[0] - la, stored[1] - le) == cl,
                "%s: stored balance %s minus postings after the period (%d, %d) != closing %s" % (label, stored, la, le, cl))
        sums_open += o[0] + o[1]
        sums_close += cl[0] + cl[1]
        nonzero_open += o != (0, 0) and cl != o
    c.check(sums_open == 0 and sums_close == 0, "opening balances sum to %d and closing to %d over all accounts,"
            " expected 0 (double entry)" % (sums_open, sums_close))
    c.check(nonzero_open >= 4, "only %d account(s) have activity both before and in the period" % nonzero_open)
    c.done()


def test_trades_inside_period_charges_equal_earnings_plus_fees():
    """For every trade whose whole life (booking to settlement, cancellation or failover refund)
    lies inside the period: the tenant's statement lines (charged - refunded) equal the provider's
    statement lines (payout) plus the fee on the exchange's statement lines; summed over those
    trades, tenants' charges - refunds = providers' gross earnings = payouts + fees."""
    w = _w()
    c = Collector()
    lines = _lines(w)
    stm = {}
    for aid, kind, _tok in _accounts(w):
        r = _stmt(w, aid)
        if c.check(r.status == 200, "statement %d: %s" % (aid, r.short())):
            stm[aid] = (kind, r.json)
    in_period = {}
    for ln in lines.values():
        if ln.trade:
            in_period.setdefault(ln.trade, set()).add(ln.txn)
    all_txns = {int(t): int(n) for t, n in w.q("SELECT trade_id, count(*) FROM journal_txns WHERE trade_id IS NOT NULL"
                                               " GROUP BY trade_id")}
    states = {int(t): s for t, s in w.q("SELECT id, state FROM trades")}
    inside = sorted(t for t, txns in in_period.items()
                    if len(txns) == all_txns.get(t) and states.get(t) in ("settled", "cancelled", "failed"))
    per = {t: {"charged": 0, "refunded": 0, "payout": 0, "fee": 0} for t in inside}
    fee_seen = set()
    for aid, (kind, s) in stm.items():
        for x in s.get("lines", []):
            t = x.get("trade_id")
            if t not in per:
                continue
            if kind == "tenant":
                if x["kind"] == "trade":
                    per[t]["charged"] += U.minor(x["escrow_change"])
                if x["kind"] in ("refund", "cancellation"):
                    per[t]["refunded"] += U.minor(x["available_change"])
            elif kind == "provider":
                per[t]["payout"] += U.minor(x["available_change"])
            elif kind == "exchange" and x["txn_id"] not in fee_seen:
                fee_seen.add(x["txn_id"])
                per[t]["fee"] += U.minor(x["fee"])
    for t, v in per.items():
        c.check(v["charged"] - v["refunded"] == v["payout"] + v["fee"],
                "trade %d (%s): charged %s - refunded %s != payout %s + fee %s" % (
                    t, states[t], money(v["charged"]), money(v["refunded"]), money(v["payout"]), money(v["fee"])))
    kinds = {states[t] for t in inside}
    c.check(kinds == {"settled", "cancelled", "failed"} and len(inside) >= 8,
            "trades wholly inside the period: %d, states %s (the scenario should have settled, cancelled and"
            " failed ones)" % (len(inside), sorted(kinds)))
    # the whole period: what tenants paid for delivery and cancellation = providers' gross earnings
    ten_net = prov_gross = 0
    for aid, (kind, s) in stm.items():
        for x in s.get("lines", []):
            if kind == "tenant" and x["kind"] in ("settlement", "cancellation", "refund"):
                ten_net += -U.minor(x["escrow_change"]) - U.minor(x["available_change"])
        if kind == "provider":
            tot = s.get("totals", {})
            g = U.minor(tot.get("gross_earnings", "0.00"))
            c.check(g == U.minor(tot.get("payouts", "0.00")) + U.minor(tot.get("platform_fees", "0.00")),
                    "provider %d: gross_earnings %s != payouts %s + platform_fees %s" % (
                        aid, tot.get("gross_earnings"), tot.get("payouts"), tot.get("platform_fees")))
            prov_gross += g
    c.check(ten_net == prov_gross, "tenants' escrow paid out (settled + cancellation charges) %s != providers' gross"
            " earnings %s" % (money(ten_net), money(prov_gross)))
    c.done()


def test_exchange_fees_per_region_equal_fees_account():
    """The exchange's statement (account 0): its fees per region sum to the change of the fees
    account over the period (SQL on postings), each region's fees equal the journal's, its
    platform_fees total is that change, and the admin's region summary shows the same fees."""
    w = _w()
    c = Collector()
    lines = _lines(w)
    fees_change = int(w.q1("SELECT coalesce(sum(p.amount), 0) FROM postings p JOIN journal_txns j ON j.id = p.txn_id"
                           " JOIN ledger_accounts la ON la.id = p.ledger_account_id WHERE la.purpose = 'fees'"
                           " AND j.created_at >= to_timestamp(%d) AND j.created_at < to_timestamp(%d)" % (w.S, w.E)))
    by_region = {}
    for ln in lines.values():
        if ln.account == 0 and ln.region:
            by_region[ln.region] = by_region.get(ln.region, 0) + ln.fee
    c.check(fees_change > 0 and len([v for v in by_region.values() if v]) >= 3,
            "fees in the period %d over regions %s: the scenario should earn fees in 3+ regions" % (fees_change, by_region))
    r = _stmt(w, 0)
    if c.check(r.status == 200, "exchange statement: %s" % r.short()):
        s = r.json
        regs = {x.get("region"): U.minor(x.get("fees", "0.00")) for x in s.get("regions", [])}
        c.check(sum(regs.values()) == fees_change, "exchange statement: fees per region %s sum to %s, the fees account"
                " changed by %s" % (regs, money(sum(regs.values())), money(fees_change)))
        c.check(regs == {k: v for k, v in by_region.items() if v}, "exchange statement fees per region %s, journal %s"
                % (regs, by_region))
        pf = s.get("totals", {}).get("platform_fees")
        c.check(pf == money(fees_change), "exchange statement totals.platform_fees %s, but the exchange earned %s"
                " in fees in the period" % (pf, money(fees_change)))
    r = w.c.get("/v1/periods/%d/regions" % _pid(w), token=w.admin)
    if c.check(r.status == 200, "region summary: %s" % r.short()):
        regs = {x.get("region"): U.minor(x.get("fees", "0.00")) for x in r.json.get("regions", [])}
        c.check(sum(regs.values()) == fees_change and {k: v for k, v in regs.items() if v} ==
                {k: v for k, v in by_region.items() if v},
                "region summary fees %s (sum %s), journal %s (fees account %s)" % (regs, sum(regs.values()), by_region,
                                                                                  fees_change))
    c.done()


def _expected_region_rows(w):
    """{region: (trades, gpu_hours, gross, fees, refunds)} from trades created and journal
    transactions written in the period."""
    out = {}
    for region, n, gh, gross in w.q(
            "SELECT region, count(*), sum(gpus * extract(epoch FROM end_at - start_at)::bigint / 3600), sum(total_minor)"
            " FROM trades WHERE created_at >= to_timestamp(%d) AND created_at < to_timestamp(%d) GROUP BY region"
            % (w.S, w.E)):
        out[region] = [int(n), int(gh), int(gross), 0, 0]
    for ln in _lines(w).values():
        if not ln.region:
            continue
        x = out.setdefault(ln.region, [0, 0, 0, 0, 0])
        if ln.account == 0:
            x[3] += ln.fee
        if ln.account == ln.tenant and ln.kind in ("refund", "cancellation"):
            x[4] += ln.avail
    return {k: (v[0], v[1], money(v[2]), money(v[3]), money(v[4])) for k, v in out.items()}


def test_region_summary_and_operator_scope():
    """GET /v1/periods/{id}/regions (JSON and CSV): trades, GPU-hours and gross sold in each region
    in the period, fees and refunds from its journal; an operator sees exactly its regions' rows."""
    w = _w()
    c = Collector()
    want = _expected_region_rows(w)

    def rows_of(tok, fmt):
        r = w.c.get("/v1/periods/%d/regions?format=%s" % (_pid(w), fmt), token=tok)
        if not c.check(r.status == 200, "regions ?format=%s: %s" % (fmt, r.short())):
            return None
        if fmt == "json":
            j = r.json
            c.check(set(j) == {"period", "currency", "regions"} and j.get("period") == w.period,
                    "regions JSON keys/period: %s" % sorted(j))
            return {x["region"]: (x["trades"], x["gpu_hours"], x["gross"], x["fees"], x["refunds"]) for x in j["regions"]}
        rows = U.parse_csv(r.raw)
        c.check(rows and rows[0] == ["region", "trades", "gpu_hours", "gross", "fees", "refunds"],
                "regions CSV header %s" % (rows[:1],))
        return {x[0]: (int(x[1]), int(x[2]), x[3], x[4], x[5]) for x in rows[1:]}

    for fmt in ("json", "csv"):
        got = rows_of(w.admin, fmt)
        c.check(got == want, "admin regions (%s) %s, expected %s" % (fmt, got, want))
    c.check(len(want) == 4, "the scenario should have activity in 4 regions: %s" % sorted(want))
    for op in w.operators:
        scope = set(op_regions(w, op))
        exp = {k: v for k, v in want.items() if k in scope}
        for fmt in ("json", "csv"):
            got = rows_of(op["token"], fmt)
            c.check(got == exp, "operator %d (regions %s) sees %s (%s), expected %s" % (op["id"], sorted(scope), got,
                                                                                      fmt, exp))
    c.done()


def op_regions(w, op):
    return w.get("/v1/accounts/%d" % op["id"], w.admin)["regions"]


# ---------------------------------------------------------------- exports: bytes, digests, signatures

def test_exports_reproducible_and_signed():
    """The full export: Content-Type text/csv, X-Suanli-Sha256 = SHA-256(body) = periods.export_sha256
    = the Period's export_sha256; a second export is byte-identical; suanli-verify accepts its
    signature with GET /v1/keys and rejects the body with one flipped byte.  The same (identical
    re-export, signature, flipped byte) for JSON and CSV statements of a tenant, a provider and the
    exchange, and for the region summaries."""
    w = _w()
    c = Collector()
    keys = _keys(w)
    folder = _folder()
    url = "/v1/periods/%d/export" % _pid(w)
    r1 = w.c.get(url, token=w.admin)
    r2 = w.c.get(url + "?format=csv", token=w.admin)
    if c.check(r1.status == 200 and r2.status == 200, "export: %s / %s" % (r1.short(), r2.short())):
        c.check(r1.headers.get("content-type", "").startswith("text/csv"), "export Content-Type %s"
                % r1.headers.get("content-type"))
        c.check(r1.raw == r2.raw, "two exports of the closed period differ (%d vs %d bytes)" % (len(r1.raw), len(r2.raw)))
        c.check(r1.headers.get("x-suanli-sha256") == w.period["export_sha256"] == U.sha256_hex(r1.raw),
                "export X-Suanli-Sha256 %s, period export_sha256 %s, SHA-256 of the body %s"
                % (r1.headers.get("x-suanli-sha256"), w.period["export_sha256"], U.sha256_hex(r1.raw)))
        for p in U.export_problems(r1, folder, "period.csv", keys):
            c.add(p)
    targets = [("tenant", w.tenants[0]), ("provider", w.providers[0]),
               ("exchange", {"id": 0, "token": w.admin})]
    for label, acct in targets:
        for fmt in ("json", "csv"):
            a = _stmt(w, acct["id"], fmt, token=acct["token"])
            b = _stmt(w, acct["id"], fmt, token=w.admin)
            if not c.check(a.status == 200 and b.status == 200, "%s statement %s: %s / %s" % (label, fmt, a.short(),
                                                                                           b.short())):
                continue
            c.check(a.raw == b.raw, "%s statement (%s) differs between two exports" % (label, fmt))
            ctype = "application/json" if fmt == "json" else "text/csv"
            c.check(a.headers.get("content-type", "").startswith(ctype), "%s statement (%s) Content-Type %s"
                    % (label, fmt, a.headers.get("content-type")))
            for p in U.export_problems(a, folder, "statement-%s-%d.%s" % (label, acct["id"], fmt), keys):
                c.add(p)
    for fmt in ("json", "csv"):
        for tok, who in ((w.admin, "admin"), (w.operators[0]["token"], "operator")):
            a = w.c.get("/v1/periods/%d/regions?format=%s" % (_pid(w), fmt), token=tok)
            b = w.c.get("/v1/periods/%d/regions?format=%s" % (_pid(w), fmt), token=tok)
            if c.check(a.status == 200 and b.status == 200, "regions %s as %s: %s" % (fmt, who, a.short())):
                c.check(a.raw == b.raw, "region summary (%s, %s) differs between two exports" % (fmt, who))
                for p in U.export_problems(a, folder, "regions-%s.%s" % (who, fmt), keys, flip=(who == "admin")):
                    c.add(p)
    c.done()


def test_export_csv_equals_journal_and_json():
    """The period CSV: RFC 4180 with CRLF, the documented header, one record per (account, journal
    transaction) ordered by account then transaction, every field equal to the raw postings (the
    CJK memo with a comma and quotes survives quoting); each account's CSV statement holds exactly
    its own records, and its JSON statement the same lines."""
    w = _w()
    c = Collector()
    lines = _lines(w)
    r = w.c.get("/v1/periods/%d/export" % _pid(w), token=w.admin)
    if not c.check(r.status == 200, "export: %s" % r.short()):
        c.done()
    raw = r.raw
    c.check(raw.endswith(b"\r\n") and b"\n" not in raw.replace(b"\r\n", b""),
            "the export's records must end in CRLF (and no bare LF)")
    rows = U.parse_csv(raw)
    c.check(rows[:1] == [CSV_HEADER], "export header %s" % (rows[:1],))
    want = [_line_csv(ln) for ln in sorted(lines.values(), key=lambda ln: (ln.account, ln.txn))]
    got = rows[1:]
    if got != want:
        diff = [(i, g, x) for i, (g, x) in enumerate(zip(got, want)) if g != x]
        c.add("export: %d record(s), expected %d; first differences (index, got, expected): %s"
              % (len(got), len(want), diff[:3]))
    c.check(any('"' in x[-1] and "," in x[-1] for x in got), "the memo with a comma and quotes is not in the export")
    for aid, kind, tok in _accounts(w):
        rr = _stmt(w, aid, "csv", token=tok)
        if not c.check(rr.status == 200, "CSV statement %d: %s" % (aid, rr.short())):
            continue
        srows = U.parse_csv(rr.raw)
        c.check(srows[:1] == [CSV_HEADER], "CSV statement %d header %s" % (aid, srows[:1]))
        mine = [x for x in want if x[0] == str(aid)]
        c.check(srows[1:] == mine, "CSV statement of %s %d: %d record(s), expected its %d export record(s)"
                % (kind, aid, len(srows) - 1, len(mine)))
        js = _stmt(w, aid, "json", token=tok)
        if c.check(js.status == 200, "JSON statement %d: %s" % (aid, js.short())):
            as_csv = [[str(aid), kind, str(x["txn_id"]), x["at"], x["kind"], str(x["trade_id"] or ""),
                       str(x["pool_id"] or ""), x["region"], str(x["gpu_hours"] or ""), x["available_change"],
                       x["escrow_change"], x["fee"], x["memo"]] for x in js.json.get("lines", [])]
            c.check(as_csv == srows[1:], "JSON and CSV statements of %s %d differ" % (kind, aid))
    c.done()


# ---------------------------------------------------------------- conflicts and bad input

def _unchanged(w, c, label, fn):
    before = U.snapshot(w.url)
    r = fn()
    after = U.snapshot(w.url)
    d = U.snapshot_diff(before, after)
    c.check(not d, "%s changed tables %s" % (label, d))
    return r


def test_close_again_overlapping_or_unended_409():
    """Closing last month again, a range overlapping it, or a period that has not ended: 409
    conflict naming the field, nothing written; an Idempotency-Key reused with another body: 422.
    A period adjacent to the closed one (its end up to the current hour) closes: 201."""
    w = _w()
    c = Collector()
    H = int(time.time()) // 3600 * 3600
    # the last whole hour that ended more than the server's close grace (120 s) ago: a period
    # may end there (H itself is refused in the first two minutes of an hour)
    G = (int(time.time()) - 130) // 3600 * 3600
    cases = [
        ("last month again, default body", {}, 409, "conflict", "start"),
        ("last month again, null fields", {"start": None, "end": None}, 409, "conflict", "start"),
        ("last month again, explicit", {"start": U.rfc3339(w.S), "end": U.rfc3339(w.E)}, 409, "conflict", "start"),
        ("overlapping its start", {"start": U.rfc3339(w.S - 3600), "end": U.rfc3339(w.S + 3600)}, 409, "conflict", "start"),
        ("inside it", {"start": U.rfc3339(w.S + 86400), "end": U.rfc3339(w.S + 2 * 86400)}, 409, "conflict", "start"),
        ("containing it", {"start": U.rfc3339(w.S - 86400), "end": U.rfc3339(w.E + 3600 if w.E + 3600 <= G else w.E)},
         409, "conflict", "start"),
        ("not ended (current hour)", {"start": U.rfc3339(H), "end": U.rfc3339(H + 3600)}, 409, "conflict", "end"),
        ("not ended (ends next hour)", {"start": U.rfc3339(H - 3600), "end": U.rfc3339(H + 3600)}, 409, "conflict", "end"),
        ("not ended, next month", {"start": U.rfc3339(w.E), "end": U.rfc3339(w.E + 40 * 86400)}, 409, "conflict", "end"),
    ]
    for label, body, status, err, field in cases:
        r = _unchanged(w, c, label, lambda body=body: w.c.post("/v1/periods", body, token=w.admin))
        p = error_problems(r, status, err, field)
        c.check(not p, "POST /v1/periods %s %s: %s" % (label, body, "; ".join(p)))
    r = _unchanged(w, c, "reused Idempotency-Key", lambda: w.c.post(
        "/v1/periods", {"start": U.rfc3339(w.S - 7200), "end": U.rfc3339(w.S - 3600)}, token=w.admin,
        headers={"Idempotency-Key": w.close_key}))
    p = error_problems(r, 422, "idempotency_key_reused")
    c.check(not p, "a reused Idempotency-Key with another body: %s" % "; ".join(p))
    c.check(w.q1("SELECT count(*) FROM periods") == "1", "periods after the refused closes: %s"
            % w.q("SELECT id, starts_at, ends_at FROM periods"))
    # the adjacent period [E, G): half-open ranges do not overlap
    H = G
    if H > w.E:
        r = w.c.post("/v1/periods", {"start": U.rfc3339(w.E), "end": U.rfc3339(H)}, token=w.admin)
        if c.check(r.status == 201, "the adjacent period %s..%s: %s" % (U.rfc3339(w.E), U.rfc3339(H), r.short())):
            w.adjacent = r.json
            lst = w.get("/v1/periods", w.admin)["items"]
            c.check([x["id"] for x in lst] == [w.period["id"], r.json["id"]], "GET /v1/periods order: %s" % lst)
            ex = w.c.get("/v1/periods/%d/export" % r.json["id"], token=w.admin)
            want = [_line_csv(ln) for ln in sorted(_lines(w, w.E, H).values(), key=lambda ln: (ln.account, ln.txn))]
            c.check(ex.status == 200 and U.parse_csv(ex.raw) == [CSV_HEADER] + want and
                    ex.headers.get("x-suanli-sha256") == r.json["export_sha256"],
                    "the adjacent period's export: %s (%d record(s) expected)" % (ex.short(), len(want)))
    c.done()


def _bad_cases(w):
    """(label, method, path, token, body, status, error, field)."""
    pid = _pid(w)
    T0, T1 = w.tenants[0], w.tenants[1]
    P0 = w.providers[0]
    OP = w.operators[0]
    S, E = U.rfc3339(w.S), U.rfc3339(w.E)
    cases = []
    for bad in ("abc", "0", "00", "-1", "1.5", "12345678901234567", "1e3"):
        cases.append(("period id %r" % bad, "GET", "/v1/periods/%s" % bad, w.admin, None, 400, "bad_path_id", "id"))
        for sub in ("/statements/0", "/export", "/regions"):
            cases.append(("period id %r%s" % (bad, sub), "GET", "/v1/periods/%s%s" % (bad, sub), w.admin, None, 400,
                          "bad_path_id", "id"))
    for bad in ("abc", "00", "-1", "1.5", "12345678901234567"):
        cases.append(("account %r" % bad, "GET", "/v1/periods/%d/statements/%s" % (pid, bad), w.admin, None, 400,
                      "bad_path_id", "account"))
    for sub in ("", "/statements/0", "/statements/%d" % T0["id"], "/export", "/regions"):
        cases.append(("unknown period%s" % sub, "GET", "/v1/periods/987654%s" % sub, w.admin, None, 404, "not_found", "id"))
    cases += [
        ("unknown account", "GET", "/v1/periods/%d/statements/987654" % pid, w.admin, None, 404, "not_found", "account"),
        ("tenant reads another tenant's statement", "GET", "/v1/periods/%d/statements/%d" % (pid, T1["id"]),
         T0["token"], None, 404, "not_found", "account"),
        ("tenant reads a provider's statement", "GET", "/v1/periods/%d/statements/%d" % (pid, P0["id"]), T0["token"],
         None, 404, "not_found", "account"),
        ("tenant reads the exchange's statement", "GET", "/v1/periods/%d/statements/0" % pid, T0["token"], None, 404,
         "not_found", "account"),
        ("provider reads a tenant's statement", "GET", "/v1/periods/%d/statements/%d" % (pid, T0["id"]), P0["token"],
         None, 404, "not_found", "account"),
        ("operator reads a provider's statement", "GET", "/v1/periods/%d/statements/%d" % (pid, P0["id"]), OP["token"],
         None, 404, "not_found", "account"),
        ("operator reads the exchange's statement", "GET", "/v1/periods/%d/statements/0" % pid, OP["token"], None, 404,
         "not_found", "account"),
        ("statement format xml", "GET", "/v1/periods/%d/statements/0?format=xml" % pid, w.admin, None, 400,
         "bad_query_parameter", "format"),
        ("statement format empty", "GET", "/v1/periods/%d/statements/0?format=" % pid, w.admin, None, 400,
         "bad_query_parameter", "format"),
        ("statement format JSON (case)", "GET", "/v1/periods/%d/statements/0?format=JSON" % pid, w.admin, None, 400,
         "bad_query_parameter", "format"),
        ("statement unknown parameter", "GET", "/v1/periods/%d/statements/0?fmt=csv" % pid, w.admin, None, 400,
         "bad_query_parameter", "fmt"),
        ("bad format before unknown period", "GET", "/v1/periods/987654/statements/0?format=pdf", w.admin, None, 400,
         "bad_query_parameter", "format"),
        ("export as JSON", "GET", "/v1/periods/%d/export?format=json" % pid, w.admin, None, 400, "bad_query_parameter",
         "format"),
        ("export format xlsx", "GET", "/v1/periods/%d/export?format=xlsx" % pid, w.admin, None, 400,
         "bad_query_parameter", "format"),
        ("export unknown parameter", "GET", "/v1/periods/%d/export?account=1" % pid, w.admin, None, 400,
         "bad_query_parameter", "account"),
        ("regions format xml", "GET", "/v1/periods/%d/regions?format=xml" % pid, w.admin, None, 400,
         "bad_query_parameter", "format"),
        ("regions unknown parameter", "GET", "/v1/periods/%d/regions?region=x" % pid, w.admin, None, 400,
         "bad_query_parameter", "region"),
        ("period list unknown parameter", "GET", "/v1/periods?limit=5", w.admin, None, 400, "bad_query_parameter",
         "limit"),
        ("export by a tenant", "GET", "/v1/periods/%d/export" % pid, T0["token"], None, 403, "forbidden", None),
        ("export by a provider", "GET", "/v1/periods/%d/export" % pid, P0["token"], None, 403, "forbidden", None),
        ("export by an operator", "GET", "/v1/periods/%d/export" % pid, OP["token"], None, 403, "forbidden", None),
        ("regions by a tenant", "GET", "/v1/periods/%d/regions" % pid, T0["token"], None, 403, "forbidden", None),
        ("regions by a provider", "GET", "/v1/periods/%d/regions" % pid, P0["token"], None, 403, "forbidden", None),
        ("statement without a token", "GET", "/v1/periods/%d/statements/0" % pid, None, None, 401, "unauthenticated",
         None),
        ("list without a token", "GET", "/v1/periods", None, None, 401, "unauthenticated", None),
        # POST /v1/periods
        ("close by a tenant", "POST", "/v1/periods", T0["token"], {}, 403, "forbidden", None),
        ("close by a provider", "POST", "/v1/periods", P0["token"], {}, 403, "forbidden", None),
        ("close by an operator", "POST", "/v1/periods", OP["token"], {}, 403, "forbidden", None),
        ("close without a token", "POST", "/v1/periods", None, {}, 401, "unauthenticated", None),
        ("unknown field", "POST", "/v1/periods", w.admin, {"start": S, "end": E, "month": "2026-10"}, 400,
         "unknown_field", "month"),
        ("start only", "POST", "/v1/periods", w.admin, {"start": S}, 400, "missing_field", "end"),
        ("end only", "POST", "/v1/periods", w.admin, {"end": E}, 400, "missing_field", "start"),
        ("start not on an hour", "POST", "/v1/periods", w.admin, {"start": U.rfc3339(w.S - 1800), "end": U.rfc3339(w.S)},
         400, "invalid_value", "start"),
        ("end not on an hour", "POST", "/v1/periods", w.admin, {"start": U.rfc3339(w.S - 7200),
                                                                 "end": U.rfc3339(w.S - 59)}, 400, "invalid_value", "end"),
        ("start with a fraction", "POST", "/v1/periods", w.admin, {"start": "2020-01-01T00:00:00.5Z",
                                                                    "end": "2020-01-01T01:00:00Z"}, 400,
         "invalid_value", "start"),
        ("start a date", "POST", "/v1/periods", w.admin, {"start": "2020-01-01", "end": "2020-01-02"}, 400,
         "invalid_value", "start"),
        ("start a word", "POST", "/v1/periods", w.admin, {"start": "yesterday", "end": E}, 400, "invalid_value", "start"),
        ("start before 2000", "POST", "/v1/periods", w.admin, {"start": "1999-12-31T00:00:00Z",
                                                                "end": "2000-01-01T00:00:00Z"}, 400, "invalid_value",
         "start"),
        ("start a number", "POST", "/v1/periods", w.admin, {"start": 1790000000, "end": E}, 400, "wrong_type", "start"),
        ("end an object", "POST", "/v1/periods", w.admin, {"start": S, "end": {}}, 400, "wrong_type", "end"),
        ("end before start", "POST", "/v1/periods", w.admin, {"start": U.rfc3339(w.S - 3600),
                                                               "end": U.rfc3339(w.S - 7200)}, 400, "invalid_value", "end"),
        ("empty range", "POST", "/v1/periods", w.admin, {"start": U.rfc3339(w.S - 3600), "end": U.rfc3339(w.S - 3600)},
         400, "invalid_value", "end"),
        ("body an array", "POST", "/v1/periods", w.admin, [], 400, "body_not_object", ""),
        ("malformed JSON", "POST", "/v1/periods", w.admin, '{"start": ', 400, "malformed_json", ""),
    ]
    return cases


def test_bad_input_table_db_unchanged():
    """The bad-input table of the period routes: bad ids 400 bad_path_id naming the parameter,
    unknown period or account 404, someone else's statement 404, bad or unknown query parameters
    400 bad_query_parameter, roles that may never use a route 403, bad bodies 400 naming the
    field; every reply a documented error, and the database unchanged by every one."""
    w = _w()
    c = Collector()
    before = U.snapshot(w.url)
    n = 0
    for label, method, path, tok, body, status, err, field in _bad_cases(w):
        n += 1
        if method == "POST":
            r = _unchanged(w, c, label, lambda: w.c.req(method, path, body=body, token=tok))
        else:
            r = w.c.req(method, path, body=body, token=tok)
        p = error_problems(r, status, err, field)
        c.check(not p, "%s: %s %s -> %s %s: %s" % (label, method, path, r.status, r.raw[:160], "; ".join(p)))
    # wrong Content-Type on the POST
    r = _unchanged(w, c, "text/plain body", lambda: w.c.req("POST", "/v1/periods", body="{}", token=w.admin,
                                                            ctype="text/plain"))
    p = error_problems(r, 415, "unsupported_media_type")
    c.check(not p, "POST /v1/periods as text/plain: %s" % "; ".join(p))
    d = U.snapshot_diff(before, U.snapshot(w.url))
    c.check(not d, "the %d bad requests changed tables %s" % (n, d))
    c.check(w.q1("SELECT count(*) FROM periods WHERE ends_at <= to_timestamp(%d)" % w.E) == "1",
            "periods up to last month: %s" % w.q("SELECT id, starts_at, ends_at FROM periods"))
    # the controls: the same routes with good input answer
    for path, tok in (("/v1/periods/%d/statements/%d" % (_pid(w), w.tenants[0]["id"]), w.tenants[0]["token"]),
                      ("/v1/periods/%d/statements/%d?format=csv" % (_pid(w), w.providers[0]["id"]),
                       w.providers[0]["token"]),
                      ("/v1/periods/%d/statements/%d" % (_pid(w), w.operators[0]["id"]), w.operators[0]["token"]),
                      ("/v1/periods/%d/regions" % _pid(w), w.operators[1]["token"]),
                      ("/v1/periods/%d/export?format=csv" % _pid(w), w.admin)):
        r = w.c.get(path, token=tok)
        c.check(r.status == 200, "control GET %s: %s" % (path, r.short()))
    c.done()


# ---------------------------------------------------------------- the auditor

def test_audit_clean_then_detects_changed_closed_period():
    """`suanlid audit` on the month (periods closed): no finding.  Then a memo of one journal
    transaction inside the closed period is changed as a superuser (memos are not signed, so only
    the period's digest can notice): exactly one finding, naming that period; the export now
    differs from the signed digest; restored, the auditor is clean again."""
    w = _w()
    c = Collector()
    rc, findings, err = L.audit(w.url, w.keys)
    c.check(rc == 0 and not findings, "audit of the month: exit %s, findings %s %s" % (rc, findings[:5], err[-300:]))
    txn, memo = w.q("SELECT j.id, j.memo FROM journal_txns j WHERE j.kind = 'deposit' AND j.created_at >= to_timestamp(%d)"
                    " AND j.created_at < to_timestamp(%d) ORDER BY j.id LIMIT 1" % (w.S, w.E))[0]
    try:
        w.su_sql("UPDATE journal_txns SET memo = memo || ' (edited)' WHERE id = %s;" % txn)
        rc, findings, err = L.audit(w.url, w.keys)
        want = [{"check": "period", "table": "periods", "id": str(_pid(w))}]
        got = [{k: f.get(k) for k in ("check", "table", "id")} for f in findings]
        c.check(rc == 1 and got == want, "audit after editing journal transaction %s in the closed period: exit %s,"
                " findings %s, expected exactly %s" % (txn, rc, findings, want))
        r = w.c.get("/v1/periods/%d/export" % _pid(w), token=w.admin)
        c.check(r.status == 200 and r.headers.get("x-suanli-sha256") != w.period["export_sha256"],
                "the export of the edited period still has the closed digest: %s" % r.headers.get("x-suanli-sha256"))
    finally:
        w.su_sql("UPDATE journal_txns SET memo = %s WHERE id = %s;" % (harness.quote_lit(memo), txn))
    rc, findings, err = L.audit(w.url, w.keys)
    c.check(rc == 0 and not findings, "audit after restoring the memo: exit %s, findings %s" % (rc, findings[:5]))
    r = w.c.get("/v1/periods/%d/export" % _pid(w), token=w.admin)
    c.check(r.headers.get("x-suanli-sha256") == w.period["export_sha256"], "export digest after the restore: %s"
            % r.headers.get("x-suanli-sha256"))
    c.done()


def test_settlement_server_stops_cleanly():
    """The private server exits 0 on SIGTERM with a JSON log; its database is dropped."""
    if U._world is None and U._world_error is None:
        raise harness.Skip("the settlement world was never built")
    U.close_world()
