/* nvsmi.c — a small strict XML reader and what suanli-agent takes from `nvidia-smi -q -x`
 * (nvsmi.h).  The document is read into a tree of elements (name, trimmed text, the `id`
 * attribute, line) in two allocations; every structural problem stops the parse with the
 * line it was found on. */
#define _GNU_SOURCE
#include "nvsmi.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 64
#define MAX_NODES 200000
#define MAX_INPUT (64u << 20)

/* ------------------------------------------------------------------------ the XML reader */

typedef struct xnode {
  const char *name, *text;     /* text: "" when the element holds none */
  char id[40];                 /* the id attribute, "" when absent */
  int line, first, last, next; /* children and sibling, -1 when none */
} xnode;

typedef struct xdoc {
  const char *p, *end;
  int line;
  xnode *n;
  int count, cap;
  char *store; /* decoded names and texts */
  size_t used, store_cap;
  char *err;
  size_t errlen;
} xdoc;

static bool fail(xdoc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool fail(xdoc *d, const char *fmt, ...) {
  char msg[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  snprintf(d->err, d->errlen, "line %d: %s", d->line, msg);
  return false;
}

static void advance(xdoc *d, size_t k) {
  for (size_t i = 0; i < k && d->p < d->end; i++, d->p++)
    if (*d->p == '\n') d->line++;
}

static bool starts(const xdoc *d, const char *s) {
  size_t n = strlen(s);
  return (size_t)(d->end - d->p) >= n && memcmp(d->p, s, n) == 0;
}

static void skip_ws(xdoc *d) {
  while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\r' || *d->p == '\n'))
    advance(d, 1);
}

/* Advance past the next occurrence of s; false at the end of the input. */
static bool skip_past(xdoc *d, const char *s, const char *what) {
  size_t n = strlen(s);
  while ((size_t)(d->end - d->p) >= n) {
    if (memcmp(d->p, s, n) == 0) {
      advance(d, n);
      return true;
    }
    advance(d, 1);
  }
  return fail(d, "the document ends inside %s", what);
}

static char *store(xdoc *d, size_t n) {
  char *s = d->store + d->used;
  d->used += n + 1;
  return s;
}

static bool name_start(char c) { return isalpha((unsigned char)c) || c == '_' || c == ':'; }
static bool name_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || c == ':' || c == '-' || c == '.';
}

static bool read_name(xdoc *d, const char **out) {
  if (d->p >= d->end) return fail(d, "the document ends inside a tag");
  if (!name_start(*d->p)) return fail(d, "'%c' cannot start a name", *d->p);
  const char *s = d->p;
  while (d->p < d->end && name_char(*d->p)) d->p++;
  size_t n = (size_t)(d->p - s);
  char *c = store(d, n);
  memcpy(c, s, n);
  c[n] = '\0';
  *out = c;
  return true;
}

/* Append the UTF-8 encoding of code point cp to s at *k. */
static bool put_utf8(char *s, size_t *k, unsigned long cp) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  if (cp < 0x80) {
    s[(*k)++] = (char)cp;
  } else if (cp < 0x800) {
    s[(*k)++] = (char)(0xC0 | (cp >> 6));
    s[(*k)++] = (char)(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s[(*k)++] = (char)(0xE0 | (cp >> 12));
    s[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[(*k)++] = (char)(0x80 | (cp & 0x3F));
  } else {
    s[(*k)++] = (char)(0xF0 | (cp >> 18));
    s[(*k)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
    s[(*k)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[(*k)++] = (char)(0x80 | (cp & 0x3F));
  }
  return true;
}

/* Decode [s, e) (character data or an attribute value) into the store: entities resolved.
 * An entity needs at most as many bytes decoded as written, so n + 1 bytes suffice. */
static bool decode(xdoc *d, const char *s, const char *e, const char **out) {
  char *o = store(d, (size_t)(e - s));
  size_t k = 0;
  for (const char *q = s; q < e;) {
    if (*q == '<') return fail(d, "'<' in a value");
    if (*q != '&') {
      o[k++] = *q++;
      continue;
    }
    const char *semi = memchr(q, ';', (size_t)(e - q));
    if (!semi || semi - q > 10) return fail(d, "an '&' that starts no entity");
    size_t n = (size_t)(semi - q - 1);
    const char *ent = q + 1;
    static const struct {
      const char *name;
      char c;
    } named[] = {{"lt", '<'}, {"gt", '>'}, {"amp", '&'}, {"quot", '"'}, {"apos", '\''}};
    bool done = false;
    for (size_t i = 0; i < sizeof named / sizeof named[0] && !done; i++)
      if (strlen(named[i].name) == n && memcmp(ent, named[i].name, n) == 0) {
        o[k++] = named[i].c;
        done = true;
      }
    if (!done && n >= 2 && ent[0] == '#') {
      bool hex = ent[1] == 'x';
      unsigned long cp = 0;
      size_t digits = 0;
      for (size_t i = hex ? 2 : 1; i < n; i++, digits++) {
        int v = isdigit((unsigned char)ent[i])           ? ent[i] - '0'
                : hex && isxdigit((unsigned char)ent[i]) ? tolower((unsigned char)ent[i]) - 'a' + 10
                                                         : -1;
        if (v < 0 || cp > 0x10FFFF) return fail(d, "a bad character reference");
        cp = cp * (hex ? 16 : 10) + (unsigned long)v;
      }
      if (!digits || !put_utf8(o, &k, cp)) return fail(d, "a bad character reference");
      done = true;
    }
    if (!done) return fail(d, "unknown entity '&%.*s;'", (int)n, ent);
    q = semi + 1;
  }
  o[k] = '\0';
  *out = o;
  return true;
}

static int new_node(xdoc *d, const char *name) {
  if (d->count >= MAX_NODES) return -1;
  if (d->count == d->cap) {
    int cap = d->cap ? d->cap * 2 : 256;
    xnode *n = realloc(d->n, (size_t)cap * sizeof *n);
    if (!n) return -1;
    d->n = n;
    d->cap = cap;
  }
  xnode *x = &d->n[d->count];
  memset(x, 0, sizeof *x);
  x->name = name;
  x->text = "";
  x->line = d->line;
  x->first = x->last = x->next = -1;
  return d->count++;
}

/* Comments, processing instructions and white space between elements. */
static bool skip_misc(xdoc *d) {
  for (;;) {
    skip_ws(d);
    if (starts(d, "<!--")) {
      if (!skip_past(d, "-->", "a comment")) return false;
    } else if (starts(d, "<?")) {
      if (!skip_past(d, "?>", "a processing instruction")) return false;
    } else {
      return true;
    }
  }
}

/* <name attrs> content </name>, the '<' already seen at d->p.  *out = its node. */
static bool element(xdoc *d, int depth, int *out) {
  if (depth > MAX_DEPTH) return fail(d, "elements nested deeper than %d", MAX_DEPTH);
  advance(d, 1); /* '<' */
  const char *name;
  if (!read_name(d, &name)) return false;
  int me = new_node(d, name);
  if (me < 0) return fail(d, "too many elements");
  *out = me;
  for (;;) { /* attributes */
    const char *before = d->p;
    skip_ws(d);
    if (d->p >= d->end) return fail(d, "the document ends inside <%s>", name);
    if (*d->p == '/' || *d->p == '>') break;
    if (d->p == before) return fail(d, "a space must separate the attributes of <%s>", name);
    const char *an, *av;
    if (!read_name(d, &an)) return false;
    skip_ws(d);
    if (d->p >= d->end || *d->p != '=')
      return fail(d, "attribute %s of <%s> has no value", an, name);
    advance(d, 1);
    skip_ws(d);
    if (d->p >= d->end || (*d->p != '"' && *d->p != '\''))
      return fail(d, "attribute %s of <%s> is not quoted", an, name);
    char q = *d->p;
    const char *vs = d->p + 1, *ve = memchr(vs, q, (size_t)(d->end - vs));
    if (!ve) return fail(d, "the document ends inside an attribute of <%s>", name);
    if (!decode(d, vs, ve, &av)) return false;
    advance(d, (size_t)(ve + 1 - d->p));
    if (strcmp(an, "id") == 0) snprintf(d->n[me].id, sizeof d->n[me].id, "%s", av);
  }
  if (*d->p == '/') {
    if (!starts(d, "/>")) return fail(d, "a '/' inside <%s>", name);
    advance(d, 2);
    return true;
  }
  advance(d, 1); /* '>' */
  bool texts = false;
  for (;;) { /* content */
    const char *s = d->p;
    while (d->p < d->end && *d->p != '<') advance(d, 1);
    if (d->p >= d->end) return fail(d, "the document ends inside <%s> (truncated?)", name);
    const char *ts = s, *te = d->p;
    while (ts < te && isspace((unsigned char)*ts)) ts++;
    while (te > ts && isspace((unsigned char)te[-1])) te--;
    if (ts < te) {
      if (texts || d->n[me].first >= 0) return fail(d, "<%s> mixes text and elements", name);
      if (!decode(d, ts, te, &d->n[me].text)) return false;
      texts = true;
    }
    if (starts(d, "</")) {
      advance(d, 2);
      const char *end;
      if (!read_name(d, &end)) return false;
      if (strcmp(end, name) != 0) return fail(d, "</%s> closes <%s>", end, name);
      skip_ws(d);
      if (d->p >= d->end || *d->p != '>') return fail(d, "the end tag of <%s> is not closed", name);
      advance(d, 1);
      return true;
    }
    if (starts(d, "<!--")) {
      if (!skip_past(d, "-->", "a comment")) return false;
    } else if (starts(d, "<![CDATA[")) {
      advance(d, 9);
      const char *cs = d->p;
      if (!skip_past(d, "]]>", "a CDATA section")) return false;
      if (texts || d->n[me].first >= 0) return fail(d, "<%s> mixes text and elements", name);
      size_t n = (size_t)(d->p - 3 - cs);
      char *c = store(d, n);
      memcpy(c, cs, n);
      c[n] = '\0';
      d->n[me].text = c;
      texts = true;
    } else if (starts(d, "<?")) {
      if (!skip_past(d, "?>", "a processing instruction")) return false;
    } else if (starts(d, "<!")) {
      return fail(d, "a declaration inside <%s>", name);
    } else {
      if (texts) return fail(d, "<%s> mixes text and elements", name);
      int child;
      if (!element(d, depth + 1, &child)) return false;
      if (d->n[me].last >= 0) d->n[d->n[me].last].next = child;
      else d->n[me].first = child;
      d->n[me].last = child;
    }
  }
}

/* The whole document; *root = the document element. */
static bool document(xdoc *d, int *root) {
  if (starts(d, "\xEF\xBB\xBF")) d->p += 3;
  if (!skip_misc(d)) return false;
  if (starts(d, "<!DOCTYPE")) {
    const char *gt = d->p;
    while (gt < d->end && *gt != '>' && *gt != '[') gt++;
    if (gt >= d->end) return fail(d, "the document ends inside the DOCTYPE");
    if (*gt == '[') return fail(d, "a DOCTYPE with an internal subset");
    advance(d, (size_t)(gt + 1 - d->p));
    if (!skip_misc(d)) return false;
  }
  if (d->p >= d->end) return fail(d, "no document element (empty output?)");
  if (*d->p != '<' || !name_start(d->p + 1 < d->end ? d->p[1] : ' '))
    return fail(d, "text before the document element");
  if (!element(d, 0, root)) return false;
  if (!skip_misc(d)) return false;
  if (d->p < d->end) return fail(d, "content after the document element");
  return true;
}

static int child(const xdoc *d, int node, const char *name) {
  for (int c = node >= 0 ? d->n[node].first : -1; c >= 0; c = d->n[c].next)
    if (strcmp(d->n[c].name, name) == 0) return c;
  return -1;
}

/* The node at a '/'-separated path below node, or -1. */
static int at(const xdoc *d, int node, const char *path) {
  char part[64];
  while (node >= 0 && *path) {
    size_t n = strcspn(path, "/");
    snprintf(part, sizeof part, "%.*s", (int)n, path);
    node = child(d, node, part);
    path += n + (path[n] == '/');
  }
  return node;
}

static const char *text_at(const xdoc *d, int node, const char *path) {
  int n = at(d, node, path);
  return n >= 0 ? d->n[n].text : NULL;
}

/* --------------------------------------------------------------- from elements to figures */

static bool unknown_text(const char *s) {
  static const char *const na[] = {
      "N/A", "[N/A]", "Not Supported", "[Not Supported]", "Unknown", "[Unknown Error]", ""};
  for (size_t i = 0; i < sizeof na / sizeof na[0]; i++)
    if (strcmp(s, na[i]) == 0) return true;
  return false;
}

/* The number at path ("81559 MiB" with unit "MiB", "0 %" with "%", "3" with ""): *v, or
 * NV_UNKNOWN when absent or N/A.  Anything else is an error naming the element. */
static bool number(xdoc *d, int gpu, const char *path, const char *unit, int64_t *v) {
  int node = at(d, gpu, path);
  *v = NV_UNKNOWN;
  if (node < 0 || unknown_text(d->n[node].text)) return true;
  const char *s = d->n[node].text;
  char *e;
  long long x = strtoll(s, &e, 10);
  if (e == s || !isdigit((unsigned char)*s) || x < 0 || x > INT64_C(1) << 52) goto bad;
  while (*e == ' ') e++;
  if (strcmp(e, unit) != 0) goto bad;
  *v = x;
  return true;
bad:
  d->line = d->n[node].line;
  return fail(d, "<%s> '%.40s' is not a number%s%s", d->n[node].name, s, *unit ? " of " : "", unit);
}

/* Yes/No at path: *v true for "Yes"; absent or N/A is false. */
static bool yes_no(xdoc *d, int gpu, const char *path, bool *v) {
  int node = at(d, gpu, path);
  *v = false;
  if (node < 0 || unknown_text(d->n[node].text) || strcmp(d->n[node].text, "No") == 0) return true;
  if (strcmp(d->n[node].text, "Yes") == 0) {
    *v = true;
    return true;
  }
  d->line = d->n[node].line;
  return fail(d, "<%s> '%.40s' is neither Yes nor No", d->n[node].name, d->n[node].text);
}

/* The sum of the numbers at paths that are known; NV_UNKNOWN when none is. */
static bool sum(xdoc *d, int gpu, const char *const *paths, int64_t *total) {
  *total = NV_UNKNOWN;
  for (const char *const *p = paths; *p; p++) {
    int64_t v;
    if (!number(d, gpu, *p, "", &v)) return false;
    if (v != NV_UNKNOWN) *total = (*total == NV_UNKNOWN ? 0 : *total) + v;
  }
  return true;
}

static bool read_gpu(xdoc *d, int node, nv_gpu *g) {
  memset(g, 0, sizeof *g);
  const char *product = text_at(d, node, "product_name");
  if (!product || !*product) {
    d->line = d->n[node].line;
    return fail(d, "a <gpu> without <product_name>");
  }
  snprintf(g->product, sizeof g->product, "%s", product);
  const char *s;
  snprintf(g->bus_id, sizeof g->bus_id, "%.31s",
           (s = text_at(d, node, "pci/pci_bus_id")) && *s ? s : d->n[node].id);
  snprintf(g->uuid, sizeof g->uuid, "%s", (s = text_at(d, node, "uuid")) ? s : "");
  snprintf(g->architecture, sizeof g->architecture, "%s",
           (s = text_at(d, node, "product_architecture")) ? s : "");
  snprintf(g->recovery_action, sizeof g->recovery_action, "%s",
           (s = text_at(d, node, "gpu_recovery_action")) ? s : "N/A");
  snprintf(g->fabric_health, sizeof g->fabric_health, "%s",
           (s = text_at(d, node, "fabric/health/summary")) ? s : "N/A");
  int64_t util;
  if (!number(d, node, "fb_memory_usage/total", "MiB", &g->memory_mib) ||
      !number(d, node, "utilization/gpu_util", "%", &util))
    return false;
  if (g->memory_mib == NV_UNKNOWN) {
    d->line = d->n[node].line;
    return fail(d, "the <gpu> %s has no memory size (fb_memory_usage/total)", g->bus_id);
  }
  g->util_pct = util == NV_UNKNOWN || util > 100 ? NV_UNKNOWN : (int)util;
  /* ECC: the current names (R535+), else the older single_bit/double_bit totals */
  static const char *const vol_unc[] = {"ecc_errors/volatile/sram_uncorrectable_parity",
                                        "ecc_errors/volatile/sram_uncorrectable_secded",
                                        "ecc_errors/volatile/sram_uncorrectable",
                                        "ecc_errors/volatile/dram_uncorrectable",
                                        "ecc_errors/volatile/double_bit/total",
                                        NULL};
  static const char *const vol_cor[] = {"ecc_errors/volatile/sram_correctable",
                                        "ecc_errors/volatile/dram_correctable",
                                        "ecc_errors/volatile/single_bit/total", NULL};
  static const char *const agg_unc[] = {"ecc_errors/aggregate/sram_uncorrectable_parity",
                                        "ecc_errors/aggregate/sram_uncorrectable_secded",
                                        "ecc_errors/aggregate/sram_uncorrectable",
                                        "ecc_errors/aggregate/dram_uncorrectable",
                                        "ecc_errors/aggregate/double_bit/total",
                                        NULL};
  static const char *const retired[] = {
      "retired_pages/multiple_single_bit_retirement/retired_count",
      "retired_pages/double_bit_retirement/retired_count", NULL};
  static const char *const remapped[] = {"remapped_rows/remapped_row_unc",
                                         "remapped_rows/remapped_row_uncorrectable", NULL};
  bool old_pending = false, old_failure = false; /* the names before R470 */
  if (!sum(d, node, vol_unc, &g->ecc_volatile_uncorrectable) ||
      !sum(d, node, vol_cor, &g->ecc_volatile_correctable) ||
      !sum(d, node, agg_unc, &g->ecc_aggregate_uncorrectable) ||
      !sum(d, node, retired, &g->retired_pages) ||
      !yes_no(d, node, "retired_pages/pending_retirement", &g->retirement_pending) ||
      !sum(d, node, remapped, &g->remapped_rows_unc) ||
      !yes_no(d, node, "remapped_rows/remapped_row_pending", &g->remap_pending) ||
      !yes_no(d, node, "remapped_rows/remapped_row_failure", &g->remap_failure) ||
      !yes_no(d, node, "remapped_rows/pending", &old_pending) ||
      !yes_no(d, node, "remapped_rows/remapping_failure_occurred", &old_failure))
    return false;
  g->remap_pending = g->remap_pending || old_pending;
  g->remap_failure = g->remap_failure || old_failure;
  return true;
}

bool nv_parse(const char *xml, size_t len, nv_report *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  xdoc d = {.p = xml, .end = xml + len, .line = 1, .err = err, .errlen = errlen};
  if (len > MAX_INPUT) {
    snprintf(err, errlen, "the output is larger than %u bytes", MAX_INPUT);
    return false;
  }
  if (memchr(xml, '\0', len)) {
    snprintf(err, errlen, "the output holds a NUL byte");
    return false;
  }
  d.store_cap = 2 * len + 64;
  d.store = malloc(d.store_cap);
  int root = -1;
  bool ok = d.store != NULL;
  if (!ok) snprintf(err, errlen, "out of memory");
  ok = ok && document(&d, &root);
  if (ok && strcmp(d.n[root].name, "nvidia_smi_log") != 0) {
    d.line = d.n[root].line;
    ok = fail(&d, "the document element is <%s>, not <nvidia_smi_log>", d.n[root].name);
  }
  int64_t attached = NV_UNKNOWN;
  if (ok) ok = number(&d, root, "attached_gpus", "", &attached);
  for (int c = ok ? d.n[root].first : -1; ok && c >= 0; c = d.n[c].next) {
    if (strcmp(d.n[c].name, "gpu") != 0) continue;
    if (out->count == NV_MAX_GPUS) {
      d.line = d.n[c].line;
      ok = fail(&d, "more than %d GPUs", NV_MAX_GPUS);
      break;
    }
    nv_gpu *g = &out->gpus[out->count];
    ok = read_gpu(&d, c, g);
    if (ok) {
      nv_judge(g);
      out->count++;
    }
  }
  if (ok && attached != NV_UNKNOWN && attached != out->count) {
    snprintf(err, errlen, "<attached_gpus> says %lld but the output describes %d (cut short?)",
             (long long)attached, out->count);
    ok = false;
  }
  if (ok) {
    const char *s;
    snprintf(out->driver, sizeof out->driver, "%s",
             (s = text_at(&d, root, "driver_version")) ? s : "");
    snprintf(out->cuda, sizeof out->cuda, "%s", (s = text_at(&d, root, "cuda_version")) ? s : "");
  }
  free(d.n);
  free(d.store);
  if (!ok) memset(out, 0, sizeof *out);
  return ok;
}

/* ------------------------------------------------------------------------------- health */

static const struct {
  int xid;
  const char *what;
} critical_xids[] = {
    {48, "double-bit ECC error"},       {63, "row remapping event"},
    {64, "row remapping failure"},      {74, "NVLink error"},
    {79, "GPU has fallen off the bus"}, {92, "high single-bit ECC error rate"},
    {94, "contained ECC error"},        {95, "uncontained ECC error"},
    {119, "GSP RPC timeout"},           {120, "GSP error"},
    {140, "unrecovered ECC error"},
};

static const char *xid_what(int xid) {
  for (size_t i = 0; i < sizeof critical_xids / sizeof critical_xids[0]; i++)
    if (critical_xids[i].xid == xid) return critical_xids[i].what;
  return NULL;
}

#define RETIRED_PAGES_LIMIT 60

void nv_judge(nv_gpu *g) {
  g->healthy = false;
  if (g->ecc_volatile_uncorrectable > 0)
    snprintf(g->why, sizeof g->why, "%lld uncorrectable ECC errors since the last reset",
             (long long)g->ecc_volatile_uncorrectable);
  else if (g->remap_failure) snprintf(g->why, sizeof g->why, "row remapping failed");
  else if (g->remap_pending)
    snprintf(g->why, sizeof g->why, "a row remapping is pending (reset the GPU)");
  else if (g->retirement_pending)
    snprintf(g->why, sizeof g->why, "a page retirement is pending (reset the GPU)");
  else if (g->retired_pages >= RETIRED_PAGES_LIMIT)
    snprintf(g->why, sizeof g->why, "%lld retired pages", (long long)g->retired_pages);
  else if (!unknown_text(g->recovery_action) && strcmp(g->recovery_action, "None") != 0)
    snprintf(g->why, sizeof g->why, "recovery action pending: %s", g->recovery_action);
  else if (!unknown_text(g->fabric_health) && strcmp(g->fabric_health, "Healthy") != 0)
    snprintf(g->why, sizeof g->why, "fabric health: %s", g->fabric_health);
  else if (g->xid) snprintf(g->why, sizeof g->why, "XID %d (%s)", g->xid, xid_what(g->xid));
  else {
    g->healthy = true;
    g->why[0] = '\0';
  }
}

/* "bb:dd" of a PCI address ("00000000:00:06.0", "0000:00:06"): bus and device, lowercase. */
static void bus_dev(const char *addr, char out[8]) {
  const char *c1 = strchr(addr, ':');
  out[0] = '\0';
  if (!c1) return;
  snprintf(out, 8, "%.5s", c1 + 1);
  for (char *p = out; *p; p++) *p = (char)tolower((unsigned char)*p);
}

int nv_apply_xid(nv_report *r, const char *log) {
  int found = 0;
  for (const char *line = log; line && *line;) {
    const char *eol = strchr(line, '\n');
    size_t n = eol ? (size_t)(eol - line) : strlen(line);
    const char *x = memmem(line, n, "Xid (PCI:", 9);
    if (x) {
      char addr[32], bd[8];
      int xid = 0;
      if (sscanf(x, "Xid (PCI:%31[0-9a-fA-F:.]): %d", addr, &xid) == 2 && xid_what(xid)) {
        bus_dev(addr, bd);
        for (int i = 0; i < r->count; i++) {
          char gb[8];
          bus_dev(r->gpus[i].bus_id, gb);
          if (bd[0] && strcmp(gb, bd) == 0) {
            r->gpus[i].xid = xid;
            nv_judge(&r->gpus[i]);
            found++;
          }
        }
      }
    }
    line = eol ? eol + 1 : NULL;
  }
  return found;
}

int nv_healthy(const nv_report *r) {
  int n = 0;
  for (int i = 0; i < r->count; i++) n += r->gpus[i].healthy;
  return n;
}

int nv_utilization_bp(const nv_report *r) {
  int known = 0, total = 0;
  for (int i = 0; i < r->count; i++)
    if (r->gpus[i].util_pct != NV_UNKNOWN) {
      known++;
      total += r->gpus[i].util_pct;
    }
  return known ? total * 100 / known : 0;
}

/* ------------------------------------------------------------------- the catalog's models */

#define MAX_TOKENS 24

/* Upper-case tokens of s split on ' ', '-', '_' and '/'. */
static int tokens(const char *s, char tok[MAX_TOKENS][24]) {
  int n = 0;
  while (*s && n < MAX_TOKENS) {
    size_t k = strcspn(s, " -_/");
    if (k) {
      snprintf(tok[n], 24, "%.*s", (int)(k < 23 ? k : 23), s);
      for (char *p = tok[n]; *p; p++) *p = (char)toupper((unsigned char)*p);
      n++;
    }
    s += k;
    while (*s == ' ' || *s == '-' || *s == '_' || *s == '/') s++;
  }
  return n;
}

/* "80GB", "16G": a memory size, not a model name. */
static bool size_token(const char *t) {
  size_t d = strspn(t, "0123456789");
  return d > 0 && (strcmp(t + d, "GB") == 0 || strcmp(t + d, "G") == 0);
}

static bool has_token(char tok[MAX_TOKENS][24], int n, const char *t) {
  for (int i = 0; i < n; i++)
    if (strcmp(tok[i], t) == 0) return true;
  return false;
}

/* The form factor a product name says: "PCIE", "NVL", "SXM" (also SXM2/4/5), or "" (none). */
static const char *form(char tok[MAX_TOKENS][24], int n) {
  for (int i = 0; i < n; i++) {
    if (strcmp(tok[i], "PCIE") == 0) return "PCIE";
    if (strcmp(tok[i], "NVL") == 0) return "NVL";
    if (strncmp(tok[i], "SXM", 3) == 0) return "SXM";
  }
  return "";
}

/* Whether a catalog variant fits the form factor the name says; with none said, `loose`
 * takes any variant, else SXM or none (nvidia-smi names SXM boards by their memory). */
static bool variant_fits(const char *variant, const char *want, bool loose) {
  char v[24];
  snprintf(v, sizeof v, "%s", variant ? variant : "");
  for (char *p = v; *p; p++) *p = (char)toupper((unsigned char)*p);
  if (!*want) return loose || !*v || strncmp(v, "SXM", 3) == 0;
  return strncmp(v, want, strlen(want)) == 0;
}

/* The models of cat that g fits (the last one in *found); loose as variant_fits. */
static int fitting(const nv_gpu *g, const nv_model *cat, size_t n, bool loose, const char **found) {
  char pt[MAX_TOKENS][24];
  int np = tokens(g->product, pt);
  const char *want = form(pt, np);
  double gb = (double)g->memory_mib / 1024.0;
  int fits = 0;
  for (size_t i = 0; i < n; i++) {
    const nv_model *m = &cat[i];
    if (!m->vendor || strcasecmp(m->vendor, "NVIDIA") != 0 || !m->model) continue;
    char mt[MAX_TOKENS][24];
    int nm = tokens(m->model, mt), named = 0;
    bool all = true;
    for (int k = 0; k < nm; k++) {
      if (size_token(mt[k])) continue;
      named++;
      all = all && has_token(pt, np, mt[k]);
    }
    if (!all || !named) continue;
    if (m->memory_gb > 0) {
      double tol = m->memory_gb * 0.10 > 3.0 ? m->memory_gb * 0.10 : 3.0;
      if (gb < m->memory_gb - tol || gb > m->memory_gb + tol) continue;
    }
    if (!variant_fits(m->variant, want, loose)) continue;
    *found = m->id;
    fits++;
  }
  return fits;
}

const char *nv_match(const nv_gpu *g, const nv_model *cat, size_t n, char *why, size_t whylen) {
  const char *found = NULL;
  int fits = fitting(g, cat, n, false, &found);
  if (fits == 0) fits = fitting(g, cat, n, true, &found); /* a PCIe-only model named plainly */
  double gb = (double)g->memory_mib / 1024.0;
  if (fits == 1) {
    if (why && whylen) why[0] = '\0';
    return found;
  }
  if (why && whylen)
    snprintf(why, whylen,
             fits ? "%s (%.0f GB) fits %d catalog models" : "%s (%.0f GB) is not in the catalog",
             g->product, gb, fits);
  return NULL;
}

int nv_proposal(const nv_gpu *g, char *model, size_t mlen, char *id, size_t idlen) {
  static const char *const drop[] = {"NVIDIA", "GeForce", "Tesla"};
  size_t m = 0, k = 0;
  if (mlen) model[0] = '\0';
  if (idlen) id[0] = '\0';
  for (const char *p = g->product; *p;) {
    size_t n = strcspn(p, " ");
    bool skip = false;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
      skip = skip || (strlen(drop[i]) == n && strncasecmp(p, drop[i], n) == 0);
    if (n && !skip) {
      if (m + n + 2 < mlen)
        m += (size_t)snprintf(model + m, mlen - m, "%s%.*s", m ? " " : "", (int)n, p);
      for (size_t i = 0; i < n && k + 2 < idlen; i++) {
        char ch = p[i];
        if (i == 0 && k) id[k++] = '-';
        if (isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '-') id[k++] = ch;
      }
      id[k] = '\0';
    }
    p += n;
    while (*p == ' ') p++;
  }
  return (int)((g->memory_mib + 512) / 1024);
}
