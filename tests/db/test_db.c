/* test_db.c — the database layer against a real PostgreSQL (SUANLI_DATABASE_URL, a fresh,
 * empty database).  libpq is used directly only to arrange and inspect state. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include "suanli/core/money.h"
#include "suanli/db/accelerators.h"
#include "suanli/db/accounts.h"
#include "suanli/db/dispatch.h"
#include "suanli/db/drain.h"
#include "suanli/db/idempotency.h"
#include "suanli/db/ledger.h"
#include "suanli/db/market.h"
#include "suanli/db/migrate.h"
#include "suanli/db/pools.h"
#include "suanli/db/regions.h"
#include "suanli/ledger/records.h"
#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *url;
static sl_db *db;

static PGconn *raw(void) {
  PGconn *c = PQconnectdb(url);
  assert_int_equal(PQstatus(c), CONNECTION_OK);
  return c;
}

static void sql(const char *q) {
  PGconn *c = raw();
  PGresult *r = PQexec(c, q);
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", q, PQerrorMessage(c));
  PQclear(r);
  PQfinish(c);
}

static long long sql_int(const char *q) {
  PGconn *c = raw();
  PGresult *r = PQexec(c, q);
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  long long v = atoll(PQgetvalue(r, 0, 0));
  PQclear(r);
  PQfinish(c);
  return v;
}

static sl_dbc *take(void) {
  bool down;
  sl_dbc *c = sl_db_acquire(db, 5000, &down);
  assert_non_null(c);
  return c;
}

static int64_t new_account(sl_dbc *c, const char *kind, const char *name) {
  json_t *a;
  assert_int_equal(sl_db_account_create(c, kind, name, NULL, &a), SL_DB_OK);
  int64_t id = json_integer_value(json_object_get(a, "id"));
  json_decref(a);
  return id;
}

static void test_migrate_idempotent_and_refuses_newer(void **state) {
  char err[512];
  assert_true(sl_db_migrate(url, err, sizeof err));
  assert_true(sl_db_migrate(url, err, sizeof err));
  assert_int_equal(sql_int("SELECT max(version) FROM schema_migrations"), sl_db_schema_latest());
  sql("INSERT INTO schema_migrations(version, name) VALUES (999, 'future')");
  assert_false(sl_db_migrate(url, err, sizeof err));
  assert_non_null(strstr(err, "newer"));
  sql("DELETE FROM schema_migrations WHERE version = 999");
  sl_dbc *c = take();
  assert_int_equal(sl_db_schema_version(c), sl_db_schema_latest());
  sl_db_release(db, c);
}

static void test_token_lookup_revoke_expire(void **state) {
  sl_dbc *c = take();
  int64_t acct = new_account(c, "tenant", "db-token-tenant");
  uint8_t h1[32], h2[32];
  randombytes_buf(h1, 32);
  randombytes_buf(h2, 32);
  json_t *t1, *t2, *rv;
  assert_int_equal(sl_db_token_create(c, acct, "aaaa", h1, "one", 0, &t1), SL_DB_OK);
  assert_int_equal(sl_db_token_create(c, acct, "bbbb", h2, "two", 0, &t2), SL_DB_OK);
  sl_principal p;
  assert_int_equal(sl_db_token_lookup(c, h1, &p), SL_DB_OK);
  assert_int_equal(p.account_id, acct);
  assert_string_equal(p.kind, "tenant");
  sl_principal_clear(&p);
  /* someone else cannot revoke it; its owner can */
  assert_int_equal(
      sl_db_token_revoke(c, json_integer_value(json_object_get(t1, "id")), acct + 1000, &rv),
      SL_DB_NOROWS);
  assert_int_equal(sl_db_token_revoke(c, json_integer_value(json_object_get(t1, "id")), acct, &rv),
                   SL_DB_OK);
  assert_string_equal(json_string_value(json_object_get(rv, "state")), "revoked");
  json_decref(rv);
  assert_int_equal(sl_db_token_lookup(c, h1, &p), SL_DB_NOROWS);
  /* an expired token no longer authenticates */
  assert_int_equal(sl_db_token_lookup(c, h2, &p), SL_DB_OK);
  sl_principal_clear(&p);
  sql("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE public_id = 'bbbb'");
  assert_int_equal(sl_db_token_lookup(c, h2, &p), SL_DB_NOROWS);
  /* only the hash is stored */
  assert_int_equal(sql_int("SELECT count(*) FROM api_tokens WHERE length(token_hash) = 32 AND "
                           "public_id IN ('aaaa','bbbb')"),
                   2);
  json_decref(t1);
  json_decref(t2);
  sl_db_release(db, c);
}

