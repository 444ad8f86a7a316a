/* h_agent.c — the agent adapter's routes (a pull adapter: the exchange never calls the
 * provider; src/dispatch/adapter_agent.c):
 *
 *   POST /v1/agent/work               an agent of the provider leases its agent pools' due
 *                                     dispatch jobs, waiting up to wait_s for some (long poll,
 *                                     agent_wait.c); each item is leased for lease_s seconds
 *                                     and handed out again when no result comes back in time
 *   POST /v1/agent/work/{id}/result   the outcome of one leased item (Idempotency-Key
 *                                     required: a terminal reserve refunds the tenant)
 *   GET  /v1/agents                   the provider's agents: last seen, from where, version,
 *                                     what they last said of themselves, RTT, leases held
 *
 * The reservation id is the idempotency key of the work on the provider's system (Slurm:
 * suanli-res-<id>); the lease number (the job's attempt count, incremented by every lease)
 * fences results: a result for a lease that is no longer the job's current one — a replay
 * after the outcome was recorded, or an agent whose lease ran out and was handed out again —
 * is a 409 that changes nothing. */
#include "internal.h"
#include "suanli/core/log.h"
#include "suanli/core/vocab.h"
#include "suanli/db/access.h"
#include "suanli/db/agent.h"
#include "suanli/db/dispatch.h"
#include "suanli/db/market.h"
#include "suanli/dispatch/dispatch.h"
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define WAIT_MAX_S      50 /* below the production front's 60 s server timeout */
#define LEASE_DEFAULT_S 120
#define MAX_DEFAULT     8
#define RETRY_BASE_S    0.5 /* the dispatcher's backoff (dispatcher.c) when the agent names none */
#define RETRY_CAP_S     60.0

typedef struct agent_poll {
  const char *agent, *version, *note, *region;
  json_t *pools, *rtts; /* borrowed from the body */
  int64_t max, lease_s, wait_s, rtt_milli;
  bool has_note, has_rtt;
} agent_poll;

#define RTTS_MAX 64

/* rtts[i] of a poll: {"region", "rtt_ms"}; *us its RTT in microseconds. */
static bool rtt_decode(const json_t *e, size_t i, const char **region, int64_t *us, sl_jerr *err) {
  char path[32];
  snprintf(path, sizeof path, "rtts[%zu].", i);
  const sl_jfield f[] = {
      {"region", SL_JT_STRING, true, region, NULL, 2, 40, NULL},
      {"rtt_ms", SL_JT_MILLI, true, us, NULL, 0, 600000000, NULL},
  };
  return sl_json_decode(e, f, sizeof f / sizeof f[0], path, err);
}

/* An agent's name: what the schema's CHECK on agents.name allows. */
static bool name_ok(const char *s) {
  size_t n = strlen(s);
  return n >= 1 && n <= 64 &&
         s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")] == '\0';
}

static bool poll_decode(const json_t *body, agent_poll *p, sl_jerr *err) {
  memset(p, 0, sizeof *p);
  p->version = "";
  p->max = MAX_DEFAULT;
  p->lease_s = LEASE_DEFAULT_S;
  const sl_jfield f[] = {
      {"agent", SL_JT_STRING, true, &p->agent, NULL, 1, 64, NULL},
      {"pools", SL_JT_ARRAY, false, &p->pools, NULL, 1, 100, NULL},
      {"max", SL_JT_INT, false, &p->max, NULL, 1, 32, NULL},
      {"lease_s", SL_JT_INT, false, &p->lease_s, NULL, 10, 3600, NULL},
      {"wait_s", SL_JT_INT, false, &p->wait_s, NULL, 0, WAIT_MAX_S, NULL},
      {"version", SL_JT_STRING, false, &p->version, NULL, 0, 64, NULL},
      {"note", SL_JT_STRING, false, &p->note, &p->has_note, 0, 500, NULL},
      {"rtt_ms", SL_JT_MILLI, false, &p->rtt_milli, &p->has_rtt, 0, 600000000, NULL},
      {"region", SL_JT_STRING, false, &p->region, NULL, 2, 40, NULL},
      {"rtts", SL_JT_ARRAY, false, &p->rtts, NULL, 0, RTTS_MAX, NULL},
  };
  if (!sl_json_decode(body, f, sizeof f / sizeof f[0], NULL, err)) return false;
  size_t k;
  json_t *e;
  json_array_foreach(p->rtts, k, e) {
    const char *region;
    int64_t us;
    if (!rtt_decode(e, k, &region, &us, err)) return false;
  }
  if (!name_ok(p->agent))
    return sl_jerr_set(err, SL_E_INVALID_VALUE, "agent",
                       "1 to 64 letters, digits, '_', '-' and '.'");
  size_t i;
  json_t *v;
  json_array_foreach(p->pools, i, v) {
    char field[32];
    snprintf(field, sizeof field, "pools[%zu]", i);
    if (!json_is_integer(v))
      return sl_jerr_set(err, SL_E_WRONG_TYPE, field, "must be a pool id (an integer)");
    if (json_integer_value(v) < 1 || json_integer_value(v) > INT64_C(9007199254740991))
      return sl_jerr_set(err, SL_E_INVALID_VALUE, field, "must be a pool id");
  }
  return true;
}

