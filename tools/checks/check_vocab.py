#!/usr/bin/env python3
"""Check the vocabulary registry api/vocab.def against the API contract and the database.

  python3 tools/checks/check_vocab.py [--def api/vocab.def] [--spec api/openapi.yaml]
                                      [--database-url URL]

1. The registry itself: every value line follows its domain's line, no domain or value twice,
   and every domain is checked somewhere below (SPEC, SQL, SQL_ROWS or SQL_FUNCTIONS name it).
2. api/openapi.yaml: every string enum (and the adapter discriminator) is either mapped to a
   domain in SPEC — and then holds exactly the domain's values ("eq") or some of them
   ("subset": a request that accepts fewer) — or listed in SPEC_NOT_VOCABULARY with a reason.
3. With --database-url (a database migrated by `suanlid migrate`; read with psql): every CHECK
   constraint that limits a column to a list of strings (`col IN (...)`, `col <@ ARRAY[...]`)
   is mapped in SQL and holds exactly the domain's values; a string compared with a mapped
   column in any other CHECK is one of its values; the rows of the tables in SQL_ROWS and the
   outcome literals of the PL/pgSQL functions in SQL_FUNCTIONS are exactly their domain's values.

Prints one line per difference, naming the domain, the place and the values, then
`vocab: N checks, N differences`; exits 1 when anything differs, 2 when it cannot read its
inputs.  Python 3 standard library only (the spec is read by the small YAML reader below,
which knows the subset api/openapi.yaml is written in).
"""
import argparse
import re
import subprocess
import sys

