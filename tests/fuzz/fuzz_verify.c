/* fuzz_verify.c — suanli-verify's parsers (tools/verify_common.c, shared with the suanli CLI;
 * the sample key ring from tools/suanli_verify.c): a fuzzed file read as a
 * receipt, a checkpoint and a signature file against a fixed sample key ring.  The verifier
 * exits on shape errors (its contract: exit status 2); here exit() returns to the harness.
 * Leak checking is off for this target (the CLI frees nothing on its exit paths). */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static jmp_buf sl_fuzz_jmp;
static void sl_fuzz_exit(int code) { longjmp(sl_fuzz_jmp, code + 1); }
#define exit(c) sl_fuzz_exit(c)
#define main    suanli_verify_main
#include "tools/suanli_verify.c"
#include "tools/verify_common.c"
#undef main
#undef exit

static char dir[64], keys[96], input[96];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  snprintf(dir, sizeof dir, "/tmp/suanli-fuzz-verify.%d", (int)getpid());
  snprintf(keys, sizeof keys, "%s/keys.json", dir);
  snprintf(input, sizeof input, "%s/input.json", dir);
  if (sodium_init() < 0) abort();
  FILE *o = freopen("/dev/null", "w", stdout);
  (void)o;
  if (setjmp(sl_fuzz_jmp) == 0) cmd_sample(dir);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  FILE *f = fopen(input, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  if (setjmp(sl_fuzz_jmp) == 0) (void)slv_receipt(input, keys);
  if (setjmp(sl_fuzz_jmp) == 0) (void)slv_checkpoint(input, keys);
  return 0;
}
