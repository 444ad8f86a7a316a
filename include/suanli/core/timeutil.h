/* timeutil.h — UTC timestamps (RFC 3339) as int64 seconds since the epoch. Pure. */
#ifndef SUANLI_TIMEUTIL_H
#define SUANLI_TIMEUTIL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SL_SLOT_SECONDS 3600
/* Earliest and latest instants the API accepts: 2000-01-01 and 2100-01-01. */
#define SL_TIME_MIN INT64_C(946684800)
#define SL_TIME_MAX INT64_C(4102444800)

/* Parse "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" into UTC epoch seconds.  Fractions
 * must be zero (the market works in whole seconds).  Returns false on any syntax or
 * calendar error, or outside [SL_TIME_MIN, SL_TIME_MAX]. */
bool sl_time_parse(const char *s, int64_t *out);

/* Format epoch seconds as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes). */
void sl_time_format(int64_t t, char *buf, size_t len);

/* True when t lies on a slot boundary (a whole UTC hour). */
bool sl_time_on_slot(int64_t t);

/* The machine's real UTC time in seconds / microseconds: for timeouts, leases, rates and
 * logs.  The market's rules read the business clock, sl_clock_now() (suanli/core/clock.h). */
int64_t sl_time_now(void);
int64_t sl_time_now_us(void);

/* ---- human inputs (documented in src/http/README.md, "Human inputs") ---- */

/* Longest duration accepted: 10 years. */
#define SL_DURATION_MAX_S (3660LL * 86400)

/* Parse a duration: one or more <integer><unit> terms, unit m (minutes), h, d or w, such as
 * "90m", "24h", "3d", "1w", "1d12h"; a bare integer counts hours ("24").  At most 9 digits a
 * term.  *seconds > 0 and <= SL_DURATION_MAX_S.  Returns false otherwise. */
bool sl_duration_parse(const char *s, int64_t *seconds);

/* Parse a start time for humans: "now" or "now+<duration>" (sl_duration_parse) relative to
 * `now`, rounded UP to the next whole UTC hour (an instant already on the hour stays); or an
 * RFC 3339 timestamp as sl_time_parse (not rounded).  *relative tells which it was (may be
 * NULL).  Returns false on anything else. */
bool sl_time_parse_human(const char *s, int64_t now, int64_t *out, bool *relative);

/* The first whole UTC hour at or after t. */
int64_t sl_time_ceil_slot(int64_t t);

#endif