# ---- where each domain lives ---------------------------------------------------------------
# api/openapi.yaml: a schema's dotted path (list items that are parameters: [name]) -> domain
# and relation: "eq" (exactly the domain's values) or "subset" (a request accepting fewer).
# For the Adapter, the keys of its discriminator's mapping are the kinds.
SPEC = {
    "components.schemas.Tier": ("REGION_TIER", "eq"),
    "components.schemas.AccountKind": ("ACCOUNT_KIND", "eq"),
    "components.schemas.StatementAccountRef.properties.kind": ("STATEMENT_KIND", "eq"),
    "components.schemas.TokenScopes.items": ("TOKEN_SCOPE", "eq"),
    "components.schemas.TokenState": ("TOKEN_STATE", "eq"),
    "components.schemas.AuditRow.properties.outcome": ("REQUEST_OUTCOME", "eq"),
    "components.schemas.Rating": ("ACCELERATOR_RATING", "eq"),
    "components.schemas.IntraNode": ("INTRA_NODE", "eq"),
    "components.schemas.InterNode": ("INTER_NODE", "eq"),
    "components.schemas.OrderSpec.properties.min_inter_node": ("INTER_NODE", "subset"),
    "components.schemas.Adapter.discriminator.mapping": ("ADAPTER_KIND", "eq"),
    "components.schemas.TradeAccess.properties.source": ("ACCESS_SOURCE", "eq"),
    "components.schemas.PoolStatus": ("POOL_STATUS", "eq"),
    "components.schemas.Accelerator.properties.origin": ("ACCELERATOR_ORIGIN", "eq"),
    "components.schemas.ProposalState": ("PROPOSAL_STATE", "eq"),
    "components.schemas.RttSource": ("RTT_SOURCE", "eq"),
    "components.schemas.LatencyMeasuredBy": ("LATENCY_MEASURED_BY", "eq"),
    "components.schemas.AccountLimits.properties.source": ("RATE_LIMIT_SOURCE", "eq"),
    "components.schemas.PoolPatch.properties.status": ("POOL_STATUS", "subset"),
    "components.schemas.PoolHealthState": ("POOL_HEALTH", "eq"),
    "components.schemas.OrderRequest.properties.objective": ("OBJECTIVE", "eq"),
    "components.schemas.OrderRequest.properties.placement": ("PLACEMENT", "eq"),
    "components.schemas.OrderRequest.properties.starts": ("STARTS", "eq"),
    "components.schemas.OrderRequest.properties.time_in_force": ("TIME_IN_FORCE", "eq"),
    "components.schemas.Clearing": ("CLEARING", "eq"),
    "components.schemas.RejectReason": ("REJECT_REASON", "eq"),
    "components.schemas.OrderState": ("ORDER_STATE", "eq"),
    "components.schemas.TradeState": ("TRADE_STATE", "eq"),
    "components.schemas.ReservationState": ("RESERVATION_STATE", "eq"),
    "components.schemas.PostingKind": ("JOURNAL_KIND", "eq"),
    "components.schemas.Posting.properties.account": ("ACCOUNT_PURPOSE", "subset"),
    "components.schemas.StatementGroup.properties.refund_causes.items.properties.kind": ("JOURNAL_KIND", "subset"),
    "components.schemas.StatsDispatch.properties.jobs.items.properties.action": ("JOB_ACTION", "eq"),
    "components.schemas.StatsDispatch.properties.jobs.items.properties.state": ("JOB_STATE", "eq"),
    "components.schemas.AgentMode": ("AGENT_MODE", "eq"),
    "components.schemas.AgentWork.properties.action": ("JOB_ACTION", "eq"),
    "components.schemas.AgentResult.properties.outcome": ("ATTEMPT_OUTCOME", "subset"),
    "components.schemas.AgentResultRecorded.properties.action": ("JOB_ACTION", "eq"),
    "components.schemas.AgentResultRecorded.properties.outcome": ("ATTEMPT_OUTCOME", "subset"),
    "components.schemas.AgentResultRecorded.properties.state": ("JOB_STATE", "subset"),
    "components.schemas.AttemptOutcome": ("ATTEMPT_OUTCOME", "eq"),
    "components.schemas.DispatchJob.properties.action": ("JOB_ACTION", "eq"),
    "components.schemas.DispatchJob.properties.state": ("JOB_STATE", "eq"),
    "components.schemas.DispatchAttempt.properties.action": ("JOB_ACTION", "eq"),
}
# String enums of the spec that are not product vocabulary: request syntax parsed where it is
# read (src/http), or numbers.
SPEC_NOT_VOCABULARY = {
    "components.schemas.ErrorName": "the error registry, api/errors.def (tests/contract)",
    "components.schemas.LedgerPurpose": "integers: the ledger's record purposes (src/ledger)",
    "components.schemas.ReceiptMoneyEvent.properties.purpose": "integers: ledger purposes",
    "components.schemas.AuditRow.properties.method": "HTTP methods",
    "components.schemas.MarketPrices.properties.bucket": "a query's bucket size",
    "components.parameters.ExportFormat.schema": "a query's export format",
    "components.headers.IdempotentReplayed.schema": "a header's flag",
    "components.headers.ReadFrom.schema": "a header naming the database read",
}
# Query parameters (paths.<route>.<method>.parameters.[name].schema) are request syntax too.
SPEC_NOT_VOCABULARY_PATTERN = re.compile(r"^paths\..*\.parameters\.\[[a-z_]+\]\.schema$")

