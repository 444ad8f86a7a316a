/* db/clock.h — the database's clock (schema/014_clock.sql) seen from C: a process on a
 * database with a test clock reads it for sl_clock_now() (suanli/core/clock.h); `suanlid clock`
 * shows and moves it. */
#ifndef SUANLI_DB_CLOCK_H
#define SUANLI_DB_CLOCK_H
#include "suanli/db/db.h"
#include <stdbool.h>
#include <stddef.h>

/* Read which clock the database keeps.  The real clock: nothing to do (sl_clock_now() stays
 * time(NULL)).  A test clock: install a clock source that asks the database for sl_now() on
 * a connection of its own, so that this process's C code and SQL tell the same time.  Call
 * once at start-up, after the migrations and before other threads run.  false (err filled)
 * when the database cannot be read. */
bool sl_db_clock_follow(const char *conninfo, char *err, size_t errlen);

/* Remove the source and close its connection (after the other threads have stopped). */
void sl_db_clock_unfollow(void);

/* The clock as JSON text (malloc'd): {"clock": "real"|"test", "mode", "now", "real_now"}. */
sl_dbrc sl_db_clock_show(sl_dbc *c, char **json);

/* Move the test clock to `at` (a timestamptz text), or on by `by` (an interval text), frozen
 * (frozen = 1), running (0) or as it is (-1); switching a fresh database to the test clock.
 * SL_DB_CHECK with constraint clock_forward (it would move back), clock_fresh_database (a
 * server already ran on this database) or "" (at / by do not parse).  A transaction of its
 * own. */
sl_dbrc sl_db_clock_move(sl_dbc *c, const char *at, const char *by, int frozen);

#endif
