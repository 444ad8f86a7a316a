/* log.h — structured one-line JSON logs on stderr.
 *
 * Each line: {"ts":"...","level":"info","msg":"...", ...fields}.  Fields are given as a
 * json object that the call steals (may be NULL).  Thread-safe: one write(2) per line. */
#ifndef SUANLI_LOG_H
#define SUANLI_LOG_H
#include <jansson.h>

typedef enum { SL_LOG_DEBUG, SL_LOG_INFO, SL_LOG_WARN, SL_LOG_ERROR } sl_log_level;

void sl_log_set_level(sl_log_level min);
/* Log msg with extra fields; takes ownership of fields_steal. */
void sl_log(sl_log_level lvl, const char *msg, json_t *fields_steal);
/* printf-style convenience without fields. */
void sl_logf(sl_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Fault injection for the crash-window tests: when SUANLI_CRASH_AT names this point, log it
 * and end the process at once (_exit(137), no cleanup: as kill -9 would).  A no-op otherwise. */
void sl_crash_point(const char *name);
/* Fault injection for the fencing tests: when SUANLI_STALL_AT is "<name>:<ms>", sleep that
 * many milliseconds here (a request stalled between two of its steps).  A no-op otherwise. */
void sl_stall_point(const char *name);

#endif