# Database: table.column -> domain (its CHECK holds exactly the domain's values).
SQL = {
    "regions.tier": "REGION_TIER",
    "accounts.kind": "ACCOUNT_KIND",
    "api_tokens.scopes": "TOKEN_SCOPE",
    "audit_log.outcome": "REQUEST_OUTCOME",
    "idempotency_keys.state": "IDEMPOTENCY_STATE",
    "accelerators.rating": "ACCELERATOR_RATING",
    "pools.intra_node": "INTRA_NODE",
    "pools.inter_node": "INTER_NODE",
    "pools.adapter_kind": "ADAPTER_KIND",
    "pools.status": "POOL_STATUS",
    "accelerators.origin": "ACCELERATOR_ORIGIN",
    "accelerator_aliases.origin": "ACCELERATOR_ORIGIN",
    "accelerator_proposals.state": "PROPOSAL_STATE",
    "pools.health": "POOL_HEALTH",
    "reservation_access.source": "ACCESS_SOURCE",
    "market_changes.kind": "FEED_KIND",
    "orders.state": "ORDER_STATE",
    "orders.time_in_force": "TIME_IN_FORCE",
    "orders.clearing": "CLEARING",
    "trades.state": "TRADE_STATE",
    "reservations.state": "RESERVATION_STATE",
    "dispatch_jobs.action": "JOB_ACTION",
    "dispatch_jobs.state": "JOB_STATE",
    "dispatch_attempts.outcome": "ATTEMPT_OUTCOME",
    "sim_cluster_reservations.state": "SIM_RESERVATION_STATE",
    "journal_txns.kind": "JOURNAL_KIND",
    "ledger_accounts.purpose": "ACCOUNT_PURPOSE",
    "clock.mode": "CLOCK_MODE",
    "region_latency.measured_by": "LATENCY_MEASURED_BY",
}
# Database tables whose rows list a domain (one row per value): table.column -> domain.
SQL_ROWS = {
    "journal_kind_purposes.kind": "JOURNAL_KIND",  # each journal kind's signed purpose (schema/015)
}
# Database functions whose text result is a closed set: name -> domain, the pattern of the
# literals they answer with.
OUT_OUTCOME = r"out_outcome\s*:=\s*'([^']*)'"
SQL_FUNCTIONS = {
    "sl_trade": ("TRADE_OUTCOME", OUT_OUTCOME),
    "sl_cancel_trade": ("CANCEL_OUTCOME", OUT_OUTCOME),
    "sl_commit_outcome": ("COMMIT_OUTCOME", r"RETURN\s+'([^']*)'"),
}


class Report:
    def __init__(self):
        self.checks = 0
        self.diffs = []

    def check(self, ok, message):
        self.checks += 1
        if not ok:
            self.diffs.append(message)
        return ok


def fmt(values):
    return "[" + ", ".join(sorted(values)) + "]"


def compare(report, domain, where, found, want, relation="eq"):
    found, want = set(found), set(want)
    if relation == "subset":
        extra = found - want
        return report.check(not extra, f"{domain}: {where} has {fmt(extra)}, not in api/vocab.def {fmt(want)}")
    missing, extra = want - found, found - want
    parts = []
    if missing:
        parts.append(f"lacks {fmt(missing)}")
    if extra:
        parts.append(f"has {fmt(extra)} not in api/vocab.def")
    return report.check(not parts, f"{domain}: {where} " + " and ".join(parts))


# ---- the registry -----------------------------------------------------------------------------
DOMAIN_RE = re.compile(r'^\s*SL_VOCAB_DOMAIN\(\s*(\w+)\s*,')
VALUE_RE = re.compile(r'^\s*SL_VOCAB\(\s*(\w+)\s*,\s*(\w+)\s*,\s*"([^"]*)"\s*,')


def read_def(path, report):
    """{domain: [values]} in file order; structural problems go to report."""
    domains, current = {}, None
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            m = DOMAIN_RE.match(line)
            if m:
                current = m.group(1)
                report.check(current not in domains, f"{path}:{n}: domain {current} twice")
                domains.setdefault(current, [])
                continue
            m = VALUE_RE.match(line)
            if m:
                dom, ident, value = m.groups()
                if not report.check(dom == current, f"{path}:{n}: {dom}_{ident} is not under its domain's line"):
                    continue
                report.check(value not in domains[dom], f"{path}:{n}: {dom} has \"{value}\" twice")
                domains[dom].append(value)
    for dom, values in domains.items():
        report.check(values, f"{path}: domain {dom} has no values")
    return domains


# ---- the spec: a reader of the YAML subset api/openapi.yaml uses ----------------------------------
KEY_RE = re.compile(r"""^('[^']*'|"[^"]*"|[^\s'"#\[{][^:#]*?)\s*:(?:\s+(.*))?$""")


def unquote(s):
    m = re.fullmatch(r"""\s*(['"])(.*)\1\s*""", s)
    return m.group(2) if m else s.strip()


def flow_list(s):  # "[a, 'b']" -> ["a", "b"]
    return [unquote(x) for x in s.strip()[1:-1].split(",") if x.strip()]


