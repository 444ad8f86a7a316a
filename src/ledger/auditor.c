/* audit.c — the auditor: re-reads the whole ledger and journal from the database and
 * recomputes every record, signature, leaf hash, chain link, checkpoint root, journal sum and
 * balance, reporting each inconsistency with the exact table and row. */
#include "suanli/db/ledger.h"
#include "suanli/db/ledger_audit.h"
#include "suanli/ledger/ledger.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char key_id[17];
  uint8_t pk[32];
  int64_t from, until;
} akey;

typedef struct {
  void (*report)(json_t *, void *);
  void *arg;
  long findings;
  akey *keys;
  size_t nkeys;
  sl_ledger_hash *leaves; /* recomputed leaf hashes in tree order */
  int64_t *entry_ids;     /* the entry at each leaf position */
  size_t nleaves, cap;
  sl_ledger_frontier front; /* the tree's frontier, pushed up to the checkpoint at hand */
  int64_t good_size;        /* the largest checkpoint size whose root matched */
  bool root_broken;         /* a checkpoint's root did not match: later roots rest on the break */
  int64_t last_cp;          /* the tree size of the previous checkpoint row (-1: none yet) */
  sl_ledger_hash chain;     /* the previous entry's stored chain value */
  bool have_chain;
  int64_t log_next;         /* the audit log's next chain position */
  sl_ledger_hash log_chain; /* the previous audit log row's stored chain value */
  bool log_have;
  bool failed;       /* out of memory */
  const char *check; /* the check name of simple_row's findings (NULL: "journal") */
  struct period_ref {
    char id[24], sha[65];
    int64_t from, to;
  } * period_ids;
  size_t nperiods;
} audit_ctx;

/* Report one finding: the check, the row (table and id), what was expected and what was
 * found there (NULL: not a single value), and a sentence. */
