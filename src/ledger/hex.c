/* hex.c — lowercase hex, decoded strictly (one spelling per byte string). */
#include <string.h>

#include "suanli/ledger/records.h"

void sl_ledger_hex_encode(const uint8_t *bin, size_t len, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[bin[i] >> 4];
    out[2 * i + 1] = digits[bin[i] & 0x0f];
  }
  out[2 * len] = '\0';
}

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decode exactly n bytes from hex[0..2n); the caller has checked the length. */
static bool decode_n(const char *hex, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

bool sl_ledger_hex_decode(const char *hex, uint8_t *out, size_t want) {
  if (hex == NULL || want > SIZE_MAX / 2) return false;
  if (strnlen(hex, 2 * want + 1) != 2 * want) return false;
  return decode_n(hex, out, want);
}

bool sl_ledger_hex_decode_var(const char *hex, uint8_t *out, size_t cap, size_t *len) {
  if (hex == NULL || cap > SIZE_MAX / 2 - 1) return false;
  size_t n = strnlen(hex, 2 * cap + 1);
  if (n % 2 != 0 || n > 2 * cap) return false;
  if (!decode_n(hex, out, n / 2)) return false;
  *len = n / 2;
  return true;
}
