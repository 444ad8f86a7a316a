/* db/agent.h — the agent adapter's side of the outbox: providers' agents lease their agent
 * pools' dispatch jobs and report outcomes (src/db/agent.c; schema/021_agent.sql). */
#ifndef SUANLI_DB_AGENT_H
#define SUANLI_DB_AGENT_H
#include "suanli/db/db.h"

/* An agent's poll: who it is and what it says of itself. */
typedef struct sl_db_agent_poll {
  int64_t owner;       /* the provider */
  const char *name;    /* the agent's name, unique per provider */
  const char *version; /* "" when not told */
  const char *address; /* the client address the poll came from */
  const char *note;    /* a new note about itself, or NULL to keep the last one */
  int64_t rtt_us;      /* its round-trip time to the exchange, or -1 when not told */
} sl_db_agent_poll;

/* Record the poll (the agent's row: last seen, version, address, note, RTT). */
sl_dbrc sl_db_agent_seen(sl_dbc *c, const sl_db_agent_poll *p);
/* The region owner's agent measures round trips from: `region` (may be NULL) when one of
 * owner's agent pools is there (else *out = ""), or else the one region of owner's agent
 * pools (those in `pools`, NULL = all).  NOROWS when there is no such single region.  *out is
 * malloc'd. */
sl_dbrc sl_db_agent_region(sl_dbc *c, int64_t owner, const char *region, const json_t *pools,
                           char **out);
/* Record the round trips owner's agent `agent` measured from region `from` to other regions
 * (`rtts`: a JSON array of {"region", "rtt_us"}; regions that do not exist are left out) in
 * the latency matrix as the agent's measured entries, both directions of each pair
 * (schema/027, sl_agent_rtt: admins win, faster than light is refused, small changes are not
 * rewritten).  *written = entries written. */
sl_dbrc sl_db_agent_rtts(sl_dbc *c, int64_t owner, const char *agent, const char *from,
                         const json_t *rtts, int64_t *written);
/* The index of the first id in `pools` (a JSON array of integers) that is not an agent pool
 * of owner, or -1 when all are. */
sl_dbrc sl_db_agent_pools_check(sl_dbc *c, int64_t owner, const json_t *pools, int64_t *bad);
/* Due work of owner's agent pools (all, or those in `pools`, NULL = all): reserve jobs whose
 * reservation is no longer pending are skipped, then up to `max` due jobs are leased for
 * lease_s seconds to `by` ("agent <name>").  *items = the leased work, a JSON array (see
 * src/http/README.md, "The agent adapter"). */
sl_dbrc sl_db_agent_lease(sl_dbc *c, int64_t owner, const json_t *pools, int max, int lease_s,
                          const char *by, json_t **items);
/* Which of the owners (a JSON array of ids) have due agent work: *due = a JSON array of
 * [owner, pool] pairs.  Read-only (the long poll's waiter). */
sl_dbrc sl_db_agent_due(sl_dbc *c, const json_t *owners, json_t **due);

/* A job of owner's agent pools, locked (FOR UPDATE) for recording a result. */
typedef struct sl_db_agent_job {
  int64_t id, reservation_id, trade_id, tenant_id;
  int attempts; /* the current lease's number */
  char state[12], action[12], reservation_state[16], leased_by[80];
} sl_db_agent_job;
/* NOROWS when the job is unknown, not an agent job or not owner's. */
sl_dbrc sl_db_agent_job_lock(sl_dbc *c, int64_t job, int64_t owner, sl_db_agent_job *j);

/* A page of agents (owner 0 = every provider's): {"items": [Agent], "next_after"}. */
sl_dbrc sl_db_agents_page(sl_dbc *c, int64_t owner, int64_t after, int limit, json_t **out);

#endif
