/* vocab.c — lookups into the vocabulary registry (api/vocab.def). */
#include "suanli/core/vocab.h"
#include <string.h>

static const struct {
  sl_vocab_domain domain;
  const char *name, *meaning;
} values[] = {
#define SL_VOCAB_DOMAIN(domain, meaning)
#define SL_VOCAB(domain, ident, value, meaning) {SL_VD_##domain, value, meaning},
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
};

static const struct {
  const char *name;
  sl_vocab first;
} domains[] = {
#define SL_VOCAB_DOMAIN(domain, meaning) {#domain, SL_VOCAB__FIRST_##domain},
#define SL_VOCAB(domain, ident, value, meaning)
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
};

/* Each domain's values after a NULL, and a NULL at the end: domain d's NULL-terminated list
 * starts just after its own NULL, at first(d) + d + 1. */
static const char *const lists[] = {
#define SL_VOCAB_DOMAIN(domain, meaning)        NULL,
#define SL_VOCAB(domain, ident, value, meaning) value,
#include "api/vocab.def"
#undef SL_VOCAB
#undef SL_VOCAB_DOMAIN
    NULL};

static bool is_value(sl_vocab v) { return v >= 0 && v < SL_VOCAB__COUNT; }
static bool is_domain(sl_vocab_domain d) { return (unsigned)d < SL_VD__COUNT; }

const char *sl_vocab_name(sl_vocab v) { return is_value(v) ? values[v].name : ""; }
const char *sl_vocab_meaning(sl_vocab v) { return is_value(v) ? values[v].meaning : ""; }
sl_vocab_domain sl_vocab_domain_of(sl_vocab v) {
  return is_value(v) ? values[v].domain : SL_VD__COUNT;
}

const char *sl_vocab_domain_name(sl_vocab_domain d) { return is_domain(d) ? domains[d].name : ""; }
sl_vocab sl_vocab_first(sl_vocab_domain d) {
  return is_domain(d) ? domains[d].first : SL_VOCAB_NONE;
}

int sl_vocab_count(sl_vocab_domain d) {
  if (!is_domain(d)) return 0;
  sl_vocab end = d + 1 < SL_VD__COUNT ? domains[d + 1].first : SL_VOCAB__COUNT;
  return (int)(end - domains[d].first);
}

sl_vocab sl_vocab_parse(sl_vocab_domain d, const char *s) {
  int n = sl_vocab_count(d);
  for (int i = 0; s && i < n; i++)
    if (strcmp(values[domains[d].first + i].name, s) == 0) return (sl_vocab)(domains[d].first + i);
  return SL_VOCAB_NONE;
}

bool sl_vocab_is(const char *s, sl_vocab v) {
  return s && is_value(v) && strcmp(s, values[v].name) == 0;
}

const char *const *sl_vocab_names(sl_vocab_domain d) {
  return is_domain(d) ? &lists[domains[d].first + d + 1]
                      : &lists[sizeof lists / sizeof lists[0] - 1];
}
