/* mutate.c — the one path every mutating request takes:
 *
 *   Idempotency-Key claim (autocommit)  →  BEGIN  →  lock the claim  →  handler  →  audit row
 *   + idempotency completion (fenced by the claim's token)  →  COMMIT,  retried on
 *   serialization failures and deadlocks.
 *
 * A successful mutation, its audit row and its stored reply commit together, so a crash
 * can never leave a change without its audit row or a key whose change committed but whose
 * reply is unknown.  A refused request rolls back and then records its audit row (and its
 * reply under the key) in a short transaction of its own.
 *
 * Money-moving routes require an Idempotency-Key.  When the reply to COMMIT is lost,
 * sl_db_commit asks PostgreSQL what became of the transaction before anything is answered:
 * committed → the committed reply; not committed → 503 database_unavailable (retry);
 * cannot tell → 503 outcome_unknown (retry only with the same key, which then replays). */
#include "internal.h"
#include "suanli/core/log.h"
#include "suanli/db/idempotency.h"
#include "suanli/db/request_log.h"
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIES 4
/* An in-flight claim not locked by a running business transaction is abandoned after this
 * long (src/db/idempotency.c). */
#define IDEM_LEASE_S 3

/* The routes that move money: an Idempotency-Key is required (400 without one). */
static bool moves_money(const sl_req *r) {
  static const char *const actions[] = {"order.create",   "trade.cancel", "money.deposit",
                                        "money.withdraw", "agent.result", NULL};
  const char *a = r->route ? r->route->action : NULL;
  for (const char *const *p = actions; a && *p; p++)
    if (strcmp(*p, a) == 0) return true;
  return false;
}

static bool valid_key(const char *k) {
  size_t n = strlen(k);
  if (n < 1 || n > 128) return false;
  for (const char *p = k; *p; p++)
    if (*p < 0x21 || *p > 0x7e) return false;
  return true;
}

/* Hash of what makes two requests "the same": method, path with query, body. */
static void request_hash(sl_req *r, uint8_t out[32]) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  crypto_generichash_update(&st, (const unsigned char *)r->method, strlen(r->method) + 1);
  crypto_generichash_update(&st, (const unsigned char *)r->path, strlen(r->path) + 1);
  if (r->body_len) crypto_generichash_update(&st, (const unsigned char *)r->body, r->body_len);
  crypto_generichash_final(&st, out, 32);
}

