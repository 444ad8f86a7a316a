/* clock.h — the exchange's business clock: "now" for every rule of the market (trade
 * windows, settlement, cancellation, order deadlines, period closes, token expiry, pool
 * health, the times a ledger record signs).  sl_time_now() stays the machine's real clock
 * for what only measures or schedules the process itself (timeouts, leases, rate limits,
 * caches, logs).
 *
 * By default the business clock is the real clock: sl_clock_now() is time(NULL) behind one
 * atomic load.  A test database carries its own clock (schema/014_clock.sql: running at an
 * offset, or frozen at an instant, moved only forward by `suanlid clock set`); a process on
 * such a database installs a source that reads it (src/db/clock.c), so that the C code and
 * SQL's sl_now() tell the same time.  Safe from any thread. */
#ifndef SUANLI_CLOCK_H
#define SUANLI_CLOCK_H
#include <stdbool.h>
#include <stdint.h>

/* Reads the business time in microseconds since the epoch; returns < 0 when it cannot (the
 * clock then goes on at the real clock plus the offset of its last good reading). */
typedef int64_t (*sl_clock_source)(void *arg);

/* Install (fn != NULL) or remove (fn == NULL) the source.  Call before other threads use the
 * clock, or after they have stopped: the pair (fn, arg) is not swapped atomically. */
void sl_clock_set_source(sl_clock_source fn, void *arg);

/* True while a source is installed (a test clock). */
bool sl_clock_is_injected(void);

/* The business time: epoch seconds (rounded down) / microseconds. */
int64_t sl_clock_now(void);
int64_t sl_clock_now_us(void);

#endif
