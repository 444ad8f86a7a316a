/* workers.h — the background threads of suanlid (server/workers.c).  The work itself is in
 * the modules (sl_trading_book_step, sl_trading_maintain, sl_db_reap_step,
 * sl_ledger_sequence); this only runs it, with the configuration main.c read. */
#ifndef SUANLI_SERVER_WORKERS_H
#define SUANLI_SERVER_WORKERS_H
#include "suanli/trading/clearing.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_workers_config {
  const char *conninfo;             /* the database */
  long maintenance_ms;              /* pause between maintenance passes (100..60000) */
  bool sequencer;                   /* run the ledger sequencer (signing enabled) */
  int64_t idempotency_retention_s;  /* Idempotency-Key records are kept this long (>= 1 day) */
  int64_t attempts_retention_s;     /* dispatch attempts are kept this long (0: forever) */
  sl_trading_clearing_cfg clearing; /* the call auction (interval, solver limit) */
} sl_workers_config;

typedef struct sl_workers sl_workers;
/* Open the workers' own 4-connection pool and start the book, maintenance, call auction and
 * (when asked) sequencer threads.  NULL when the pool cannot be allocated. */
sl_workers *sl_workers_start(const sl_workers_config *cfg);
/* Stop and join every thread, close the pool. */
void sl_workers_stop(sl_workers *w);

#endif