static void serialise(sl_req *r) {
  if (!r->reply_text && r->reply)
    r->reply_text = json_dumps(r->reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
}

static sl_dbrc write_audit(sl_req *r) {
  sl_request_log_row a = {
      .request_id = r->request_id,
      .method = r->method,
      .path = r->path,
      .action = r->route && r->route->action ? r->route->action : "unrouted",
      .object = r->audit_object,
      .outcome = r->status < 400 ? "ok" : (r->status >= 500 ? "error" : "rejected"),
      .error = r->status >= 400 ? sl_err_name(r->err) : (r->replayed ? "idempotent_replay" : NULL),
      .client_addr = r->client,
      .account_id = r->authed ? r->who.account_id : 0,
      .token_id = r->authed ? r->who.token_id : 0,
      .status = (int)r->status,
  };
  return sl_db_request_log_insert(r->db, &a);
}

void sl_audit_refused(sl_req *r) {
  bool down;
  if (!r->db) r->db = sl_db_acquire(r->dbpool, 1000, &down);
  if (!r->db) return;
  sl_dbrc rc = write_audit(r);
  if (rc != SL_DB_OK)
    sl_log(SL_LOG_WARN, "audit write failed",
           json_pack("{s:s,s:s}", "request_id", r->request_id, "rc", sl_dbrc_name(rc)));
}

/* The claim was taken over by a retry (it stalled past the lease between its steps): this
 * request changes nothing and says so; the retry's outcome is the key's outcome. */
static void reply_taken_over(sl_req *r) {
  sl_reply_error(r, SL_E_IDEMPOTENCY_IN_FLIGHT, "Idempotency-Key",
                 "a retry with this key took the request over; its reply is the key's reply");
  r->retry_after = true;
}

bool sl_idempotency_header_ok(sl_req *r) {
  const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
  if (!key || valid_key(key)) return true;
  sl_reply_error(r, SL_E_BAD_IDEMPOTENCY_KEY, "Idempotency-Key", "invalid key");
  return false;
}

void sl_run_mutation(sl_req *r) {
  const char *key = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
  bool have_key = key != NULL && strcmp(r->method, "POST") == 0;
  int64_t acct = r->who.account_id;
  char token[33] = "";
  if (!have_key && moves_money(r)) {
    sl_reply_error(r, SL_E_IDEMPOTENCY_KEY_REQUIRED, "Idempotency-Key",
                   "this route moves money and requires an Idempotency-Key header");
    sl_audit_refused(r);
    return;
  }
  if (have_key) {
    if (!valid_key(key)) {
      sl_reply_error(r, SL_E_BAD_IDEMPOTENCY_KEY, "Idempotency-Key", "invalid key");
      sl_audit_refused(r);
      return;
    }
    uint8_t h[32], tok[16];
    request_hash(r, h);
    randombytes_buf(tok, sizeof tok);
    sodium_bin2hex(token, sizeof token, tok, sizeof tok);
    sl_idem_state st;
    int status = 0;
    char *body = NULL;
    sl_dbrc rc = sl_db_idem_claim(r->db, acct, key, h, token, IDEM_LEASE_S, &st, &status, &body);
    if (rc != SL_DB_OK) {
      sl_reply_db(r, rc);
      return;
    }
    switch (st) {
    case SL_IDEM_CLAIMED: break;
    case SL_IDEM_REPLAY:
      json_decref(r->reply);
      r->reply = NULL;
      r->status = (unsigned)status;
      r->reply_text = body;
      r->replayed = true;
      sl_audit_refused(r); /* an audit row for the replayed request too */
      return;
    case SL_IDEM_MISMATCH:
      sl_reply_error(r, SL_E_IDEMPOTENCY_MISMATCH, "Idempotency-Key",
                     "the key was first used with a different method, path or body");
      sl_audit_refused(r);
      return;
    case SL_IDEM_IN_FLIGHT:
      sl_reply_error(r, SL_E_IDEMPOTENCY_IN_FLIGHT, "Idempotency-Key",
                     "the first request with this key has not finished");
      r->retry_after = true;
      sl_audit_refused(r);
      return;
    }
  }

  if (have_key) sl_stall_point("idem_claimed"); /* tests: a claim left unlocked for a while */
  bool committed = false, fenced = false, unknown = false;
  for (int attempt = 0; attempt < MAX_TRIES && !committed; attempt++) {
    r->db_soft = r->db_down = false;
    r->audit_object[0] = '\0';
    sl_dbrc rc = sl_db_begin(r->db);
    if (rc == SL_DB_OK && have_key) {
      rc = sl_db_idem_lock(r->db, acct, key, token);
      if (rc == SL_DB_NOROWS) {
        sl_db_rollback(r->db);
        fenced = true;
        break;
      }
    }
    if (rc != SL_DB_OK) {
      sl_db_rollback(r->db);
      sl_reply_db(r, rc);
      if (rc == SL_DB_SOFT) continue;
      break;
    }
    r->route->fn(r);
    if (r->status >= 400 || r->db_soft || r->db_down) {
      sl_db_rollback(r->db);
      if (r->db_soft) continue;
      break;
    }
    serialise(r);
    rc = write_audit(r);
    if (rc == SL_DB_OK && have_key) {
      rc = sl_db_idem_complete(r->db, acct, key, token, (int)r->status,
                               r->idem_text ? r->idem_text : r->reply_text, r->request_id);
      fenced = rc == SL_DB_NOROWS;
    }
    if (rc == SL_DB_OK) rc = sl_db_commit(r->db);
    else sl_db_rollback(r->db);
    if (rc == SL_DB_OK) {
      committed = true;
    } else if (fenced) {
      break;
    } else if (rc != SL_DB_SOFT) {
      unknown = rc == SL_DB_UNKNOWN;
      json_decref(r->reply);
      r->reply = NULL;
      free(r->reply_text);
      r->reply_text = NULL;
      sl_reply_db(r, rc);
      break;
    }
  }
  if (committed) return;
  if (fenced) {
    json_decref(r->reply);
    r->reply = NULL;
    free(r->reply_text);
    r->reply_text = NULL;
    reply_taken_over(r);
    serialise(r);
    sl_audit_refused(r);
    return; /* the key is the retry's now: neither complete nor release it */
  }
  if (r->status < 400) sl_reply_db(r, SL_DB_SOFT); /* retries exhausted */
  serialise(r);
  if (r->db_down) sl_db_reset(r->db); /* nothing committed: the client may retry */
  if (unknown) return; /* the key stays claimed: a retry with it resolves the outcome */
  sl_audit_refused(r);
  if (have_key) {
    sl_dbrc rc = r->status >= 500 ? sl_db_idem_release(r->db, acct, key, token)
                                  : sl_db_idem_complete(r->db, acct, key, token, (int)r->status,
                                                        r->reply_text, r->request_id);
    if (rc != SL_DB_OK)
      sl_log(SL_LOG_WARN, "idempotency record failed",
             json_pack("{s:s,s:s}", "request_id", r->request_id, "rc", sl_dbrc_name(rc)));
  }
}
