/* error.c — lookups into the error registry (api/errors.def). */
#include "suanli/core/error.h"

static const struct {
  int code;
  unsigned status;
  const char *name;
  const char *hint;
} registry[] = {
#define SL_ERROR(ident, code, status, name, hint) {code, status, name, hint},
#include "api/errors.def"
#undef SL_ERROR
};

static sl_err clamp(sl_err e) { return ((unsigned)e < SL_E__COUNT) ? e : SL_E_INTERNAL; }

int sl_err_code(sl_err e) { return registry[clamp(e)].code; }
unsigned sl_err_status(sl_err e) { return registry[clamp(e)].status; }
const char *sl_err_name(sl_err e) { return registry[clamp(e)].name; }
const char *sl_err_hint(sl_err e) { return registry[clamp(e)].hint; }
