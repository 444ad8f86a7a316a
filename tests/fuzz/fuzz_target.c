/* fuzz_target.c — the raw request target: path canonicalisation and query checks
 * (src/core/rawpath.c), as the server runs them before routing.
 * Invariants checked: a path accepted is canonical (no '%', no '.'/'..' segment, only path
 * characters) and re-checking it gives itself; escaping always yields printable ASCII. */
#include "suanli/core/rawpath.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (!s) return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char out[SL_RAWPATH_MAX + 1], again[SL_RAWPATH_MAX + 1], why[200], esc[3 * 64 + 1];
  const char *q = NULL, *q2 = NULL;
  if (sl_rawpath_canon(s, out, sizeof out, &q) == SL_RAWPATH_OK) {
    if (strchr(out, '%') || strstr(out, "/../") || strstr(out, "/./")) abort();
    size_t n = strlen(out);
    if ((n >= 2 && strcmp(out + n - 2, "/.") == 0) || (n >= 3 && strcmp(out + n - 3, "/..") == 0))
      abort();
    for (const char *p = out; *p; p++)
      if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) abort();
    if (sl_rawpath_canon(out, again, sizeof again, &q2) != SL_RAWPATH_OK || strcmp(out, again))
      abort();
    (void)sl_rawquery_check(q, why, sizeof why);
  }
  (void)sl_rawquery_check(s, why, sizeof why);
  sl_text_escape(s, esc, sizeof esc);
  for (const char *p = esc; *p; p++)
    if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) abort();
  (void)sl_utf8_valid(s, size);
  free(s);
  return 0;
}