/* The first listed pool that is not an agent pool of the caller: 422 naming it. */
static bool pools_ok(sl_req *r, const agent_poll *p, bool reply) {
  int64_t bad = -1;
  sl_dbrc rc =
      p->pools ? sl_db_agent_pools_check(r->db, r->who.account_id, p->pools, &bad) : SL_DB_OK;
  if (rc != SL_DB_OK) {
    if (reply) sl_reply_db(r, rc);
    return false;
  }
  if (bad >= 0 && reply) {
    char field[32];
    snprintf(field, sizeof field, "pools[%lld]", (long long)bad);
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, field, "pool %lld is not an agent pool of yours",
                   (long long)json_integer_value(json_array_get(p->pools, (size_t)bad)));
  }
  return bad < 0;
}

/* Called by the router before the mutation of POST /v1/agent/work: a poll that may wait and
 * finds no due work is suspended (agent_wait.c) and true is returned — no reply yet.  Anything
 * else (a bad body, no wait, work due, too many waiting) is left to the handler. */
bool sl_agent_poll_hold(sl_req *r) {
  if (r->route->fn != h_agent_work) return false;
  sl_jerr je;
  json_t *body = sl_json_parse_body(r->body, r->body_len, &je);
  agent_poll p;
  bool hold = false;
  if (body && poll_decode(body, &p, &je) && p.wait_s > 0 && pools_ok(r, &p, false)) {
    json_t *owners = json_pack("[I]", (json_int_t)r->who.account_id), *due = NULL;
    if (sl_db_agent_due(r->db, owners, &due) == SL_DB_OK) {
      size_t i;
      json_t *pair, *v;
      bool work = false;
      json_array_foreach(due, i, pair) {
        size_t k;
        bool listed = p.pools == NULL;
        json_array_foreach(p.pools, k, v) listed =
            listed || json_integer_value(v) == json_integer_value(json_array_get(pair, 1));
        work = work || listed;
      }
      hold = !work && sl_agent_wait_hold(r, r->who.account_id, p.pools, p.wait_s);
    }
    json_decref(owners);
    json_decref(due);
  }
  json_decref(body);
  if (hold) { /* no connection is held while the poll waits */
    sl_db_release(r->dbpool, r->db);
    r->db = NULL;
  }
  return hold;
}

/* Whether the client of a suspended poll has closed its connection meanwhile (an agent that
 * stopped): libmicrohttpd does not watch suspended connections, so look at the socket. */
static bool client_gone(sl_req *r) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (!ci) return false;
  char b;
  ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* The router's continuation of a poll its waiter resumed: lease what is due now — unless its
 * agent has gone, whose leases would only run out unused. */
void sl_agent_poll_resume(sl_req *r) {
  r->agent_waiting = false;
  if (client_gone(r)) {
    sl_reply_error(r, SL_E_BUSY, NULL, "the agent closed the connection while it waited");
    return;
  }
  if (!sl_req_connect(r, 5000)) return;
  sl_run_mutation(r);
}