def read_yaml(text):
    """{path tuple: value}: a scalar (str), a flow or block list of scalars (list), or None for
    a key that opens a block.  List items that are mappings become "[name]" when they start
    with `name:`, else "[index]"."""
    out, stack, counters = {}, [], {}
    skip_deeper = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        i += 1
        body = raw.strip()
        if not body or body.startswith("#"):
            continue
        ind = len(raw) - len(raw.lstrip(" "))
        if skip_deeper is not None and ind > skip_deeper:
            continue
        skip_deeper = None
        while stack and stack[-1][0] >= ind:
            stack.pop()
        parent = tuple(k for _, k in stack)
        if body == "-" or body.startswith("- "):
            item = body[1:].strip()
            m = KEY_RE.match(item)
            if not m:  # a scalar item of a block list
                if out.get(parent) is None:
                    out[parent] = []
                if isinstance(out[parent], list):
                    out[parent].append(unquote(item))
                continue
            index = counters.get(parent, 0)
            counters[parent] = index + 1
            key = unquote(m.group(1))
            seg = f"[{unquote(m.group(2) or '')}]" if key == "name" else f"[{index}]"
            stack.append((ind, seg))
            ind += 2
            body = item
            parent = parent + (seg,)
        m = KEY_RE.match(body)
        if not m:
            continue
        key, value = unquote(m.group(1)), (m.group(2) or "").strip()
        path = parent + (key,)
        if value.startswith("#"):
            value = ""
        if not value:
            out[path] = None
            stack.append((ind, key))
        elif value.startswith("["):
            while value.count("[") > value.count("]") and i < len(lines):
                value += " " + lines[i].strip()
                i += 1
            out[path] = flow_list(value.split("#")[0] if "]" not in value else value[: value.rindex("]") + 1])
        else:
            out[path] = unquote(value)
            skip_deeper = ind  # block scalars and plain scalars continued on deeper lines
    return out


def spec_enums(doc):
    """{dotted path of the schema: [values]} for every enum, and the Adapter mapping's keys."""
    enums = {}
    for path, value in doc.items():
        if path and path[-1] == "enum" and isinstance(value, list):
            enums[".".join(path[:-1])] = value
    mapping = ("components", "schemas", "Adapter", "discriminator", "mapping")
    keys = [p[-1] for p in doc if p[:-1] == mapping]
    if keys:
        enums[".".join(mapping)] = keys
    return enums


def check_spec(report, domains, spec_path):
    with open(spec_path, encoding="utf-8") as f:
        enums = spec_enums(read_yaml(f.read()))
    if not report.check(len(enums) >= len(SPEC), f"{spec_path}: found only {len(enums)} enums; is it the spec?"):
        return
    seen = set()
    for where, values in sorted(enums.items()):
        mapped = SPEC.get(where)
        if mapped:
            seen.add(where)
            domain, relation = mapped
            if report.check(domain in domains, f"{spec_path}: {where} is mapped to {domain}, which api/vocab.def lacks"):
                compare(report, domain, f"{spec_path} {where}", values, domains[domain], relation)
        elif where in SPEC_NOT_VOCABULARY or SPEC_NOT_VOCABULARY_PATTERN.match(where):
            seen.add(where)
        elif all(re.fullmatch(r"-?\d+", v) for v in values):
            continue  # numbers
        else:
            report.check(False, f"{spec_path}: {where} enum {fmt(values)} is in no domain of api/vocab.def "
                         "(map it in SPEC of tools/checks/check_vocab.py, or list it in SPEC_NOT_VOCABULARY)")
    for where in SPEC:
        report.check(where in seen, f"{spec_path}: no enum at {where} (mapped in tools/checks/check_vocab.py)")


# ---- the database -------------------------------------------------------------------------------
CHECKS_SQL = """
SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
  FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
 WHERE c.contype = 'c' AND t.relnamespace = 'public'::regnamespace
 ORDER BY 1, 2"""
