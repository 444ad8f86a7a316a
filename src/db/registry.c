/* registry.c — the open accelerator registry: proposals, decisions, names (schema/019). */
#include "suanli/db/registry.h"
#include "internal.h"
#include <stdlib.h>
#include <string.h>

/* Proposals leave as api_proposal() of schema/022_api_objects.sql; p, the proposal a write
 * returned. */
#define WRITTEN_PROPOSAL " SELECT j::text FROM p, api_proposal(p) j"

const sl_db_stmt sl_db_stmts_registry[] = {
    /* $1 proposer, $2 the validated body (jsonb) */
    {"proposal_create",
     "WITH b AS (SELECT * FROM jsonb_to_record($2::jsonb) AS x(accelerator text, model text,"
     "  variant text, vendor text, family text, memory_gb integer, memory_type text,"
     "  mem_bandwidth_gbps numeric, fp16_dense_tflops numeric, bf16_dense_tflops numeric,"
     "  fp32_tflops numeric, interconnect text, interconnect_gbps numeric, source_url text,"
     "  notes text)),"
     " p AS (INSERT INTO accelerator_proposals (proposer_id, accelerator_id, model, variant,"
     "  vendor, family, memory_gb, memory_type, mem_bandwidth_gbps, fp16_dense_tflops,"
     "  bf16_dense_tflops, fp32_tflops, interconnect, interconnect_gbps, source_url, notes,"
     "  aliases)"
     "  SELECT $1, accelerator, model, coalesce(variant, ''), vendor, coalesce(family, ''),"
     "   memory_gb, memory_type, mem_bandwidth_gbps, fp16_dense_tflops, bf16_dense_tflops,"
     "   fp32_tflops, interconnect, interconnect_gbps, source_url, coalesce(notes, ''),"
     "   coalesce(ARRAY(SELECT jsonb_array_elements_text($2::jsonb -> 'aliases')), '{}')"
     "  FROM b RETURNING *)" WRITTEN_PROPOSAL},
    {"proposal_get", "SELECT j::text FROM accelerator_proposals p, api_proposal(p) j"
                     " WHERE p.id = $1 AND ($2::bigint IS NULL OR p.proposer_id = $2)"},
    {"proposals_list", "SELECT coalesce(json_agg(j ORDER BY id), '[]')::text FROM ("
                       " SELECT p.id, j FROM accelerator_proposals p, api_proposal(p) j"
                       " WHERE p.id > $1 AND ($2::bigint IS NULL OR p.proposer_id = $2)"
                       "  AND ($3::text IS NULL OR p.state = $3) ORDER BY p.id LIMIT $4) s"},
    {"proposal_approve", "SELECT out_outcome, coalesce(out_existing, '')"
                         " FROM sl_accelerator_approve($1, $2)"},
    {"proposal_reject",
     "WITH p AS (UPDATE accelerator_proposals SET state = 'rejected', reason = $3,"
     "  decided_by = $2, decided_at = sl_now() WHERE id = $1 AND state = 'pending' RETURNING "
     "*)" WRITTEN_PROPOSAL},
    {"proposal_withdraw",
     "WITH p AS (UPDATE accelerator_proposals SET state = 'withdrawn', decided_by = $2,"
     "  decided_at = sl_now() WHERE id = $1 AND proposer_id = $2 AND state = 'pending'"
     "  RETURNING *)" WRITTEN_PROPOSAL},
    {"aliases_list",
     "SELECT coalesce(json_agg(json_build_object('alias', alias, 'accelerators', ids)"
     "  ORDER BY lower(alias), alias), '[]')::text FROM ("
     " SELECT alias, json_agg(accelerator_id ORDER BY accelerator_id) AS ids"
     " FROM accelerator_aliases GROUP BY alias) s"},
    {"book_names",
     "SELECT name, accelerator_id FROM accelerator_names ORDER BY name, accelerator_id"},
    {NULL, NULL},
};

sl_dbrc sl_db_proposal_create(sl_dbc *c, int64_t proposer, const json_t *p, json_t **out) {
  return sl_db_json_doc(c, "proposal_create", proposer, p, out);
}

sl_dbrc sl_db_proposal_get(sl_dbc *c, int64_t id, int64_t proposer, json_t **out) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64_opt(b2, proposer, 0)};
  return sl_db_json(c, "proposal_get", 2, v, out);
}

sl_dbrc sl_db_proposals_list(sl_dbc *c, int64_t proposer, const char *state, int64_t after,
                             int limit, json_t **out) {
  char b1[24], b2[24], b4[24];
  const char *v[4] = {sl_db_i64(b1, after), sl_db_i64_opt(b2, proposer, 0), state,
                      sl_db_i64(b4, limit)};
  return sl_db_json(c, "proposals_list", 4, v, out);
}

sl_dbrc sl_db_proposal_approve(sl_dbc *c, int64_t id, int64_t admin, char outcome[24],
                               char other[72]) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64(b2, admin)};
  PGresult *r;
  outcome[0] = other[0] = '\0';
  sl_dbrc rc = sl_db_exec(c, "proposal_approve", 2, v, &r);
  if (rc != SL_DB_OK) return rc;
  if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
    snprintf(outcome, 24, "%s", PQgetvalue(r, 0, 0));
    snprintf(other, 72, "%s", PQgetvalue(r, 0, 1));
  } else {
    rc = SL_DB_HARD;
  }
  PQclear(r);
  return rc;
}

sl_dbrc sl_db_proposal_reject(sl_dbc *c, int64_t id, int64_t admin, const char *reason,
                              json_t **out) {
  char b1[24], b2[24];
  const char *v[3] = {sl_db_i64(b1, id), sl_db_i64(b2, admin), reason};
  return sl_db_json(c, "proposal_reject", 3, v, out);
}

sl_dbrc sl_db_proposal_withdraw(sl_dbc *c, int64_t id, int64_t proposer, json_t **out) {
  char b1[24], b2[24];
  const char *v[2] = {sl_db_i64(b1, id), sl_db_i64(b2, proposer)};
  return sl_db_json(c, "proposal_withdraw", 2, v, out);
}

sl_dbrc sl_db_aliases_list(sl_dbc *c, json_t **out) {
  return sl_db_json(c, "aliases_list", 0, NULL, out);
}

static bool name_row(PGresult *r, int i, void *row) {
  sl_db_name_row *t = row;
  snprintf(t->name, sizeof t->name, "%s", PQgetvalue(r, i, 0));
  snprintf(t->accelerator, sizeof t->accelerator, "%s", PQgetvalue(r, i, 1));
  return true;
}

sl_dbrc sl_db_book_names(sl_dbc *c, sl_db_name_row **rows, size_t *n) {
  return sl_db_rows_map(c, "book_names", 0, NULL, sizeof **rows, name_row, (void **)rows, n);
}