/* The poll's region is one of the caller's agent pools' regions and every rtts[i].region
 * exists; else a 422 naming the field, and false. */
static bool rtts_ok(sl_req *r, const agent_poll *p) {
  if (p->region) {
    char *got = NULL;
    sl_dbrc rc = sl_db_agent_region(r->db, r->who.account_id, p->region, NULL, &got);
    bool ok = rc == SL_DB_OK && got[0];
    free(got);
    if (rc != SL_DB_OK) sl_reply_db(r, rc);
    else if (!ok)
      sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "region",
                     "no agent pool of yours is in region '%s'", p->region);
    if (!ok) return false;
  }
  if (!json_array_size(p->rtts)) return true;
  json_t *codes = json_array(), *e;
  size_t i;
  json_array_foreach(p->rtts, i, e) json_array_append(codes, json_object_get(e, "region"));
  char *unknown = NULL;
  sl_dbrc rc = sl_db_first_unknown(r->db, false, codes, &unknown);
  if (rc == SL_DB_OK && unknown) {
    json_array_foreach(codes, i, e) if (!strcmp(json_string_value(e), unknown)) break;
    char field[40];
    snprintf(field, sizeof field, "rtts[%zu].region", i);
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, field, "no region '%s'", unknown);
  } else if (rc != SL_DB_OK) sl_reply_db(r, rc);
  bool ok = rc == SL_DB_OK && !unknown;
  free(unknown);
  json_decref(codes);
  return ok;
}

/* Feed the poll's round trips into the latency matrix (sl_db_agent_rtts): its rtts, and its
 * rtt_ms to the exchange when the exchange knows its own region (SUANLI_REGION), measured
 * from the agent's region (the poll's, else its pools' one region; none: nothing recorded). */
static sl_dbrc rtts_record(sl_req *r, const agent_poll *p) {
  const char *home = sl_req_config(r)->region;
  json_t *rows = json_array(), *e;
  size_t i;
  json_array_foreach(p->rtts, i, e) {
    const char *region;
    int64_t us;
    sl_jerr je;
    if (rtt_decode(e, i, &region, &us, &je))
      json_array_append_new(rows,
                            json_pack("{s:s,s:I}", "region", region, "rtt_us", (json_int_t)us));
  }
  if (p->has_rtt && home && *home)
    json_array_append_new(
        rows, json_pack("{s:s,s:I}", "region", home, "rtt_us", (json_int_t)p->rtt_milli));
  char *from = NULL;
  int64_t written = 0;
  sl_dbrc rc = json_array_size(rows)
                   ? sl_db_agent_region(r->db, r->who.account_id, p->region, p->pools, &from)
                   : SL_DB_NOROWS;
  if (rc == SL_DB_OK)
    rc = sl_db_agent_rtts(r->db, r->who.account_id, p->agent, from, rows, &written);
  if (rc == SL_DB_OK && written)
    sl_log(SL_LOG_INFO, "agent round trips recorded in the latency matrix",
           json_pack("{s:s,s:s,s:I}", "agent", p->agent, "from", from, "written",
                     (json_int_t)written));
  free(from);
  json_decref(rows);
  return rc == SL_DB_NOROWS ? SL_DB_OK : rc;
}

void h_agent_work(sl_req *r) {
  json_t *body = sl_req_body(r);
  if (!body) return;
  agent_poll p;
  sl_jerr je;
  if (!poll_decode(body, &p, &je)) {
    sl_reply_jerr(r, &je);
    goto cleanup;
  }
  snprintf(r->audit_object, sizeof r->audit_object, "agent:%s", p.agent);
  if (!pools_ok(r, &p, true)) goto cleanup;
  if (!rtts_ok(r, &p)) goto cleanup;
  sl_db_agent_poll seen = {
      r->who.account_id,           p.agent, p.version, r->client, p.has_note ? p.note : NULL,
      p.has_rtt ? p.rtt_milli : -1};
  char by[80];
  snprintf(by, sizeof by, "agent %s", p.agent);
  json_t *items = NULL;
  sl_dbrc rc = sl_db_agent_seen(r->db, &seen);
  if (rc == SL_DB_OK) rc = rtts_record(r, &p);
  if (rc == SL_DB_OK)
    rc = sl_db_agent_lease(r->db, r->who.account_id, p.pools, (int)p.max, (int)p.lease_s, by,
                           &items);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else
    sl_reply_json(r, 200,
                  json_pack("{s:s,s:I,s:o}", "agent", p.agent, "lease_s", (json_int_t)p.lease_s,
                            "items", items));
cleanup:
  json_decref(body);
}

