/* log.c — one JSON object per line on stderr. */
#include "suanli/core/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static sl_log_level min_level = SL_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void sl_log_set_level(sl_log_level min) { min_level = min; }

void sl_log(sl_log_level lvl, const char *msg, json_t *fields) {
  if ((unsigned)lvl > SL_LOG_ERROR) lvl = SL_LOG_ERROR;
  if (lvl < min_level) {
    json_decref(fields);
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char when[40];
  size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(when + n, sizeof when - n, ".%06ldZ", ts.tv_nsec / 1000);
  json_t *line = json_object();
  json_object_set_new(line, "ts", json_string(when));
  json_object_set_new(line, "level", json_string(level_names[lvl]));
  json_object_set_new(line, "msg", json_string(msg ? msg : ""));
  if (fields) {
    json_object_update_missing(line, fields); /* ts, level and msg always win */
    json_decref(fields);
  }
  char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(line);
  if (!text) return;
  size_t len = strlen(text);
  char *buf = malloc(len + 2);
  if (buf) {
    memcpy(buf, text, len);
    buf[len] = '\n';
    ssize_t w = write(STDERR_FILENO, buf, len + 1);
    (void)w;
    free(buf);
  }
  free(text);
}

void sl_logf(sl_log_level lvl, const char *fmt, ...) {
  if (lvl < min_level) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  sl_log(lvl, msg, NULL);
}

void sl_crash_point(const char *name) {
  const char *at = getenv("SUANLI_CRASH_AT");
  if (!at || strcmp(at, name) != 0) return;
  sl_log(SL_LOG_WARN, "crash point reached: exiting", json_pack("{s:s}", "point", name));
  _exit(137);
}

void sl_stall_point(const char *name) {
  const char *at = getenv("SUANLI_STALL_AT");
  size_t n = strlen(name);
  if (!at || strncmp(at, name, n) != 0 || at[n] != ':') return;
  long ms = atol(at + n + 1);
  if (ms <= 0) return;
  sl_log(SL_LOG_WARN, "stall point reached", json_pack("{s:s,s:i}", "point", name, "ms", (int)ms));
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}