FUNCTIONS_SQL = """
SELECT p.proname, replace(replace(pg_get_functiondef(p.oid), E'\\n', ' '), E'\\t', ' ')
  FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.proname = ANY ('{%s}')
 ORDER BY 1"""
LIST_RE = re.compile(r"\(\(?(\w+) (?:= ANY \(|<@ )ARRAY\[([^\]]*)\]")
LITERAL_RE = re.compile(r"'((?:[^']|'')*)'::text")
EQ_RE = re.compile(r"\((\w+) (?:=|<>) '((?:[^']|'')*)'::text\)")


def psql(url, sql):
    try:
        r = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                           capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SystemExit(f"check_vocab: psql: {e}")
    if r.returncode != 0:
        print(f"check_vocab: psql failed: {r.stderr.strip()}", file=sys.stderr)
        sys.exit(2)
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def check_database(report, domains, url):
    seen = set()
    for table, name, definition in psql(url, CHECKS_SQL):
        m = LIST_RE.search(definition)
        if m and not LITERAL_RE.findall(m.group(2)):
            m = None  # a list of numbers (e.g. power_events' action codes) is not a vocabulary
        if m:
            column = f"{table}.{m.group(1)}"
            values = [v.replace("''", "'") for v in LITERAL_RE.findall(m.group(2))]
            domain = SQL.get(column)
            if not report.check(domain is not None, f"database {column} ({name}) {fmt(values)} is in no domain of "
                                "api/vocab.def (map it in SQL of tools/checks/check_vocab.py)"):
                continue
            seen.add(column)
            if report.check(domain in domains, f"database {column} is mapped to {domain}, which api/vocab.def lacks"):
                compare(report, domain, f"database {column} ({name})", values, domains[domain])
            continue
        for col, literal in EQ_RE.findall(definition):  # e.g. (inter_node = 'none') = (...)
            domain = SQL.get(f"{table}.{col}")
            if domain in domains:
                report.check(literal in domains[domain],
                             f"{domain}: database {table}.{col} ({name}) compares with \"{literal}\", not in api/vocab.def")
    for column, domain in SQL.items():
        report.check(column in seen, f"{domain}: database has no CHECK listing the values of {column}")
    for column, domain in SQL_ROWS.items():
        table, col = column.split(".")
        rows = [r[0] for r in psql(url, f"SELECT {col} FROM {table} ORDER BY 1")]
        if domain in domains:
            compare(report, domain, f"database rows of {column}", rows, domains[domain])
    found = {}
    for fname, text in psql(url, FUNCTIONS_SQL % ",".join(SQL_FUNCTIONS)):
        found.setdefault(fname, set()).update(re.findall(SQL_FUNCTIONS[fname][1], text))
    for fname, (domain, _) in SQL_FUNCTIONS.items():
        if report.check(fname in found, f"{domain}: database has no function {fname}()") and domain in domains:
            compare(report, domain, f"database function {fname}()", found[fname], domains[domain])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--def", dest="defpath", default="api/vocab.def")
    ap.add_argument("--spec", default="api/openapi.yaml")
    ap.add_argument("--database-url", help="a database migrated by `suanlid migrate`")
    args = ap.parse_args()
    report = Report()
    try:
        domains = read_def(args.defpath, report)
        mapped = {d for d, _ in SPEC.values()} | set(SQL.values()) | set(SQL_ROWS.values()) | \
            {d for d, _ in SQL_FUNCTIONS.values()}
        for domain in domains:
            report.check(domain in mapped, f"{domain}: checked nowhere (map it in tools/checks/check_vocab.py)")
        check_spec(report, domains, args.spec)
    except OSError as e:
        print(f"check_vocab: {e}", file=sys.stderr)
        return 2
    if args.database_url:
        check_database(report, domains, args.database_url)
    for d in report.diffs:
        print(f"DIFF {d}")
    where = "api/openapi.yaml" + (" and the database" if args.database_url else "")
    print(f"vocab: {report.checks} checks, {len(report.diffs)} differences ({len(domains)} domains against {where})")
    return 1 if report.diffs else 0


if __name__ == "__main__":
    sys.exit(main())
