/* db/ledger_audit.h — streaming reads of the ledger auditor (src/db/ledger_audit.c). */
#ifndef SUANLI_DB_LEDGER_AUDIT_H
#define SUANLI_DB_LEDGER_AUDIT_H
#include "suanli/db/db.h"

/* Run statement `name` and call row() for each row as it arrives (single-row mode: constant
 * memory); row returns false to skip the rest.  Statements for the auditor: "audit_entries",
 * "audit_checkpoints", and finding queries returning (table, id, detail): "audit_trades_unsigned",
 * "audit_txns_unsigned", "audit_txns_unbalanced", "audit_txns_empty", "audit_balances",
 * "audit_balance_chain", "audit_floors", "audit_trade_totals", "audit_trade_escrow",
 * "audit_refunds". */
sl_dbrc sl_db_each(sl_dbc *c, const char *name, int n, const char *const *vals,
                   bool (*row)(int ncols, const char *const *cols, const bool *nulls, void *arg),
                   void *arg);

#endif
