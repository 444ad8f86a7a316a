/* test_log.c — structured one-line JSON logs (src/core/log.c).
 *
 * stderr is redirected into a pipe around each call, and what was written is parsed back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "suanli/core/log.h"
#include "suanli/core/timeutil.h"

static int saved_fd = -1;
static int pipe_rd = -1;

static void capture_begin(void) {
  int p[2];
  assert_int_equal(pipe(p), 0);
  fflush(stderr);
  saved_fd = dup(STDERR_FILENO);
  assert_true(saved_fd >= 0);
  assert_true(dup2(p[1], STDERR_FILENO) >= 0);
  close(p[1]);
  pipe_rd = p[0];
}

/* Restore stderr and return what was written (static buffer, NUL-terminated). */
static const char *capture_end(void) {
  static char buf[65536];
  fflush(stderr);
  assert_true(dup2(saved_fd, STDERR_FILENO) >= 0);
  close(saved_fd);
  size_t n = 0;
  ssize_t r;
  while (n < sizeof buf - 1 && (r = read(pipe_rd, buf + n, sizeof buf - 1 - n)) > 0) n += (size_t)r;
  close(pipe_rd);
  buf[n] = '\0';
  return buf;
}

/* Parse the single line in text; fails unless it is exactly one JSON object + '\n'. */
static json_t *one_line(const char *text) {
  size_t len = strlen(text);
  if (len == 0 || text[len - 1] != '\n') fail_msg("log output not one line: \"%s\"", text);
  if (memchr(text, '\n', len - 1)) fail_msg("log output has more than one line: \"%s\"", text);
  json_error_t je;
  json_t *j = json_loadb(text, len - 1, JSON_REJECT_DUPLICATES, &je);
  if (!j) fail_msg("log line is not JSON (%s): %s", je.text, text);
  assert_true(json_is_object(j));
  return j;
}

static void test_line_shape(void **state) {
  (void)state;
  sl_log_set_level(SL_LOG_DEBUG);
  capture_begin();
  sl_log(SL_LOG_WARN, "pool heartbeat late",
         json_pack("{s:i, s:s}", "pool_id", 17, "region", "cn-west-1"));
  json_t *j = one_line(capture_end());
  assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
  assert_string_equal(json_string_value(json_object_get(j, "msg")), "pool heartbeat late");
  assert_int_equal(json_integer_value(json_object_get(j, "pool_id")), 17);
  assert_string_equal(json_string_value(json_object_get(j, "region")), "cn-west-1");
  /* ts: "YYYY-MM-DDTHH:MM:SS.uuuuuuZ", parseable (after dropping the fraction) and recent */
  const char *ts = json_string_value(json_object_get(j, "ts"));
  assert_non_null(ts);
  assert_int_equal(strlen(ts), 27);
  assert_int_equal(ts[19], '.');
  assert_int_equal(ts[26], 'Z');
  char whole[32];
  memcpy(whole, ts, 19);
  memcpy(whole + 19, "Z", 2);
  int64_t t;
  assert_true(sl_time_parse(whole, &t));
  int64_t now = sl_time_now();
  assert_true(t <= now && t >= now - 5);
  /* the first three keys are ts, level, msg, in that order */
  void *it = json_object_iter(j);
  assert_string_equal(json_object_iter_key(it), "ts");
  it = json_object_iter_next(j, it);
  assert_string_equal(json_object_iter_key(it), "level");
  it = json_object_iter_next(j, it);
  assert_string_equal(json_object_iter_key(it), "msg");
  json_decref(j);
}

static void test_levels(void **state) {
  (void)state;
  static const char *const names[] = {"debug", "info", "warn", "error"};
  sl_log_set_level(SL_LOG_DEBUG);
  for (int l = SL_LOG_DEBUG; l <= SL_LOG_ERROR; l++) {
    capture_begin();
    sl_log((sl_log_level)l, "x", NULL);
    json_t *j = one_line(capture_end());
    assert_string_equal(json_string_value(json_object_get(j, "level")), names[l]);
    json_decref(j);
  }
  /* below the minimum: nothing written, and the fields are still released (LeakSanitizer) */
  sl_log_set_level(SL_LOG_WARN);
  capture_begin();
  sl_log(SL_LOG_INFO, "hidden", json_pack("{s:s}", "k", "v"));
  sl_log(SL_LOG_DEBUG, "hidden", NULL);
  sl_logf(SL_LOG_INFO, "hidden %d", 1);
  assert_string_equal(capture_end(), "");
  capture_begin();
  sl_log(SL_LOG_ERROR, "shown", NULL);
  json_t *j = one_line(capture_end());
  assert_string_equal(json_string_value(json_object_get(j, "msg")), "shown");
  json_decref(j);
  sl_log_set_level(SL_LOG_INFO);
}

static void test_logf_and_escaping(void **state) {
  (void)state;
  sl_log_set_level(SL_LOG_DEBUG);
  capture_begin();
  sl_logf(SL_LOG_INFO, "listening on %s:%d", "0.0.0.0", 8080);
  json_t *j = one_line(capture_end());
  assert_string_equal(json_string_value(json_object_get(j, "msg")), "listening on 0.0.0.0:8080");
  json_decref(j);

  /* newlines, quotes and control characters stay inside one JSON line */
  capture_begin();
  sl_log(SL_LOG_ERROR, "bad \"input\"\nsecond line\t\x01", json_pack("{s:s}", "sql", "a\nb"));
  j = one_line(capture_end());
  assert_string_equal(json_string_value(json_object_get(j, "msg")),
                      "bad \"input\"\nsecond line\t\x01");
  assert_string_equal(json_string_value(json_object_get(j, "sql")), "a\nb");
  json_decref(j);

  /* NULL message logs as "" */
  capture_begin();
  sl_log(SL_LOG_INFO, NULL, NULL);
  j = one_line(capture_end());
  assert_string_equal(json_string_value(json_object_get(j, "msg")), "");
  json_decref(j);

  /* an over-long printf message is truncated, still one valid line */
  char big[2000];
  memset(big, 'm', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  capture_begin();
  sl_logf(SL_LOG_INFO, "%s", big);
  j = one_line(capture_end());
  assert_true(strlen(json_string_value(json_object_get(j, "msg"))) < sizeof big - 1);
  json_decref(j);
  sl_log_set_level(SL_LOG_INFO);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_line_shape),
      cmocka_unit_test(test_levels),
      cmocka_unit_test(test_logf_and_escaping),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
