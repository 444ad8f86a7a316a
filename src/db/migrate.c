/* migrate.c — apply the embedded schema migrations (schema/NNN_name.sql) in order. */
#include "suanli/db/migrate.h"
#include "internal.h"
#include "suanli/core/log.h"
#include <stdlib.h>
#include <string.h>

extern const struct {
  int version;
  const char *name;
  const char *sql;
} sl_migrations[];

/* Arbitrary constant naming the advisory lock that serialises migrations. */
#define MIGRATE_LOCK_KEY "5817264001"

int sl_db_schema_latest(void) {
  int v = 0;
  for (int i = 0; sl_migrations[i].name; i++)
    if (sl_migrations[i].version > v) v = sl_migrations[i].version;
  return v;
}

static bool ok(PGresult *r, PGconn *pg, char *err, size_t errlen, const char *what) {
  ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return true;
  snprintf(err, errlen, "%s: %s", what, PQerrorMessage(pg));
  return false;
}

bool sl_db_migrate(const char *conninfo, char *err, size_t errlen) {
  const char *keys[] = {"dbname", "connect_timeout", "options", "application_name", NULL};
  const char *vals[] = {conninfo, "5",
                        "-c TimeZone=UTC -c DateStyle=ISO -c client_min_messages=warning",
                        "suanlid-migrate", NULL};
  bool result = false;
  PGresult *r = NULL;
  PGconn *pg = PQconnectdbParams(keys, vals, 1);
  sl_db_quiet_notices(pg);
  if (!pg || PQstatus(pg) != CONNECTION_OK) {
    snprintf(err, errlen, "cannot connect to the database: %s",
             pg ? PQerrorMessage(pg) : "out of memory");
    goto cleanup;
  }
  r = PQexec(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")");
  if (!ok(r, pg, err, errlen, "advisory lock")) goto cleanup;
  PQclear(r);
  r = PQexec(pg, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())");
  if (!ok(r, pg, err, errlen, "version table")) goto cleanup;
  PQclear(r);
  r = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!ok(r, pg, err, errlen, "read version")) goto cleanup;
  int current = atoi(PQgetvalue(r, 0, 0));
  PQclear(r);
  r = NULL;
  int latest = sl_db_schema_latest();
  if (current > latest) {
    snprintf(err, errlen,
             "the database schema is at version %d but this suanlid knows only up to %d: "
             "run a newer suanlid (refusing to start against a newer schema)",
             current, latest);
    goto cleanup;
  }
  /* Every migration not yet recorded, in version order — not only those above the newest
   * applied: branches developed side by side may land a lower number after a higher one. */
  for (int i = 0; sl_migrations[i].name; i++) {
    char have[16];
    snprintf(have, sizeof have, "%d", sl_migrations[i].version);
    const char *hp[1] = {have};
    r = PQexecParams(pg, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, NULL, hp,
                     NULL, NULL, 0);
    if (!ok(r, pg, err, errlen, "read versions")) goto cleanup;
    bool applied = PQntuples(r) > 0;
    PQclear(r);
    r = NULL;
    if (applied) continue;
    r = PQexec(pg, "BEGIN");
    if (!ok(r, pg, err, errlen, "begin")) goto cleanup;
    PQclear(r);
    r = PQexec(pg, sl_migrations[i].sql);
    if (!ok(r, pg, err, errlen, sl_migrations[i].name)) {
      PQclear(r);
      r = PQexec(pg, "ROLLBACK");
      goto cleanup;
    }
    PQclear(r);
    char ver[16];
    snprintf(ver, sizeof ver, "%d", sl_migrations[i].version);
    const char *p[2] = {ver, sl_migrations[i].name};
    r = PQexecParams(pg, "INSERT INTO schema_migrations(version, name) VALUES ($1::int, $2)", 2,
                     NULL, p, NULL, NULL, 0);
    if (!ok(r, pg, err, errlen, "record version")) goto cleanup;
    PQclear(r);
    r = PQexec(pg, "COMMIT");
    if (!ok(r, pg, err, errlen, "commit")) goto cleanup;
    PQclear(r);
    r = NULL;
    sl_log(
        SL_LOG_INFO, "migration applied",
        json_pack("{s:i,s:s}", "version", sl_migrations[i].version, "name", sl_migrations[i].name));
  }
  result = true;
cleanup:
  if (r) PQclear(r);
  if (pg) PQfinish(pg); /* closing the session releases the advisory lock */
  return result;
}

int sl_db_schema_version(sl_dbc *c) {
  if (!c->pg) return -1;
  PGresult *r = PQexec(c->pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
  int v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoi(PQgetvalue(r, 0, 0)) : -1;
  if (v < 0 && PQstatus(c->pg) != CONNECTION_OK) c->prepared = false;
  PQclear(r);
  return v;
}