/* The sealed access details of an ok reserve: well-formed base64 of a sealed box, sealed to
 * the tenant's registered key.  Replies 4xx and returns false otherwise. */
static bool access_ok(sl_req *r, const sl_db_agent_job *j, const char *sealed,
                      const char *sealed_to) {
  if (!sl_vocab_is(j->action, SL_JOB_ACTION_RESERVE)) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "access_sealed", "only a reserve carries access details");
    return false;
  }
  size_t n = 0, len = strlen(sealed);
  uint8_t *bin = malloc(SL_ACCESS_SEALED_MAX);
  bool b64 = bin &&
             sodium_base642bin(bin, SL_ACCESS_SEALED_MAX, sealed, len, NULL, &n, NULL,
                               sodium_base64_VARIANT_ORIGINAL) == 0 &&
             n > crypto_box_SEALBYTES;
  free(bin);
  if (!b64) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "access_sealed",
                   "must be base64 of a sealed box (%d to %d bytes)", crypto_box_SEALBYTES + 1,
                   SL_ACCESS_SEALED_MAX);
    return false;
  }
  if (!sealed_to) {
    sl_reply_error(r, SL_E_MISSING_FIELD, "sealed_to",
                   "name the tenant key the details are sealed to (the work's tenant_access_key)");
    return false;
  }
  json_t *k = NULL;
  sl_dbrc rc = sl_db_access_key_get(r->db, j->tenant_id, &k);
  bool same = rc == SL_DB_OK &&
              strcasecmp(json_string_value(json_object_get(k, "public_key")), sealed_to) == 0;
  json_decref(k);
  if (rc != SL_DB_OK && rc != SL_DB_NOROWS) {
    sl_reply_db(r, rc);
    return false;
  }
  if (!same) {
    sl_reply_error(r, SL_E_UNKNOWN_REFERENCE, "sealed_to",
                   "not the tenant's registered access key (it may have changed since the lease)");
    return false;
  }
  return true;
}