static void test_idempotency_states(void **state) {
  sl_dbc *c = take();
  int64_t acct = new_account(c, "tenant", "db-idem-tenant");
  uint8_t h[32], other[32];
  memset(h, 1, 32);
  memset(other, 2, 32);
  sl_idem_state st;
  int status;
  char *body;
  assert_int_equal(sl_db_idem_claim(c, acct, "k", h, "t1", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_CLAIMED);
  assert_int_equal(sl_db_idem_claim(c, acct, "k", h, "t2", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_IN_FLIGHT);
  assert_int_equal(sl_db_idem_claim(c, acct, "k", other, "t3", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_MISMATCH);
  /* only the claim's owner completes it */
  assert_int_equal(sl_db_idem_complete(c, acct, "k", "t2", 201, "{\"id\":8}", "r2"), SL_DB_NOROWS);
  assert_int_equal(sl_db_idem_complete(c, acct, "k", "t1", 201, "{\"id\":7}", "r1"), SL_DB_OK);
  assert_int_equal(sl_db_idem_claim(c, acct, "k", h, "t4", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_REPLAY);
  assert_int_equal(status, 201);
  assert_string_equal(body, "{\"id\":7}");
  free(body);
  /* an abandoned in-flight claim is taken over after its lease, a done one never; the old
   * owner is fenced out */
  assert_int_equal(sl_db_idem_claim(c, acct, "k2", h, "a1", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_CLAIMED);
  sql("UPDATE idempotency_keys SET claimed_at = now() - interval '2 minutes'");
  assert_int_equal(sl_db_idem_claim(c, acct, "k2", h, "a2", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_CLAIMED);
  assert_int_equal(sl_db_idem_claim(c, acct, "k", h, "a3", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_REPLAY);
  free(body);
  assert_int_equal(sl_db_begin(c), SL_DB_OK);
  assert_int_equal(sl_db_idem_lock(c, acct, "k2", "a1"), SL_DB_NOROWS);
  sl_db_rollback(c);
  assert_int_equal(sl_db_idem_complete(c, acct, "k2", "a1", 201, "{}", "r"), SL_DB_NOROWS);
  assert_int_equal(sl_db_begin(c), SL_DB_OK);
  assert_int_equal(sl_db_idem_lock(c, acct, "k2", "a2"), SL_DB_OK);
  sl_db_rollback(c);
  /* keys are per account */
  int64_t acct2 = new_account(c, "tenant", "db-idem-tenant-2");
  assert_int_equal(sl_db_idem_claim(c, acct2, "k", other, "b1", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_CLAIMED);
  /* release lets the client retry; only the owner's release counts */
  assert_int_equal(sl_db_idem_release(c, acct2, "k", "zz"), SL_DB_OK);
  assert_int_equal(sl_db_idem_claim(c, acct2, "k", other, "b2", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_IN_FLIGHT);
  assert_int_equal(sl_db_idem_release(c, acct2, "k", "b1"), SL_DB_OK);
  assert_int_equal(sl_db_idem_claim(c, acct2, "k", h, "b3", 60, &st, &status, &body), SL_DB_OK);
  assert_int_equal(st, SL_IDEM_CLAIMED);
  sl_db_release(db, c);
}

struct race {
  int64_t acct;
  int claimed;
};
static pthread_mutex_t race_mu = PTHREAD_MUTEX_INITIALIZER;

static void *claim_thread(void *arg) {
  struct race *rc = arg;
  bool down;
  sl_dbc *c = sl_db_acquire(db, 10000, &down);
  if (!c) return NULL;
  uint8_t h[32];
  memset(h, 9, 32);
  sl_idem_state st;
  int status;
  char *body = NULL;
  if (sl_db_idem_claim(c, rc->acct, "race", h, "racer", 60, &st, &status, &body) == SL_DB_OK &&
      st == SL_IDEM_CLAIMED) {
    pthread_mutex_lock(&race_mu);
    rc->claimed++;
    pthread_mutex_unlock(&race_mu);
  }
  free(body);
  sl_db_release(db, c);
  return NULL;
}

static void test_idempotency_concurrent_claim(void **state) {
  sl_dbc *c = take();
  struct race rc = {new_account(c, "tenant", "db-race-tenant"), 0};
  sl_db_release(db, c);
  pthread_t th[8];
  for (int i = 0; i < 8; i++) pthread_create(&th[i], NULL, claim_thread, &rc);
  for (int i = 0; i < 8; i++) pthread_join(th[i], NULL);
  assert_int_equal(rc.claimed, 1);
}

static void test_reconnect_after_backend_killed(void **state) {
  sl_dbc *c = take();
  json_t *out;
  assert_int_equal(sl_db_region_get(c, "nowhere", &out), SL_DB_NOROWS);
  sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
      " WHERE application_name = 'suanlid' AND datname = current_database()");
  assert_int_equal(sl_db_region_get(c, "nowhere", &out), SL_DB_DOWN);
  sl_db_release(db, c);
  /* the next acquire reconnects and prepares again */
  for (int i = 0; i < 4; i++) {
    c = take();
    assert_int_equal(sl_db_region_get(c, "nowhere", &out), SL_DB_NOROWS);
    sl_db_release(db, c);
  }
}

static void test_pool_constraints(void **state) {
  sl_dbc *c = take();
  int64_t owner = new_account(c, "provider", "db-pool-provider");
  json_t *reg;
  assert_int_equal(sl_db_region_create(c, "db-test-1", "test", "cloud", NULL, &reg), SL_DB_OK);
  json_decref(reg);
  json_t *cfg = json_object();
  sl_pool_new p = {.owner_id = owner,
                   .name = "p",
                   .region = "db-test-1",
                   .accelerator = "H100-SXM",
                   .intra_node = "nvlink",
                   .inter_node = "infiniband",
                   .adapter_kind = "sim",
                   .gpu_count = 16,
                   .gpus_per_node = 8,
                   .inter_node_gbps = 400,
                   .price_minor = 199,
                   .available_from = 1893456000,
                   .available_until = 1893456000 + 7200,
                   .adapter_config = cfg};
  json_t *pool;
  assert_int_equal(sl_db_pool_create(c, &p, &pool), SL_DB_OK);
  assert_int_equal(json_integer_value(json_object_get(pool, "nodes")), 2);
  assert_string_equal(json_string_value(json_object_get(pool, "price_per_gpu_hour")), "1.99");
  int64_t id = json_integer_value(json_object_get(pool, "id"));
  json_decref(pool);
  /* the database refuses windows off the hour, unknown regions and models */
  p.available_from += 60;
  assert_int_equal(sl_db_pool_create(c, &p, &pool), SL_DB_CHECK);
  assert_string_equal(sl_db_last_constraint(c), "pools_from_on_hour");
  p.available_from -= 60;
  p.region = "db-nowhere";
  assert_int_equal(sl_db_pool_create(c, &p, &pool), SL_DB_FK);
  assert_non_null(strstr(sl_db_last_constraint(c), "region"));
  p.region = "db-test-1";
  p.accelerator = "NoSuchGPU";
  assert_int_equal(sl_db_pool_create(c, &p, &pool), SL_DB_FK);
  /* heartbeat above gpu_count is refused by a named constraint */
  assert_int_equal(sl_db_pool_heartbeat(c, id, owner, 17, 0, &pool), SL_DB_CHECK);
  assert_string_equal(sl_db_last_constraint(c), "pools_healthy_le_count");
  assert_int_equal(sl_db_pool_heartbeat(c, id, owner, 15, 100, &pool), SL_DB_OK);
  assert_string_equal(json_string_value(json_object_get(json_object_get(pool, "health"), "state")),
                      "degraded");
  json_decref(pool);
  /* someone else's pool is invisible to writes */
  assert_int_equal(sl_db_pool_heartbeat(c, id, owner + 1000, 16, 0, &pool), SL_DB_NOROWS);
  /* shrinking the pool clamps the healthy count instead of breaking the constraint */
  sl_pool_patch patch = {
      .gpu_count = 8, .price_minor = -1, .available_from = -1, .available_until = -1};
  assert_int_equal(sl_db_pool_update(c, id, owner, &patch, &pool), SL_DB_OK);
  assert_int_equal(
      json_integer_value(json_object_get(json_object_get(pool, "health"), "healthy_gpus")), 8);
  json_decref(pool);
  /* nothing booked: retired at once, and only once */
  char status[16];
  int64_t until = -1;
  assert_int_equal(sl_db_pool_retire_or_drain(c, id, owner, status, &until), SL_DB_OK);
  assert_string_equal(status, "retired");
  assert_int_equal(until, 0);
  assert_int_equal(sl_db_pool_retire_or_drain(c, id, owner, status, &until), SL_DB_NOROWS);
  json_decref(cfg);
  sl_db_release(db, c);
}

static sl_dbrc weights_body(sl_dbc *c, void *arg) { return sl_db_weights_set(c, 10000, 0, NULL); }

static void test_rescore(void **state) {
  sl_dbc *c = take();
  assert_int_equal(sl_db_txn_run(c, weights_body, NULL, 3), SL_DB_OK);
  json_t *a;
  assert_int_equal(sl_db_accelerator_get(c, "H100-PCIe", &a), SL_DB_OK);
  /* compute only: 756 / 989 = 0.76441 -> 764 milli-NCU, "0.764" in the API's shape */
  assert_string_equal(json_string_value(json_object_get(a, "ncu")), "0.764");
  assert_string_equal(json_string_value(json_object_get(a, "rating")), "rated");
  json_decref(a);
  /* the K80 has no FP16 arithmetic: no half-precision figure, unrated (data/SOURCES.md) */
  assert_int_equal(sl_db_accelerator_get(c, "K80", &a), SL_DB_OK);
  assert_true(json_is_null(json_object_get(a, "ncu")));
  assert_string_equal(json_string_value(json_object_get(a, "rating")), "unrated");
  json_decref(a);
  assert_int_equal(sql_int("SELECT count(*) FROM accelerators WHERE weights_version <> "
                           "(SELECT version FROM capacity_weights)"),
                   0);
  sl_db_release(db, c);
}

/* schema/021: a member appended by api_json_append is laid out as json_build_object lays out
 * its own (listings go to clients as PostgreSQL's text, byte for byte). */
/* The simulated cluster's store answers the adapter's status op from its own rows. */
static void test_sim_state(void **state) {
  (void)state;
  sl_dbc *c = take();
  char st[16];
  bool cancelled = true;
  assert_int_equal(sl_db_sim_state(c, 990001, st, sizeof st), SL_DB_OK);
  assert_string_equal(st, "absent");
  assert_int_equal(sl_db_sim_reserve(c, 990001, 1, 8, 3600, 7200, &cancelled), SL_DB_OK);
  assert_false(cancelled);
  assert_int_equal(sl_db_sim_state(c, 990001, st, sizeof st), SL_DB_OK);
  assert_string_equal(st, "reserved");
  assert_int_equal(sl_db_sim_cancel(c, 990001), SL_DB_OK);
  assert_int_equal(sl_db_sim_state(c, 990001, st, sizeof st), SL_DB_OK);
  assert_string_equal(st, "absent");
  sl_db_release(db, c);
}

static void test_api_json_append_layout(void **state) {
  assert_int_equal(sql_int("SELECT (api_json_append(json_build_object('a', 1, 'b', 'x'), 'c',"
                           " json_build_object('d', '{\"e\": [1, 2]}'::jsonb))::text ="
                           " json_build_object('a', 1, 'b', 'x', 'c',"
                           " json_build_object('d', '{\"e\": [1, 2]}'::jsonb))::text)::int"),
                   1);
  (void)state;
}

static int soft_calls;
static sl_dbrc soft_once(sl_dbc *c, void *arg) { return soft_calls++ == 0 ? SL_DB_SOFT : SL_DB_OK; }

static void test_txn_retries_soft(void **state) {
  sl_dbc *c = take();
  soft_calls = 0;
  assert_int_equal(sl_db_txn_run(c, soft_once, NULL, 3), SL_DB_OK);
  assert_int_equal(soft_calls, 2);
  sl_db_release(db, c);
}

/* The database renders money for the hot read paths; it must agree with src/core. */
static void test_sql_money_matches_core(void **state) {
  const int64_t values[] = {0,
                            1,
                            5,
                            9,
                            10,
                            99,
                            100,
                            101,
                            12345,
                            99999,
                            100000,
                            -1,
                            -99,
                            -100,
                            -12345,
                            SL_MONEY_MAX,
                            -SL_MONEY_MAX,
                            INT64_C(9223372036854775807)};
  PGconn *c = raw();
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    char v[24], want[SL_MONEY_STRLEN];
    snprintf(v, sizeof v, "%lld", (long long)values[i]);
    sl_money_format(values[i], want, sizeof want);
    const char *p[1] = {v};
    PGresult *r = PQexecParams(c, "SELECT sl_money($1::bigint)", 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
  }
  PGresult *r = PQexec(
      c, "SELECT sl_milli(764), sl_milli(1000), sl_milli(5), sl_ts('2026-01-02 03:04:05.678+00')");
  assert_string_equal(PQgetvalue(r, 0, 0), "0.764");
  assert_string_equal(PQgetvalue(r, 0, 1), "1.000");
  assert_string_equal(PQgetvalue(r, 0, 2), "0.005");
  assert_string_equal(PQgetvalue(r, 0, 3), "2026-01-02T03:04:05Z");
  PQclear(r);
  PQfinish(c);
}

/* ---------------------------------------------------------------- signing at commit (schema/015)
 * A stand-in for the ledger's signer: it takes the items the transaction queued, then waives
 * signing (as the ledger does with SUANLI_LEDGER=off). */
static int signer_calls;
static sl_db_to_sign_row seen[8];
static size_t nseen;

static sl_dbrc take_and_waive(sl_dbc *c) {
  signer_calls++;
  sl_db_to_sign_row *rows;
  size_t n;
  sl_dbrc rc = sl_db_to_sign(c, &rows, &n);
  if (rc != SL_DB_OK) return rc;
  for (size_t i = 0; i < n && nseen < 8; i++) seen[nseen++] = rows[i];
  free(rows);
  return sl_db_ledger_waive(c);
}

/* The ledger's signer with SUANLI_LEDGER=off: waive only (which drops the items). */
static sl_dbrc waive_only(sl_dbc *c) {
  signer_calls++;
  return sl_db_ledger_waive(c);
}

static sl_dbrc no_money_body(sl_dbc *c, void *arg) {
  json_t *a = NULL;
  sl_dbrc rc = sl_db_account_create(c, "tenant", "db-sign-no-money", NULL, &a);
  json_decref(a);
  return rc;
}

static sl_dbrc deposit_withdraw_body(sl_dbc *c, void *arg) {
  const int64_t *acct = arg;
  int64_t txn;
  sl_dbrc rc = sl_db_deposit(c, *acct, 500, "db test", &txn);
  return rc == SL_DB_OK ? sl_db_withdraw(c, *acct, 200, "db test", &txn) : rc;
}

static sl_dbrc deposit_body(sl_dbc *c, void *arg) {
  const int64_t *acct = arg;
  int64_t txn;
  return sl_db_deposit(c, *acct, 100, "db test", &txn);
}

static void test_signer_reads_the_declared_items(void **state) {
  sl_dbc *c = take();
  int64_t acct = new_account(c, "tenant", "db-sign-tenant");
  sl_db_set_signer(take_and_waive);
  signer_calls = 0;
  nseen = 0;
  /* a transaction that moves no money never calls the signer */
  assert_int_equal(sl_db_txn_run(c, no_money_body, NULL, 1), SL_DB_OK);
  assert_int_equal(signer_calls, 0);
  /* two money movements in one transaction: one call, both items, with the purposes declared
   * in SQL (DEPOSIT 5, WITHDRAWAL 6), in journal order, and their records' fields */
  assert_int_equal(sl_db_txn_run(c, deposit_withdraw_body, &acct, 1), SL_DB_OK);
  assert_int_equal(signer_calls, 1);
  assert_int_equal(nseen, 2);
  assert_int_equal(seen[0].purpose, SL_LEDGER_DEPOSIT);
  assert_int_equal(seen[1].purpose, SL_LEDGER_WITHDRAWAL);
  assert_true(seen[0].money.txn_id > 0 && seen[1].money.txn_id > seen[0].money.txn_id);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(seen[i].money.trade_id, 0);
    assert_int_equal(seen[i].money.account_id, acct);
    assert_int_equal(seen[i].money.to_provider_minor, 0);
    assert_int_equal(seen[i].money.fee_minor, 0);
    assert_true(seen[i].money.at > 0);
  }
  assert_int_equal(seen[0].money.to_tenant_minor, 500);
  assert_int_equal(seen[1].money.to_tenant_minor, -200);
  assert_int_equal(sql_int("SELECT count(*) FROM ledger_to_sign"), 0);
  /* signing waived: the money moves unsigned, and its items do not outlive the transaction */
  sl_db_set_signer(waive_only);
  assert_int_equal(sl_db_txn_run(c, deposit_body, &acct, 1), SL_DB_OK);
  assert_int_equal(signer_calls, 2);
  assert_int_equal(sql_int("SELECT count(*) FROM ledger_to_sign"), 0);
  /* without a signer, the journal's deferred constraint refuses the COMMIT */
  sl_db_set_signer(NULL);
  assert_int_not_equal(sl_db_txn_run(c, deposit_body, &acct, 1), SL_DB_OK);
  assert_string_equal(sl_db_last_constraint(c), "ledger_entry_required");
  char q[160];
  snprintf(q, sizeof q, "SELECT count(*) FROM journal_txns WHERE account_id = %lld",
           (long long)acct);
  assert_int_equal(sql_int(q), 3);
  assert_int_equal(sql_int("SELECT count(*) FROM ledger_to_sign"), 0);
  sl_db_release(db, c);
}

/* Every journal kind the schema allows declares its purpose, the registry's purpose of the same
 * name; a kind without one cannot be written at all. */
#define KINDS_ALLOWED                                                                              \
  "SELECT (regexp_matches(pg_get_constraintdef(oid), '''([a-z_]+)''', 'g'))[1] AS kind"            \
  " FROM pg_constraint WHERE conrelid = 'journal_txns'::regclass AND contype = 'c'"                \
  " AND pg_get_constraintdef(oid) LIKE '%kind%'"

static void test_journal_kinds_declare_their_purpose(void **state) {
  PGconn *c = raw();
  PGresult *r = PQexec(c, "SELECT kind, purpose FROM journal_kind_purposes ORDER BY purpose");
  assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  assert_int_equal(PQntuples(r), 6);
  for (int i = 0; i < PQntuples(r); i++) {
    const char *name = sl_ledger_purpose_name((uint32_t)atoi(PQgetvalue(r, i, 1)));
    assert_non_null(name);
    assert_string_equal(name, PQgetvalue(r, i, 0));
  }
  PQclear(r);
  assert_true(sql_int("SELECT count(*) FROM (" KINDS_ALLOWED ") k") >= 6);
  assert_int_equal(sql_int("SELECT count(*) FROM (" KINDS_ALLOWED ") k"
                           " WHERE kind NOT IN (SELECT kind FROM journal_kind_purposes)"),
                   0);
  PQclear(PQexec(c, "BEGIN"));
  r = PQexec(c, "DELETE FROM journal_kind_purposes WHERE kind = 'deposit'");
  assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
  PQclear(r);
  r = PQexec(c, "INSERT INTO journal_txns(kind, memo) VALUES ('deposit', 'undeclared')");
  assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
  assert_string_equal(PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME), "ledger_purpose_required");
  PQclear(r);
  PQclear(PQexec(c, "ROLLBACK"));
  PQfinish(c);
  assert_int_equal(sql_int("SELECT count(*) FROM journal_kind_purposes"), 6);
}

int main(void) {
  url = getenv("SUANLI_DATABASE_URL");
  if (!url) {
    fprintf(stderr, "db_tests: set SUANLI_DATABASE_URL to a fresh database\n");
    return 1;
  }
  if (sodium_init() < 0) return 1;
  char err[512];
  if (!sl_db_migrate(url, err, sizeof err)) {
    fprintf(stderr, "db_tests: %s\n", err);
    return 1;
  }
  db = sl_db_open(url, 10);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_migrate_idempotent_and_refuses_newer),
      cmocka_unit_test(test_token_lookup_revoke_expire),
      cmocka_unit_test(test_idempotency_states),
      cmocka_unit_test(test_idempotency_concurrent_claim),
      cmocka_unit_test(test_reconnect_after_backend_killed),
      cmocka_unit_test(test_pool_constraints),
      cmocka_unit_test(test_rescore),
      cmocka_unit_test(test_txn_retries_soft),
      cmocka_unit_test(test_sql_money_matches_core),
      cmocka_unit_test(test_signer_reads_the_declared_items),
      cmocka_unit_test(test_journal_kinds_declare_their_purpose),
      cmocka_unit_test(test_api_json_append_layout),
      cmocka_unit_test(test_sim_state),
  };
  int rc = cmocka_run_group_tests_name("db", tests, NULL, NULL);
  sl_db_close(db);
  return rc;
}
