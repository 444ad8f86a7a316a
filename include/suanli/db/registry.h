/* db/registry.h — the open accelerator registry (src/db/registry.c): providers' proposals of
 * models, admins' decisions, and the names (families, aliases) that resolve to models. */
#ifndef SUANLI_DB_REGISTRY_H
#define SUANLI_DB_REGISTRY_H
#include "suanli/db/db.h"

/* Store a pending proposal of proposer.  p is the validated body: "accelerator" (the id),
 * model, vendor, source_url, and optionally variant, family, memory_gb, memory_type,
 * mem_bandwidth_gbps, fp16_dense_tflops, bf16_dense_tflops, fp32_tflops, interconnect,
 * interconnect_gbps, notes, aliases.  SL_DB_UNIQUE when a proposal of that id is pending. */
sl_dbrc sl_db_proposal_create(sl_dbc *c, int64_t proposer, const json_t *p, json_t **out);
/* One proposal; proposer != 0 restricts to that proposer's (NOROWS otherwise). */
sl_dbrc sl_db_proposal_get(sl_dbc *c, int64_t id, int64_t proposer, json_t **out);
/* A page of proposals (id > after, at most limit), state NULL = any, proposer 0 = any. */
sl_dbrc sl_db_proposals_list(sl_dbc *c, int64_t proposer, const char *state, int64_t after,
                             int limit, json_t **out);
/* Approve (schema/019 sl_accelerator_approve): *outcome is ok, not_found, not_pending,
 * exists, duplicate or alias_is_model; *other the conflicting model id or the state.  The
 * caller rescores the catalog in the same transaction. */
sl_dbrc sl_db_proposal_approve(sl_dbc *c, int64_t id, int64_t admin, char outcome[24],
                               char other[72]);
/* Reject a pending proposal with a reason; NOROWS when unknown or no longer pending. */
sl_dbrc sl_db_proposal_reject(sl_dbc *c, int64_t id, int64_t admin, const char *reason,
                              json_t **out);
/* The proposer withdraws a pending proposal; NOROWS when unknown, not theirs or decided. */
sl_dbrc sl_db_proposal_withdraw(sl_dbc *c, int64_t id, int64_t proposer, json_t **out);
/* Every alias: [{"alias", "accelerators": [ids]}], by alias. */
sl_dbrc sl_db_aliases_list(sl_dbc *c, json_t **out);

/* Every name (lowercased model id or alias) and the model it names, for the capacity book. */
typedef struct sl_db_name_row {
  char name[72], accelerator[72];
} sl_db_name_row;
sl_dbrc sl_db_book_names(sl_dbc *c, sl_db_name_row **rows, size_t *n);

#endif