static void finding_ea(audit_ctx *a, const char *check, const char *table, const char *id,
                       const char *expected, const char *actual, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
static void vfinding(audit_ctx *a, const char *check, const char *table, const char *id,
                     const char *expected, const char *actual, const char *fmt, va_list ap) {
  char detail[400];
  vsnprintf(detail, sizeof detail, fmt, ap);
  a->findings++;
  json_t *f =
      json_pack("{s:s,s:s,s:s,s:s}", "check", check, "table", table, "id", id, "detail", detail);
  if (expected) json_object_set_new(f, "expected", json_string(expected));
  if (actual) json_object_set_new(f, "actual", json_string(actual));
  a->report(f, a->arg);
  json_decref(f);
}
static void finding_ea(audit_ctx *a, const char *check, const char *table, const char *id,
                       const char *expected, const char *actual, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfinding(a, check, table, id, expected, actual, fmt, ap);
  va_end(ap);
}
static void finding(audit_ctx *a, const char *check, const char *table, const char *id,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void finding(audit_ctx *a, const char *check, const char *table, const char *id,
                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfinding(a, check, table, id, NULL, NULL, fmt, ap);
  va_end(ap);
}

static const akey *find_key(const audit_ctx *a, const char *id) {
  for (size_t i = 0; i < a->nkeys; i++)
    if (!strcmp(a->keys[i].key_id, id)) return &a->keys[i];
  return NULL;
}

static int64_t num(const char *s) { return strtoll(s, NULL, 10); }

/* Compare one field of a record with the database's value.  When the entry's signature
 * verifies, the signed record is the truth and the row that disagrees is named (row_table,
 * row_id); otherwise the entry itself is. */
/* A number the signed record states against the database's: the row named is table/row. */
static void num_differs(audit_ctx *a, const char *check, const char *table, const char *row,
                        const char *entry, const char *name, int64_t signed_v, int64_t db_v) {
  if (signed_v == db_v) return;
  char e[24], v[24];
  snprintf(e, sizeof e, "%lld", (long long)signed_v);
  snprintf(v, sizeof v, "%lld", (long long)db_v);
  finding_ea(a, check, table, row, e, v, "%s: signed %s in entry %s, the row says %s", name, e,
             entry, v);
}

/* Compare one field of a record with the database's value.  When the entry's signature
 * verifies, the signed record is the truth and the row that disagrees is named (row_table,
 * row_id); otherwise the entry itself is. */
#define SAME(name, rec, db)                                                                        \
  num_differs(a, "record_matches_row", sig_good ? row_table : "ledger_entries",                    \
              sig_good ? row_id : id, id, name, (int64_t)(rec), (int64_t)(db))
/* A column of the entry's own row against its signed record: the entry row is named. */
#define COLUMN(name, rec, db)                                                                      \
  num_differs(a, "entry_column", "ledger_entries", id, id, name, (int64_t)(rec), (int64_t)(db))

/* Append a leaf hash (and the entry at that position, 0: none) to the tree being rebuilt. */
static bool push_leaf(audit_ctx *a, const sl_ledger_hash *leaf, int64_t entry_id) {
  if (a->nleaves == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 4096;
    sl_ledger_hash *nl = realloc(a->leaves, cap * sizeof *nl);
    if (nl) a->leaves = nl;
    int64_t *ni = nl ? realloc(a->entry_ids, cap * sizeof *ni) : NULL;
    if (!nl || !ni) {
      a->failed = true;
      return false;
    }
    a->entry_ids = ni;
    a->cap = cap;
  }
  a->entry_ids[a->nleaves] = entry_id;
  a->leaves[a->nleaves++] = *leaf;
  return true;
}

/* A POWER record against its power_events row (columns 34..41 of audit_entries): the row that
 * disagrees with a valid signature is the one named. */
static void power_matches(audit_ctx *a, const sl_ledger_power *w, const char *id, bool sig_good,
                          int nc, const char *const *col) {
  char row_id[24];
  snprintf(row_id, sizeof row_id, "%llu", (unsigned long long)w->event_id);
  const char *row_table = "power_events";
  if (nc < 42 || num(col[34]) == 0) {
    finding(a, "record_matches_row", "ledger_entries", id, "power event %s does not exist", row_id);
    return;
  }
  SAME("action", w->action, num(col[35]));
  SAME("account_id", w->account_id, num(col[36]));
  SAME("actor_id", w->actor_id, num(col[37]));
  SAME("role", w->role, num(col[38]));
  SAME("object_id", w->object_id, num(col[39]));
  uint8_t d[32];
  if (!sl_ledger_hex_decode(col[40], d, 32) || memcmp(d, w->digest.b, 32) != 0) {
    char want[65];
    sl_ledger_hex_encode(w->digest.b, 32, want);
    finding_ea(a, "record_matches_row", sig_good ? row_table : "ledger_entries",
               sig_good ? row_id : id, want, col[40],
               "digest: the signed digest in entry %s differs from the power event's", id);
  }
  if (w->at < num(col[41])) SAME("at", w->at, num(col[41]));
}

/* An AUDIT_HEAD record against the audit log (columns 42, 43 of audit_entries: the stored
 * chain value and id of the row at position count - 1). */
static void head_matches(audit_ctx *a, const sl_ledger_audit_head *h, const char *id, int nc,
                         const char *const *col, const bool *nul) {
  char want[65];
  sl_ledger_hex_encode(h->chain.b, 32, want);
  if (nc < 44 || nul[42]) {
    char pos[24];
    snprintf(pos, sizeof pos, "%llu", (unsigned long long)h->count - 1);
    finding_ea(a, "audit_log_chain", "ledger_entries", id, want, "none",
               "signs the audit log up to position %s, which holds no chained row", pos);
  } else if (strcmp(want, col[42]) != 0) {
    finding_ea(a, "audit_log_chain", "audit_log", col[43], want, col[42],
               "the audit log up to this row (position %llu) no longer chains to the head signed"
               " in entry %s: a row at or before it was changed and the chain recomputed",
               (unsigned long long)h->count - 1, id);
  }
}

/* One row of the audit log in chain order (audit_log_chain): its position follows the previous
 * row's and its chain value follows from the previous row's stored one and its own hash as
 * the row is now; a deleted or edited row is named once, where it breaks the chain. */
static bool log_row(int nc, const char *const *col, const bool *nul, void *arg) {
  audit_ctx *a = arg;
  (void)nul;
  if (nc < 4) return true;
  int64_t seq = num(col[0]);
  sl_ledger_hash h, stored, link;
  bool ok = sl_ledger_hex_decode(col[2], h.b, 32);
  bool have = sl_ledger_hex_decode(col[3], stored.b, 32);
  if (seq != a->log_next) {
    char want[24], got[24];
    snprintf(want, sizeof want, "%lld", (long long)a->log_next);
    snprintf(got, sizeof got, "%lld", (long long)seq);
    finding_ea(a, "audit_log_chain", "audit_log", col[1], want, got,
               "at chain position %lld: positions %lld..%lld hold no row (deleted)", (long long)seq,
               (long long)a->log_next, (long long)seq - 1);
  } else if (ok) {
    sl_ledger_chain_step(a->log_have ? &a->log_chain : NULL, &h, &link);
    if (!have || memcmp(link.b, stored.b, 32) != 0) {
      char want[65];
      sl_ledger_hex_encode(link.b, 32, want);
      finding_ea(a, "audit_log_chain", "audit_log", col[1], want, col[3],
                 "the row as it is now does not chain from the row before it (changed)");
    }
  }
  a->log_next = seq + 1;
  a->log_chain = have ? stored : link;
  a->log_have = true;
  return true;
}

static bool entry_row(int nc, const char *const *col, const bool *nul, void *arg) {
  audit_ctx *a = arg;
  const char *id = col[0];
  int purpose = atoi(col[1]);
  uint8_t rec[SL_LEDGER_RECORD_MAX], sig[64], kid[8];
  size_t rlen = 0;
  sl_ledger_record r;
  if (!sl_ledger_hex_decode_var(col[4], rec, sizeof rec, &rlen) ||
      sl_ledger_record_decode(rec, rlen, &r) != SL_LEDGER_OK) {
    finding(a, "record_decodes", "ledger_entries", id, "the record is not a valid signed layout");
    return true;
  }
  if ((int)r.purpose != purpose)
    finding(a, "record_decodes", "ledger_entries", id, "record purpose %u, row says %d", r.purpose,
            purpose);
  if ((int64_t)sl_ledger_record_entry_id(&r) != num(id))
    finding(a, "entry_id", "ledger_entries", id, "the record is signed as entry %llu",
            (unsigned long long)sl_ledger_record_entry_id(&r));
  const akey *k = find_key(a, col[5]);
  bool sig_ok = sl_ledger_hex_decode(col[6], sig, 64) && sl_ledger_hex_decode(col[5], kid, 8);
  bool sig_good = false;
  int64_t t = 0;
  sl_ledger_record_time(&r, &t);
  if (!k) finding(a, "signature", "ledger_entries", id, "unknown key %.20s", col[5]);
  else if (!sig_ok || sl_ledger_verify(k->pk, rec, rlen, sig) != SL_LEDGER_OK)
    finding(a, "signature", "ledger_entries", id, "the signature does not verify with key %s",
            k->key_id);
  else if (t < k->from || (k->until && t >= k->until))
    finding(a, "signature", "ledger_entries", id, "signed at %lld outside key %s's validity",
            (long long)t, k->key_id);
  else sig_good = true;
  const char *row_table = "ledger_entries", *row_id = id;
  char row_buf[24];
  if (r.purpose == SL_LEDGER_TRADE) {
    row_table = "trades";
    snprintf(row_buf, sizeof row_buf, "%llu", (unsigned long long)r.u.trade.trade_id);
    row_id = row_buf;
  } else if (sl_ledger_purpose_is_money(r.purpose)) {
    row_table = "journal_txns";
    snprintf(row_buf, sizeof row_buf, "%llu", (unsigned long long)r.u.money.journal_txn_id);
    row_id = row_buf;
  } else if (r.purpose == SL_LEDGER_PERIOD_CLOSE) {
    row_table = "periods";
    snprintf(row_buf, sizeof row_buf, "%llu", (unsigned long long)r.u.period.period_id);
    row_id = row_buf;
  }
  /* every column of the entry's own row against its record (id and purpose above) */
  int64_t c_trade = num(col[2]), c_txn = num(col[3]), c_power = nc > 33 ? num(col[33]) : 0;
  if (r.purpose == SL_LEDGER_TRADE) {
    COLUMN("trade_id", r.u.trade.trade_id, c_trade);
    COLUMN("journal_txn_id", 0, c_txn);
  } else if (sl_ledger_purpose_is_money(r.purpose)) {
    COLUMN("trade_id", r.u.money.trade_id, c_trade);
    COLUMN("journal_txn_id", r.u.money.journal_txn_id, c_txn);
  } else {
    COLUMN("trade_id", 0, c_trade);
    COLUMN("journal_txn_id", 0, c_txn);
  }
  COLUMN("power_event_id", r.purpose == SL_LEDGER_POWER ? r.u.power.event_id : 0, c_power);
  if (r.purpose == SL_LEDGER_POWER) power_matches(a, &r.u.power, id, sig_good, nc, col);
  if (r.purpose == SL_LEDGER_AUDIT_HEAD) head_matches(a, &r.u.audit_head, id, nc, col, nul);
  /* what the record says against the rows it records */
  if (r.purpose == SL_LEDGER_TRADE) {
    const sl_ledger_trade *x = &r.u.trade;
    if (num(col[10]) == 0) {
      finding(a, "record_matches_row", "ledger_entries", id, "trade %llu does not exist",
              (unsigned long long)x->trade_id);
    } else {
      SAME("trade_id", x->trade_id, num(col[10]));
      SAME("order_id", x->order_id, num(col[11]));
      SAME("tenant_id", x->tenant_id, num(col[12]));
      SAME("provider_id", x->provider_id, num(col[13]));
      SAME("pool_id", x->pool_id, num(col[14]));
      SAME("gpus", x->gpus, num(col[15]));
      SAME("start", x->start, num(col[16]));
      SAME("end", x->end, num(col[17]));
      SAME("unit_price_minor", x->unit_price_minor, num(col[18]));
      SAME("total_minor", x->total_minor, num(col[19]));
      SAME("fee_bp", x->fee_bp, num(col[20]));
      SAME("created_at", x->created_at, num(col[21]));
    }
  } else if (sl_ledger_purpose_is_money(r.purpose)) {
    const sl_ledger_money *x = &r.u.money;
    if (!col[22][0]) {
      finding(a, "record_matches_row", "ledger_entries", id,
              "journal transaction %llu does not exist", (unsigned long long)x->journal_txn_id);
    } else {
      static const char *const kinds[] = {"",       "",        "cancellation", "settlement",
                                          "refund", "deposit", "withdrawal"};
      if (r.purpose < 7 && strcmp(kinds[r.purpose], col[22]) != 0)
        finding(a, "record_matches_row", sig_good ? row_table : "ledger_entries",
                sig_good ? row_id : id, "kind: signed %s in entry %s, journal says %s",
                kinds[r.purpose], id, col[22]);
      SAME("trade_id", x->trade_id, num(col[23]));
      SAME("account_id", x->account_id, num(col[24]));
      SAME("at", x->at, num(col[25]));
      SAME("to_tenant_minor", x->to_tenant_minor, num(col[26]));
      SAME("to_provider_minor", x->to_provider_minor, num(col[27]));
      SAME("fee_minor", x->fee_minor, num(col[28]));
    }
  }
  if (r.purpose == SL_LEDGER_PERIOD_CLOSE) {
    const sl_ledger_period *x = &r.u.period;
    if (nc < 33 || num(col[29]) == 0) {
      finding(a, "record_matches_row", "ledger_entries", id, "period %llu has no closed period row",
              (unsigned long long)x->period_id);
    } else {
      uint8_t sha[32];
      SAME("period_id", x->period_id, num(col[29]));
      SAME("start", x->start, num(col[30]));
      SAME("end", x->end, num(col[31]));
      if (!sl_ledger_hex_decode(col[32], sha, 32) || memcmp(sha, x->sha256.b, 32) != 0)
        finding(a, "record_matches_row", sig_good ? row_table : "ledger_entries",
                sig_good ? row_id : id,
                "export_sha256: the signed digest in entry %s differs from the period's", id);
    }
  }
  /* tree position, leaf hash and chain link: each checked against this entry and the stored
   * values of the one before it, so a break is reported where it is, once, not again at every
   * later entry */
  int64_t li = num(col[7]);
  if (li < 0) return true; /* not yet sequenced */
  if (li < (int64_t)a->nleaves) {
    char want[24], got[24];
    snprintf(want, sizeof want, "%zu", a->nleaves);
    snprintf(got, sizeof got, "%lld", (long long)li);
    finding_ea(a, "tree_order", "ledger_entries", id, want, got,
               "at tree position %lld, which an earlier entry holds", (long long)li);
    return true;
  }
  if (li > (int64_t)a->nleaves) {
    char want[24], got[24];
    snprintf(want, sizeof want, "%zu", a->nleaves);
    snprintf(got, sizeof got, "%lld", (long long)li);
    finding_ea(a, "tree_order", "ledger_entries", id, want, got,
               "at tree position %lld: positions %zu..%lld hold no entry (deleted?)", (long long)li,
               a->nleaves, (long long)li - 1);
    sl_ledger_hash none;
    memset(none.b, 0, sizeof none.b);
    while ((int64_t)a->nleaves < li)
      if (!push_leaf(a, &none, 0)) return false;
  }
  sl_ledger_hash leaf, stored, link;
  bool have_leaf = sig_ok && sl_ledger_entry_leaf_hash(rec, rlen, kid, sig, &leaf) == SL_LEDGER_OK;
  bool stored_ok = sl_ledger_hex_decode(col[8], stored.b, 32);
  bool leaf_bad = have_leaf && (!stored_ok || memcmp(stored.b, leaf.b, 32) != 0);
  if (leaf_bad) {
    char want[65];
    sl_ledger_hex_encode(leaf.b, 32, want);
    finding_ea(a, "leaf_hash", "ledger_entries", id, want, col[8],
               "the stored leaf hash is not the hash of the entry");
  }
  if (!have_leaf && !stored_ok) memset(leaf.b, 0, sizeof leaf.b);
  if (!have_leaf && stored_ok) leaf = stored;
  sl_ledger_chain_step(a->have_chain ? &a->chain : NULL, &leaf, &link);
  sl_ledger_hash chain;
  bool chain_ok = sl_ledger_hex_decode(col[9], chain.b, 32);
  if (!leaf_bad && (!chain_ok || memcmp(chain.b, link.b, 32) != 0)) {
    char want[65];
    sl_ledger_hex_encode(link.b, 32, want);
    finding_ea(a, "hash_chain", "ledger_entries", id, want, col[9],
               "the hash chain link does not follow from the previous entry's");
  }
  a->chain = chain_ok ? chain : link;
  a->have_chain = true;
  /* the tree as the sequencer built it: from the stored leaf hashes (a record changed under
   * its stored hash is reported above, and does not break every later checkpoint) */
  if (!push_leaf(a, stored_ok ? &stored : &leaf, num(id))) return false;
  (void)nul;
  return true;
}

static bool checkpoint_row(int nc, const char *const *col, const bool *nul, void *arg) {
  audit_ctx *a = arg;
  const char *id = col[0];
  int64_t size = num(col[0]);
  /* no gap: each checkpoint names the size of the one before it (schema/023) */
  if (nc > 6 && !nul[6] && num(col[6]) != a->last_cp) {
    char want[24], got[24];
    snprintf(want, sizeof want, "%lld", (long long)num(col[6]));
    snprintf(got, sizeof got, "%lld", (long long)a->last_cp);
    finding_ea(a, "checkpoint_gap", "ledger_checkpoints", want, want, a->last_cp < 0 ? "none" : got,
               "missing: checkpoint %lld follows checkpoint %s, but was signed after checkpoint %s",
               (long long)size, a->last_cp < 0 ? "(none)" : got, want);
  }
  a->last_cp = size;
  uint8_t rec[SL_LEDGER_CHECKPOINT_SIZE], sig[64];
  size_t rlen;
  sl_ledger_checkpoint cp;
  sl_ledger_hash root;
  if (!sl_ledger_hex_decode_var(col[5], rec, sizeof rec, &rlen) ||
      sl_ledger_checkpoint_decode(rec, rlen, &cp) != SL_LEDGER_OK) {
    finding(a, "checkpoint", "ledger_checkpoints", id, "the record is not a valid CHECKPOINT");
    return true;
  }
  if (!sl_ledger_hex_decode(col[1], root.b, 32) || memcmp(root.b, cp.root.b, 32) != 0 ||
      (int64_t)cp.tree_size != size || cp.timestamp != num(col[2]))
    finding(a, "checkpoint", "ledger_checkpoints", id, "the columns differ from the signed record");
  const akey *k = find_key(a, col[3]);
  if (!k || !sl_ledger_hex_decode(col[4], sig, 64) ||
      sl_ledger_verify(k->pk, rec, rlen, sig) != SL_LEDGER_OK)
    finding(a, "checkpoint", "ledger_checkpoints", id, "the signature does not verify");
  else if (cp.timestamp < k->from || (k->until && cp.timestamp >= k->until))
    finding(a, "checkpoint", "ledger_checkpoints", id, "signed at %lld outside key %s's validity",
            (long long)cp.timestamp, k->key_id);
  if (size > (int64_t)a->nleaves) {
    char want[24], got[24];
    snprintf(want, sizeof want, "%zu", a->nleaves);
    snprintf(got, sizeof got, "%lld", (long long)size);
    finding_ea(a, "checkpoint", "ledger_checkpoints", id, want, got,
               "covers %lld entries but the tree has %zu", (long long)size, a->nleaves);
  } else if (!a->root_broken) {
    sl_ledger_hash mth;
    /* checkpoints come in increasing size: their roots cost O(n) in all */
    while ((int64_t)a->front.leaves < size)
      sl_ledger_frontier_push(&a->front, &a->leaves[a->front.leaves]);
    sl_ledger_frontier_root(&a->front, &mth);
    if (memcmp(mth.b, cp.root.b, 32) != 0) {
      char want[65], got[65];
      sl_ledger_hex_encode(mth.b, 32, want);
      sl_ledger_hex_encode(cp.root.b, 32, got);
      finding_ea(a, "checkpoint", "ledger_checkpoints", id, want, got,
                 "the signed root is not the root of the first %lld entries as they are now"
                 " (the first break; later checkpoints rest on it and are not compared)",
                 (long long)size);
      /* the change lies among the entries this checkpoint added to the last good one */
      for (int64_t i = a->good_size; i < size; i++) {
        char eid[24];
        if (a->entry_ids[i] == 0) continue;
        snprintf(eid, sizeof eid, "%lld", (long long)a->entry_ids[i]);
        finding(a, "tree_order", "ledger_entries", eid,
                "at tree position %lld, between checkpoint %lld (consistent) and checkpoint %lld "
                "(root mismatch): changed, moved or re-appended",
                (long long)i, (long long)a->good_size, (long long)size);
      }
      a->root_broken = true;
    } else {
      a->good_size = size;
    }
  }
  return true;
}

/* A closed period's canonical export must still hash to what was signed when it closed. */
static bool period_row(int nc, const char *const *col, const bool *nul, void *arg) {
  audit_ctx *a = arg;
  if (nc < 5) return true;
  if (num(col[4]) == 0)
    finding(a, "period", "periods", col[0], "the closed period has no signed PERIOD_CLOSE entry");
  a->period_ids = realloc(a->period_ids, (a->nperiods + 1) * sizeof *a->period_ids);
  if (!a->period_ids) {
    a->failed = true;
    return false;
  }
  struct period_ref *p = &a->period_ids[a->nperiods++];
  snprintf(p->id, sizeof p->id, "%s", col[0]);
  p->from = num(col[1]);
  p->to = num(col[2]);
  snprintf(p->sha, sizeof p->sha, "%s", col[3]);
  (void)nul;
  return true;
}

static bool simple_row(int nc, const char *const *col, const bool *nul, void *arg) {
  audit_ctx *a = arg;
  if (nc >= 5)
    finding_ea(a, a->check ? a->check : "journal", col[0], col[1], nul[3] ? NULL : col[3],
               nul[4] ? NULL : col[4], "%s", col[2]);
  else if (nc >= 3) finding(a, a->check ? a->check : "journal", col[0], col[1], "%s", col[2]);
  (void)nul;
  return true;
}

static long audit_snapshot(sl_dbc *c, sl_ledger_period_digest digest,
                           void (*report)(json_t *, void *), void *arg) {
  audit_ctx a = {.report = report, .arg = arg, .last_cp = -1};
  sl_db_key_row *rows;
  sl_dbrc rc = sl_db_keys_rows(c, &rows, &a.nkeys);
  if (rc != SL_DB_OK) return -1;
  a.keys = calloc(a.nkeys ? a.nkeys : 1, sizeof *a.keys);
  for (size_t i = 0; a.keys && i < a.nkeys; i++) {
    akey *k = &a.keys[i];
    snprintf(k->key_id, sizeof k->key_id, "%.16s", rows[i].key_id);
    k->from = rows[i].valid_from;
    k->until = rows[i].valid_until;
    char want[17];
    if (!sl_ledger_hex_decode(rows[i].public_hex, k->pk, 32)) {
      finding(&a, "keys", "exchange_keys", k->key_id, "the public key is not 32 bytes of hex");
      continue;
    }
    sl_ledger_key_id_hex(k->pk, want);
    if (strcmp(want, k->key_id) != 0)
      finding(&a, "keys", "exchange_keys", k->key_id,
              "the key id is not derived from the public key (%s)", want);
  }
  free(rows);
  static const char *const checks[] = {
      "audit_trades_unsigned", "audit_txns_unsigned", "audit_txns_unbalanced", "audit_txns_empty",
      "audit_balances",        "audit_balance_chain", "audit_floors",          "audit_trade_totals",
      "audit_trade_escrow",    "audit_refunds",       "audit_posting_parties"};
  if (a.keys) rc = sl_db_each(c, "audit_entries", 0, NULL, entry_row, &a);
  if (rc == SL_DB_OK && !a.failed)
    rc = sl_db_each(c, "audit_checkpoints", 0, NULL, checkpoint_row, &a);
  if (rc == SL_DB_OK && !a.failed) rc = sl_db_each(c, "audit_log_chain", 0, NULL, log_row, &a);
  /* the sequencer signs a checkpoint in the transaction that extends the tree: the latest
   * one covers every sequenced entry */
  if (rc == SL_DB_OK && !a.failed && a.nleaves > 0 && a.last_cp != (int64_t)a.nleaves) {
    char want[24], got[24];
    snprintf(want, sizeof want, "%zu", a.nleaves);
    snprintf(got, sizeof got, "%lld", (long long)a.last_cp);
    finding_ea(&a, "checkpoint_gap", "ledger_checkpoints", want, want, a.last_cp < 0 ? "none" : got,
               "missing: the tree has %zu sequenced entries but the latest checkpoint covers %s",
               a.nleaves, a.last_cp < 0 ? "none" : got);
  }
  for (size_t i = 0; rc == SL_DB_OK && i < sizeof checks / sizeof checks[0]; i++)
    rc = sl_db_each(c, checks[i], 0, NULL, simple_row, &a);
  /* the calendar against the trades, and the idempotency records against their requests */
  static const char *const more[][2] = {
      {"audit_calendar", "calendar"},       {"audit_idempotency", "idempotency"},
      {"audit_trade_state", "trade_state"}, {"audit_reservations", "reservation_state"},
      {"audit_power_accounts", "power"},    {"audit_power_tokens", "power"},
      {"audit_power_regions", "power"},     {"audit_power_unsigned", "power"},
      {"audit_money_grants", "power"}};
  for (size_t i = 0; rc == SL_DB_OK && i < sizeof more / sizeof more[0]; i++) {
    a.check = more[i][1];
    rc = sl_db_each(c, more[i][0], 0, NULL, simple_row, &a);
  }
  a.check = NULL;
  if (rc == SL_DB_OK) rc = sl_db_each(c, "audit_periods", 0, NULL, period_row, &a);
  for (size_t i = 0; rc == SL_DB_OK && i < a.nperiods; i++) {
    uint8_t sha[32];
    char hex[65];
    rc = digest(c, a.period_ids[i].from, a.period_ids[i].to, sha);
    if (rc == SL_DB_OK) {
      sl_ledger_hex_encode(sha, 32, hex);
      if (strcmp(hex, a.period_ids[i].sha) != 0)
        finding(&a, "period", "periods", a.period_ids[i].id,
                "the journal of this closed period no longer hashes to its signed export digest");
    }
  }
  free(a.period_ids);
  free(a.keys);
  free(a.leaves);
  free(a.entry_ids);
  return (rc != SL_DB_OK || a.failed || !a.keys) && rc != SL_DB_OK ? -1 : a.findings;
}

/* Every check reads one snapshot of the database, so a live exchange (whose sequencer keeps
 * appending entries and checkpoints) is audited as of one instant, never half before and half
 * after a batch. */
long sl_ledger_audit(sl_dbc *c, sl_ledger_period_digest digest, void (*report)(json_t *, void *),
                     void *arg) {
  if (sl_db_begin_snapshot(c) != SL_DB_OK) return -1;
  long n = audit_snapshot(c, digest, report, arg);
  sl_db_rollback(c);
  return n;
}
