/* h_ledger.c — the published keys, receipts, checkpoints and proofs: everything a tenant,
 * provider or outside auditor needs to verify a trade offline (tools/suanli-verify). */
#include "internal.h"
#include "suanli/db/ledger.h"
#include "suanli/db/market.h"
#include "suanli/ledger/ledger.h"
#include <stdio.h>
#include <string.h>

/* GET /v1/keys (public): every key with its validity period. */
void h_keys_list(sl_req *r) {
  if (!sl_req_connect(r, 2000)) return;
  json_t *keys;
  sl_dbrc rc = sl_db_keys_json(r->db, &keys);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, keys);
}

bool sl_ledger_servable(sl_req *r) {
  char why[200];
  sl_dbrc rc = sl_ledger_check(r->db, why, sizeof why);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else if (why[0]) sl_reply_error(r, SL_E_LEDGER_INCONSISTENT, NULL, "%s", why);
  return rc == SL_DB_OK && !why[0];
}

/* Reply to a failed ledger read: SL_DB_NOROWS from a proof or a covering checkpoint means the
 * stored tree lacks what its checkpoints promise (never a half-filled entry, never a 500). */
static void reply_ledger_db(sl_req *r, sl_dbrc rc) {
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_LEDGER_INCONSISTENT, NULL,
                   "a sequenced entry has no checkpoint or proof that covers it");
  else sl_reply_db(r, rc);
}

/* Add the inclusion proof of entry e (a JSON object from the database) against the latest
 * checkpoint that covers it, or nulls when it is not yet sequenced.  SL_DB_NOROWS when it is
 * sequenced but no checkpoint or proof covers it (the ledger is inconsistent). */
static sl_dbrc add_proof(sl_req *r, json_t *e) {
  json_t *li = json_object_get(e, "leaf_index"), *cp = NULL, *proof = NULL;
  json_object_set_new(e, "tree_size", json_null());
  json_object_set_new(e, "inclusion_proof", json_null());
  json_object_set_new(e, "checkpoint", json_null());
  if (!json_is_integer(li)) return SL_DB_OK;
  sl_dbrc rc = sl_db_checkpoint_covering(r->db, json_integer_value(li), &cp);
  if (rc != SL_DB_OK) return rc;
  int64_t size = json_integer_value(json_object_get(cp, "tree_size"));
  rc = sl_ledger_inclusion(r->db, json_integer_value(li), size, &proof);
  if (rc != SL_DB_OK) {
    json_decref(cp);
    return rc;
  }
  json_object_set_new(e, "tree_size", json_integer(size));
  json_object_set_new(e, "inclusion_proof", proof);
  json_object_set_new(e, "checkpoint", cp);
  return SL_DB_OK;
}

/* GET /v1/trades/{id}/receipt: the trade, its signed TRADE record and every signed money
 * event of the trade, each with its inclusion proof when sequenced. */
void h_trades_receipt(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id) || !sl_ledger_servable(r)) return;
  sl_trade_scope s = {0, NULL};
  if (sl_role_is(r, "tenant") || sl_role_is(r, "provider")) s.party = r->who.account_id;
  else if (sl_role_is(r, "operator")) s.regions = r->who.regions;
  json_t *t = NULL, *entries = NULL;
  sl_dbrc rc = sl_db_trade_get(r->db, id, &s, &t);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no trade %lld", (long long)id);
    return;
  }
  if (rc == SL_DB_OK) rc = sl_db_entries_of_trade(r->db, id, &entries);
  json_t *trade_entry = NULL, *events = json_array();
  size_t i;
  json_t *e;
  json_array_foreach(entries, i, e) {
    if (rc != SL_DB_OK) break;
    rc = add_proof(r, e);
    if (json_integer_value(json_object_get(e, "purpose")) == SL_LEDGER_TRADE && !trade_entry)
      trade_entry = json_incref(e);
    else json_array_append(events, e);
  }
  if (rc != SL_DB_OK) {
    reply_ledger_db(r, rc);
  } else if (!trade_entry) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "trade %lld has no ledger entry (signing is off)",
                   (long long)id);
  } else {
    json_object_set_new(trade_entry, "trade", json_incref(t));
    json_object_set_new(trade_entry, "money_events", json_incref(events));
    sl_reply_json(r, 200, json_incref(trade_entry));
  }
  json_decref(trade_entry);
  json_decref(events);
  json_decref(entries);
  json_decref(t);
}

/* GET /v1/ledger/entries/{id}: any entry with its inclusion proof. */
void h_ledger_entry(sl_req *r) {
  int64_t id;
  if (!sl_req_path_id(r, 0, &id) || !sl_ledger_servable(r)) return;
  json_t *e;
  sl_dbrc rc = sl_db_entry_get(r->db, id, &e);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no ledger entry %lld", (long long)id);
    return;
  }
  if (rc == SL_DB_OK && !sl_role_is(r, "admin")) {
    /* only the parties of the entry's trade (or account) may read it */
    int64_t trade = json_integer_value(json_object_get(e, "trade_id"));
    int64_t owner =
        json_integer_value(json_object_get(e, "account_id")); /* deposits, withdrawals */
    json_t *t = NULL;
    sl_trade_scope s = {r->who.account_id, NULL};
    if (sl_role_is(r, "operator")) s = (sl_trade_scope){0, r->who.regions};
    bool mine =
        trade ? sl_db_trade_get(r->db, trade, &s, &t) == SL_DB_OK : owner == r->who.account_id;
    if (!mine) {
      json_decref(e);
      sl_reply_error(r, SL_E_NOT_FOUND, "id", "no ledger entry %lld", (long long)id);
      return;
    }
    json_decref(t);
  }
  if (rc == SL_DB_OK) rc = add_proof(r, e);
  if (rc != SL_DB_OK) {
    json_decref(e);
    reply_ledger_db(r, rc);
  } else {
    sl_reply_json(r, 200, e);
  }
}

