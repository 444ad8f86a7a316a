#!/usr/bin/env python3
"""Seed the demo market's people through the API and print their tokens (deploy/quickstart.sh).

  deploy/demo_accounts.py URL ADMIN_TOKEN

Creates, once, a tenant `demo-tenant` (funded with 10000.00 USD), an operator `demo-operator`
for us-east-1 and us-west-2, and a provider `demo-provider` (it owns no pools: the seeded
pools belong to the catalog's providers); at every run it makes a fresh token for each
(labelled `quickstart`).  Prints shell assignments, one per line:

  SUANLI_DEMO_TENANT_TOKEN=sl_...
  SUANLI_DEMO_OPERATOR_TOKEN=sl_...
  SUANLI_DEMO_PROVIDER_TOKEN=sl_...

Exit status 1 (with the server's answer on stderr) when a call fails.  python3 stdlib only.
"""
import json
import secrets
import sys
import urllib.error
import urllib.request

PEOPLE = [("tenant", "demo-tenant", None), ("operator", "demo-operator", ["us-east-1", "us-west-2"]),
          ("provider", "demo-provider", None)]


def call(url, token, method, path, body=None, idem=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if idem:
        req.add_header("Idempotency-Key", idem)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def main(url, admin):
    out = []
    for kind, name, regions in PEOPLE:
        st, acc = 0, None
        after = 0
        while acc is None:  # find it (the list is paged by id)
            st, page = call(url, admin, "GET", "/v1/accounts?kind=%s&limit=500&after=%d" % (kind, after))
            if st != 200:
                sys.exit("listing %s accounts: %s %s" % (kind, st, page))
            acc = next((a for a in page["items"] if a["name"] == name), None)
            if page["next_after"] is None:
                break
            after = page["next_after"]
        created = acc is None
        if created:
            body = {"kind": kind, "name": name}
            if regions:
                body["regions"] = regions
            st, acc = call(url, admin, "POST", "/v1/accounts", body)
            if st != 201:
                sys.exit("creating %s: %s %s" % (name, st, acc))
        if kind == "tenant" and not created:
            # funded once: an account left unfunded by an interrupted earlier run is funded now
            st, bal = call(url, admin, "GET", "/v1/accounts/%d/balances" % acc["id"])
            if st != 200:
                sys.exit("balances of %s: %s %s" % (name, st, bal))
            created = all(bal.get(k) in ("0.00", "0") for k in ("available", "escrow", "spent_this_month"))
        if created and kind == "tenant":
            st, dep = call(url, admin, "POST", "/v1/accounts/%d/deposits" % acc["id"],
                           {"amount": "10000.00", "memo": "quickstart demo funds"},
                           idem="quickstart-demo-deposit-%d-%s" % (acc["id"], secrets.token_hex(8)))
            if st != 201:
                sys.exit("funding %s: %s %s" % (name, st, dep))
        st, tok = call(url, admin, "POST", "/v1/accounts/%d/tokens" % acc["id"], {"label": "quickstart"})
        if st != 201:
            sys.exit("token for %s: %s %s" % (name, st, tok))
        out.append("SUANLI_DEMO_%s_TOKEN=%s" % (kind.upper(), tok["token"]))
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1].rstrip("/"), sys.argv[2])