void h_agent_result(sl_req *r) {
  int64_t id;
  if (!sl_req_object_id(r, "work", &id)) return;
  json_t *body = sl_req_body(r);
  if (!body) return;
  int64_t lease = 0, retry_in = -1;
  const char *outcome = NULL, *error = "", *ref = "", *sealed = NULL, *sealed_to = NULL;
  static const char *const outcomes[] = {"ok", "retry", "terminal", NULL};
  const sl_jfield f[] = {
      {"lease", SL_JT_INT, true, &lease, NULL, 1, INT32_MAX, NULL},
      {"outcome", SL_JT_ENUM, true, &outcome, NULL, 0, 0, outcomes},
      {"error", SL_JT_STRING, false, &error, NULL, 0, 500, NULL},
      {"ref", SL_JT_STRING, false, &ref, NULL, 1, 128, NULL},
      {"access_sealed", SL_JT_STRING, false, &sealed, NULL, 1, SL_ACCESS_B64_MAX, NULL},
      {"sealed_to", SL_JT_STRING, false, &sealed_to, NULL, 64, 64, NULL},
      {"retry_in_s", SL_JT_INT, false, &retry_in, NULL, 1, 3600, NULL},
  };
  if (!sl_req_decode(r, body, f, sizeof f / sizeof f[0])) goto cleanup;
  bool ok = sl_vocab_is(outcome, SL_ATTEMPT_OUTCOME_OK),
       retry = sl_vocab_is(outcome, SL_ATTEMPT_OUTCOME_RETRY);
  if (!ok && !error[0]) {
    sl_reply_error(r, SL_E_MISSING_FIELD, "error",
                   "say why the work failed (shown to both parties)");
    goto cleanup;
  }
  if (retry_in >= 0 && !retry) {
    sl_reply_error(r, SL_E_INVALID_VALUE, "retry_in_s", "only a retry has a next attempt");
    goto cleanup;
  }
  if ((sealed || ref[0]) && !ok) {
    sl_reply_error(r, SL_E_INVALID_VALUE, sealed ? "access_sealed" : "ref",
                   "only an ok outcome carries it");
    goto cleanup;
  }
  sl_db_agent_job j;
  sl_dbrc rc = sl_db_agent_job_lock(r->db, id, r->who.account_id, &j);
  if (rc == SL_DB_NOROWS) {
    sl_reply_error(r, SL_E_NOT_FOUND, "id", "no work %lld", (long long)id);
    goto cleanup;
  }
  if (rc != SL_DB_OK) {
    sl_reply_db(r, rc);
    goto cleanup;
  }
  if (!sl_vocab_is(j.state, SL_JOB_STATE_RUNNING) || j.attempts != lease) {
    sl_reply_error(r, SL_E_CONFLICT, "lease",
                   "lease %lld of work %lld is not held: the work is %s under lease %d (a result "
                   "is taken once, from the current lease)",
                   (long long)lease, (long long)id, j.state, j.attempts);
    goto cleanup;
  }
  bool reserve = sl_vocab_is(j.action, SL_JOB_ACTION_RESERVE);
  if (sealed && !access_ok(r, &j, sealed, sealed_to)) goto cleanup;
  const char *state;
  if (ok) {
    state = sl_vocab_name(SL_JOB_STATE_DONE);
    char dref[48];
    snprintf(dref, sizeof dref, "reservation-%lld", (long long)j.reservation_id);
    rc = sl_db_job_finish(r->db, id, state, false, "", 0);
    if (rc == SL_DB_OK && reserve)
      rc = sl_db_reservation_dispatched(r->db, j.reservation_id, ref[0] ? ref : dref);
    if (rc == SL_DB_OK && sealed)
      rc = sl_db_access_store(r->db, j.reservation_id, sealed_to, sealed,
                              sl_vocab_name(SL_ACCESS_SOURCE_AGENT));
  } else if (retry) {
    state = sl_vocab_name(SL_JOB_STATE_QUEUED);
    double wait = retry_in > 0 ? (double)retry_in
                               : sl_dispatch_backoff_s(j.attempts, RETRY_BASE_S, RETRY_CAP_S,
                                                       randombytes_uniform(1000000) / 1e6);
    rc = sl_db_job_finish(r->db, id, state, false, error, wait);
  } else {
    state = sl_vocab_name(SL_JOB_STATE_FAILED);
    rc = sl_db_job_finish(r->db, id, state, false, error, 0);
    if (rc == SL_DB_OK && reserve) {
      char cause[600];
      int64_t txn = 0;
      snprintf(cause, sizeof cause, "dispatch failed: %s", error);
      rc = sl_db_trade_fail(r->db, j.trade_id, cause, &txn);
    }
  }
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else
    sl_reply_json(r, 200,
                  json_pack("{s:I,s:I,s:s,s:s,s:s,s:I}", "id", (json_int_t)id, "reservation_id",
                            (json_int_t)j.reservation_id, "action", j.action, "outcome", outcome,
                            "state", state, "lease", (json_int_t)lease));
cleanup:
  json_decref(body);
}

void h_agents_list(sl_req *r) {
  int64_t after;
  int limit;
  if (!sl_req_page_id(r, &after, &limit)) return;
  json_t *page;
  sl_dbrc rc =
      sl_db_agents_page(r->db, sl_role_is(r, "admin") ? 0 : r->who.account_id, after, limit, &page);
  if (rc != SL_DB_OK) sl_reply_db(r, rc);
  else sl_reply_json(r, 200, page);
}