/* GET /v1/ledger/checkpoint: the latest signed tree head. */
void h_checkpoint_latest(sl_req *r) {
  if (!sl_ledger_servable(r)) return;
  json_t *cp;
  sl_dbrc rc = sl_db_checkpoint_get(r->db, -1, &cp);
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, NULL, "no checkpoint has been signed yet");
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, cp);
}

/* GET /v1/ledger/audit: the latest recorded run of `suanlid audit` (404 before the first). */
void h_ledger_audit_latest(sl_req *r) {
  json_t *run;
  sl_dbrc rc = sl_db_audit_run_latest(r->db, &run);
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, NULL, "no audit run has been recorded yet");
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, run);
}

/* GET /v1/ledger/checkpoints/{size}. */
void h_checkpoint_get(sl_req *r) {
  int64_t size;
  if (!sl_req_path_id(r, 0, &size) || !sl_ledger_servable(r)) return;
  json_t *cp;
  sl_dbrc rc = sl_db_checkpoint_get(r->db, size, &cp);
  if (rc == SL_DB_NOROWS)
    sl_reply_error(r, SL_E_NOT_FOUND, "size", "no checkpoint of size %lld", (long long)size);
  else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, cp);
}

/* GET /v1/ledger/consistency?from=M&to=N: RFC 9162 consistency proof between two signed
 * tree sizes (both must be checkpoints, except from = 0: the empty tree, whose proof is empty). */
void h_consistency(sl_req *r) {
  int64_t from = -1, to = -1;
  if (!sl_req_query_int(r, "from", 0, INT64_C(9007199254740991), &from) ||
      !sl_req_query_int(r, "to", 1, INT64_C(9007199254740991), &to))
    return;
  if (from < 0 || to < 0) {
    sl_reply_error(r, SL_E_BAD_QUERY, from < 0 ? "from" : "to", "from and to are required");
    return;
  }
  if (from > to) {
    sl_reply_error(r, SL_E_BAD_QUERY, "from", "from must not exceed to");
    return;
  }
  if (!sl_ledger_servable(r)) return;
  json_t *a = NULL, *b = NULL, *proof = NULL;
  sl_dbrc rc = from > 0 ? sl_db_checkpoint_get(r->db, from, &a) : SL_DB_OK;
  if (rc == SL_DB_OK) rc = sl_db_checkpoint_get(r->db, to, &b);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, from > 0 && !a ? "from" : "to", "no checkpoint of that size");
  } else if (rc == SL_DB_OK && (rc = sl_ledger_consistency(r->db, from, to, &proof)) == SL_DB_OK) {
    sl_reply_json(
        r, 200,
        json_pack("{s:I,s:I,s:o}", "from", (json_int_t)from, "to", (json_int_t)to, "proof", proof));
  } else {
    reply_ledger_db(r, rc);
  }
  json_decref(a);
  json_decref(b);
}

/* GET /v1/ledger/checkpoints?after=SIZE&limit=N: every signed checkpoint, by tree size (a
 * monitor or witness walks them all without probing sizes). */
void h_checkpoints_list(sl_req *r) {
  int64_t after;
  int limit;
  if (!sl_req_page_id(r, &after, &limit) || !sl_ledger_servable(r)) return;
  json_t *items = NULL;
  sl_dbrc rc = sl_db_checkpoints_list(r->db, after, limit, &items);
  sl_reply_page(r, rc, items, limit, "tree_size");
}

/* GET /v1/ledger/entries?from=LEAF&limit=N: the tree positions [from, from + limit) with their
 * leaf and chain hashes; records, keys and signatures of the entries the reader may read
 * (admins: all; others: their parties' entries, as GET /v1/ledger/entries/{id}). */
void h_ledger_entries(sl_req *r) {
  int64_t from = 0, limit = 100;
  if (!sl_req_query_int(r, "from", 0, INT64_C(9007199254740991), &from) ||
      !sl_req_query_int(r, "limit", 1, 1000, &limit) || !sl_ledger_servable(r))
    return;
  json_t *items;
  int64_t reader = sl_role_is(r, "admin") ? 0 : r->who.account_id;
  sl_dbrc rc = sl_db_leaves_list(r->db, from, (int)limit, reader, &items);
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    return;
  }
  size_t n = json_array_size(items);
  json_t *next = n == (size_t)limit ? json_integer(from + limit) : json_null();
  sl_reply_json(r, 200, json_pack("{s:o,s:o}", "items", items, "next_from", next));
}
