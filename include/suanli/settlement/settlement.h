/* settlement/settlement.h — accounting periods, statements and exports
 * (src/settlement/settlement.c).
 *
 * A closed period [start, end) owns every journal transaction written in it.  Its canonical
 * export is the CSV of every account's journal lines (columns below, ordered by account then
 * transaction); closing a period stores that export's SHA-256 and signs a PERIOD_CLOSE ledger
 * entry over it, so the period's statements can never change unnoticed.  Exports are written
 * to an unlinked temporary file while their SHA-256 is computed (constant memory whatever the
 * size), then signed (an EXPORT record over the digest) and streamed.
 *
 * CSV columns (RFC 4180, CRLF, a header row, amounts as decimal strings, times RFC 3339 UTC):
 *   account_id, account_kind, txn_id, at, kind, trade_id, pool_id, region, gpu_hours,
 *   available_change, escrow_change, fee, memo
 * account_id 0 is the exchange itself (its fees, and the outside world's counter-entries of
 * deposits and withdrawals). */
#ifndef SUANLI_SETTLEMENT_H
#define SUANLI_SETTLEMENT_H
#include "suanli/db/db.h"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_settlement_export sl_settlement_export;

/* A new export; to_file=false only hashes (for closing a period). */
sl_settlement_export *sl_settlement_export_new(bool to_file);
/* Finish: *sha256 of all bytes written; when the export went to a file, *fd (rewound, the
 * caller owns it) and *size.  Also signs it: key_id and sig (hex) for the response headers. */
bool sl_settlement_export_finish(sl_settlement_export *e, uint8_t sha256[32], int *fd,
                                 uint64_t *size, char key_id[17], char sig_hex[129]);
void sl_settlement_export_free(sl_settlement_export *e);

/* The canonical all-accounts CSV of [from, to). */
sl_dbrc sl_settlement_period_csv(sl_dbc *c, int64_t from, int64_t to, sl_settlement_export *out);
/* The SHA-256 of the period's export (the CSV above), computed in memory: what the period's
 * signed PERIOD_CLOSE entry and the export's signature cover (for the auditor). */
sl_dbrc sl_settlement_period_digest(sl_dbc *c, int64_t from, int64_t to, uint8_t sha256[32]);
/* One account's statement as JSON or CSV: account is its Account (src/db), NULL for the
 * exchange; the statement shows its id, kind and name. */
sl_dbrc sl_settlement_statement(sl_dbc *c, const json_t *period, int64_t from, int64_t to,
                                const json_t *account, bool csv, sl_settlement_export *out);
/* Per-region summary (regions NULL = all) as JSON or CSV. */
sl_dbrc sl_settlement_regions(sl_dbc *c, const json_t *period, int64_t from, int64_t to,
                              const json_t *regions, bool csv, sl_settlement_export *out);
/* Close [from, to) in the caller's transaction: hash the canonical export, insert the period,
 * sign its PERIOD_CLOSE ledger entry.  SL_DB_UNIQUE when it overlaps a closed period. */
sl_dbrc sl_settlement_close(sl_dbc *c, int64_t from, int64_t to, int64_t closed_by,
                            int64_t *period_id);

#endif
