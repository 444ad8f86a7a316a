/* clock.c — the business clock (include/suanli/core/clock.h): the real clock, or an injected
 * source (a test database's clock). */
#include "suanli/core/clock.h"
#include "suanli/core/timeutil.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

static _Atomic(sl_clock_source) source;
static void *source_arg;
static _Atomic int64_t last_offset_us; /* source - real clock at the last good reading */

void sl_clock_set_source(sl_clock_source fn, void *arg) {
  source_arg = arg;
  atomic_store(&last_offset_us, 0);
  atomic_store_explicit(&source, fn, memory_order_release);
}

bool sl_clock_is_injected(void) {
  return atomic_load_explicit(&source, memory_order_acquire) != NULL;
}

int64_t sl_clock_now_us(void) {
  sl_clock_source fn = atomic_load_explicit(&source, memory_order_acquire);
  int64_t real = sl_time_now_us();
  if (!fn) return real;
  int64_t t = fn(source_arg);
  if (t < 0) return real + atomic_load(&last_offset_us);
  atomic_store(&last_offset_us, t - real);
  return t;
}

int64_t sl_clock_now(void) {
  if (!atomic_load_explicit(&source, memory_order_acquire)) return (int64_t)time(NULL);
  int64_t us = sl_clock_now_us();
  return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
}
