/* test_agent_nvsmi.c — suanli-agent's reading of `nvidia-smi -q -x` (tools/suanli-agent/nvsmi.c)
 * against the real output of an H100 machine (tests/agent/fixtures/nvidia-h100/, copied from
 * the shared fixtures), every truncation of it, malformed documents, health judgements (ECC,
 * row remapping, retired pages, recovery action, XIDs from the kernel log) and the mapping to
 * the accelerator catalog.  Expected values are read off the fixture by eye (see the XML). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nvsmi.h"

#ifndef SL_AGENT_FIXTURES
#error "SL_AGENT_FIXTURES names the folder of the nvidia-smi fixtures"
#endif

static char *fixture;
static size_t fixture_len;

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  if (b) b[n] = '\0';
  *len = (size_t)n;
  return b;
}

static int setup(void **state) {
  (void)state;
  fixture = read_file(SL_AGENT_FIXTURES "/nvidia-h100/nvidia-smi-q.xml", &fixture_len);
  return fixture ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  free(fixture);
  return 0;
}

/* The fixture with the first `from` replaced by `to` (malloc'd). */
static char *edited(const char *from, const char *to) {
  const char *at = strstr(fixture, from);
  assert_non_null(at);
  size_t pre = (size_t)(at - fixture), fl = strlen(from), tl = strlen(to);
  char *s = malloc(fixture_len - fl + tl + 1);
  memcpy(s, fixture, pre);
  memcpy(s + pre, to, tl);
  strcpy(s + pre + tl, at + fl);
  return s;
}

static bool parse_text(const char *s, nv_report *r, char *err, size_t errlen) {
  return nv_parse(s, strlen(s), r, err, errlen);
}

/* The real H100 output: one healthy GPU with the figures of the fixture. */
static void test_fixture(void **state) {
  (void)state;
  nv_report r;
  char err[256] = "";
  assert_true(nv_parse(fixture, fixture_len, &r, err, sizeof err));
  assert_string_equal(err, "");
  assert_int_equal(r.count, 1);
  assert_string_equal(r.driver, "580.159.04");
  assert_string_equal(r.cuda, "13.0");
  const nv_gpu *g = &r.gpus[0];
  assert_string_equal(g->product, "NVIDIA H100 80GB HBM3");
  assert_string_equal(g->bus_id, "00000000:00:06.0");
  assert_string_equal(g->uuid, "GPU-59004ccb-69e2-277e-c8ce-2872db1ec13e");
  assert_string_equal(g->architecture, "Hopper");
  assert_int_equal(g->memory_mib, 81559);
  assert_int_equal(g->util_pct, 0);
  assert_int_equal(g->ecc_volatile_uncorrectable, 0);
  assert_int_equal(g->ecc_volatile_correctable, 0);
  assert_int_equal(g->ecc_aggregate_uncorrectable, 0);
  assert_int_equal(g->retired_pages, NV_UNKNOWN); /* N/A: Hopper remaps rows instead */
  assert_false(g->retirement_pending);
  assert_int_equal(g->remapped_rows_unc, 0);
  assert_false(g->remap_pending);
  assert_false(g->remap_failure);
  assert_string_equal(g->recovery_action, "None");
  assert_string_equal(g->fabric_health, "N/A");
  assert_true(g->healthy);
  assert_string_equal(g->why, "");
  assert_int_equal(nv_healthy(&r), 1);
  assert_int_equal(nv_utilization_bp(&r), 0);
}

/* Every prefix of the output (cut anywhere, as a pipe closed early would) is refused with a
 * line number, never taken for a smaller machine.  The full document and the document
 * without its last newline parse. */
static void test_every_truncation(void **state) {
  (void)state;
  nv_report r;
  char err[256];
  size_t end = fixture_len;
  while (end > 0 && (fixture[end - 1] == '\n' || fixture[end - 1] == '\r')) end--;
  for (size_t n = 0; n < end; n++) {
    err[0] = '\0';
    if (nv_parse(fixture, n, &r, err, sizeof err)) fail_msg("a prefix of %zu bytes parsed", n);
    if (n > 0 && strncmp(err, "line ", 5) != 0 && !strstr(err, "attached_gpus"))
      fail_msg("prefix %zu: error without a line: %s", n, err);
    assert_int_equal(r.count, 0);
  }
  assert_true(nv_parse(fixture, end, &r, err, sizeof err));
  assert_true(nv_parse(fixture, fixture_len, &r, err, sizeof err));
}

/* Documents that are not what nvidia-smi writes: each refused, naming what is wrong. */
static void test_malformed(void **state) {
  (void)state;
  static const struct {
    const char *from, *to, *says;
  } cases[] = {
      {"</product_name>", "</product>", "</product> closes <product_name>"},
      {"<gpu_util>0 %</gpu_util>", "<gpu_util>abc %</gpu_util>",
       "<gpu_util> 'abc %' is not a number"},
      {"<total>81559 MiB</total>", "<total>81559 KiB</total>", "is not a number of MiB"},
      {"<total>81559 MiB</total>", "<total>N/A</total>", "has no memory size"},
      {"<product_name>NVIDIA H100 80GB HBM3</product_name>", "", "without <product_name>"},
      {"<attached_gpus>1</attached_gpus>", "<attached_gpus>2</attached_gpus>",
       "says 2 but the output describes 1"},
      {"<product_brand>NVIDIA</product_brand>", "<product_brand>NV &nbsp; IDIA</product_brand>",
       "unknown entity '&nbsp;'"},
      {"<product_brand>NVIDIA</product_brand>", "<product_brand>A & B</product_brand>",
       "'&' that starts no entity"},
      {"<product_brand>NVIDIA</product_brand>", "<product_brand>x<i/>y</product_brand>",
       "mixes text and elements"},
      {"<!DOCTYPE nvidia_smi_log SYSTEM \"nvsmi_device_v13.dtd\">",
       "<!DOCTYPE x [<!ENTITY a \"b\">]>", "internal subset"},
      {"<nvidia_smi_log>", "<nvidia_smi_log><", "cannot start a name"},
      {"<remapped_row_pending>No</remapped_row_pending>",
       "<remapped_row_pending>Maybe</remapped_row_pending>", "neither Yes nor No"},
      {"<gpu id=\"00000000:00:06.0\">", "<gpu id=00000000:00:06.0>", "is not quoted"},
      {"<gpu id=\"00000000:00:06.0\">", "<gpu id=\"x\"id=\"y\">", "a space must separate"},
      {"</nvidia_smi_log>", "</nvidia_smi_log><nvidia_smi_log/>",
       "content after the document element"},
      {"<?xml version=\"1.0\" ?>", "garbage<?xml version=\"1.0\" ?>",
       "text before the document element"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *s = edited(cases[i].from, cases[i].to);
    nv_report r;
    char err[256] = "";
    if (parse_text(s, &r, err, sizeof err)) fail_msg("case %zu (%s) parsed", i, cases[i].to);
    if (!strstr(err, cases[i].says)) fail_msg("case %zu: %s, expected %s", i, err, cases[i].says);
    free(s);
  }
  nv_report r;
  char err[256];
  assert_false(parse_text("", &r, err, sizeof err));
  assert_non_null(strstr(err, "no document element"));
  assert_false(parse_text("<other/>", &r, err, sizeof err));
  assert_non_null(strstr(err, "not <nvidia_smi_log>"));
  assert_false(nv_parse("<a>\0</a>", 8, &r, err, sizeof err));
  assert_non_null(strstr(err, "NUL"));
  /* deep nesting is bounded */
  char deep[2000] = "<nvidia_smi_log>";
  for (int i = 0; i < 70; i++) strcat(deep, "<a>");
  assert_false(parse_text(deep, &r, err, sizeof err));
  assert_non_null(strstr(err, "nested deeper"));
}

/* Entities, character references and CDATA are decoded; comments are skipped. */
static void test_entities(void **state) {
  (void)state;
  char *s =
      edited("<product_name>NVIDIA H100 80GB HBM3</product_name>",
             "<!-- c --><product_name>NVIDIA &#72;100 80GB&#x20;HBM3 &lt;&amp;&gt;</product_name>");
  nv_report r;
  char err[256];
  assert_true(parse_text(s, &r, err, sizeof err));
  assert_string_equal(r.gpus[0].product, "NVIDIA H100 80GB HBM3 <&>");
  free(s);
  s = edited("<uuid>GPU-59004ccb-69e2-277e-c8ce-2872db1ec13e</uuid>",
             "<uuid><![CDATA[GPU-<x>]]></uuid>");
  assert_true(parse_text(s, &r, err, sizeof err));
  assert_string_equal(r.gpus[0].uuid, "GPU-<x>");
  free(s);
}

/* Two GPUs: both read, utilization averaged, one unhealthy. */
static void test_two_gpus(void **state) {
  (void)state;
  const char *g0 = strstr(fixture, "\t<gpu id="), *g1 = strstr(fixture, "</gpu>");
  assert_non_null(g0);
  assert_non_null(g1);
  g1 += strlen("</gpu>\n");
  size_t gl = (size_t)(g1 - g0), pre = (size_t)(g0 - fixture);
  char *s = malloc(fixture_len + gl + 1);
  memcpy(s, fixture, pre);
  memcpy(s + pre, g0, gl);
  strcpy(s + pre + gl, g0);
  char *a = strstr(s, "<attached_gpus>1");
  a[strlen("<attached_gpus>")] = '2';
  char *u = strstr(strstr(s, "</gpu>"), "<gpu_util>0 %"); /* the second GPU's */
  memcpy(u + strlen("<gpu_util>"), "8", 1);
  char *e = strstr(strstr(s, "</gpu>"), "<dram_uncorrectable>0");
  memcpy(e + strlen("<dram_uncorrectable>"), "3", 1);
  nv_report r;
  char err[256];
  assert_true(parse_text(s, &r, err, sizeof err));
  assert_int_equal(r.count, 2);
  assert_int_equal(r.gpus[1].util_pct, 8);
  assert_int_equal(nv_utilization_bp(&r), 400);
  assert_true(r.gpus[0].healthy);
  assert_false(r.gpus[1].healthy);
  assert_string_equal(r.gpus[1].why, "3 uncorrectable ECC errors since the last reset");
  assert_int_equal(nv_healthy(&r), 1);
  free(s);
}

/* Each counter that makes a GPU unfit to sell. */
static void test_health(void **state) {
  (void)state;
  static const struct {
    const char *from, *to, *why;
  } cases[] = {
      {"<dram_uncorrectable>0</dram_uncorrectable>", "<dram_uncorrectable>2</dram_uncorrectable>",
       "2 uncorrectable ECC errors since the last reset"},
      {"<remapped_row_pending>No", "<remapped_row_pending>Yes",
       "a row remapping is pending (reset the GPU)"},
      {"<remapped_row_failure>No", "<remapped_row_failure>Yes", "row remapping failed"},
      {"<pending_retirement>N/A", "<pending_retirement>Yes",
       "a page retirement is pending (reset the GPU)"},
      {"<retired_count>N/A</retired_count>", "<retired_count>61</retired_count>",
       "61 retired pages"},
      {"<gpu_recovery_action>None", "<gpu_recovery_action>GPU Reset",
       "recovery action pending: GPU Reset"},
      {"<summary>N/A</summary>", "<summary>Unhealthy</summary>", "fabric health: Unhealthy"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *s = edited(cases[i].from, cases[i].to);
    nv_report r;
    char err[256];
    assert_true(parse_text(s, &r, err, sizeof err));
    if (r.gpus[0].healthy || strcmp(r.gpus[0].why, cases[i].why) != 0)
      fail_msg("case %zu: healthy %d why '%s', expected '%s'", i, r.gpus[0].healthy, r.gpus[0].why,
               cases[i].why);
    assert_int_equal(nv_healthy(&r), 0);
    free(s);
  }
  /* correctable errors and a few retired pages are not a fault */
  char *s = edited("<retired_count>N/A</retired_count>", "<retired_count>5</retired_count>");
  nv_report r;
  char err[256];
  assert_true(parse_text(s, &r, err, sizeof err));
  assert_true(r.gpus[0].healthy);
  assert_int_equal(r.gpus[0].retired_pages, 5);
  free(s);
}

/* XIDs from the kernel log: a critical one for this GPU's bus marks it; another bus, or an
 * application error (XID 13, 31, 43), does not. */
static void test_xid(void **state) {
  (void)state;
  nv_report r;
  char err[256];
  assert_true(nv_parse(fixture, fixture_len, &r, err, sizeof err));
  const char *log = "[ 12.3] NVRM: Xid (PCI:0000:00:06): 13, pid=1, Graphics Exception\n"
                    "[ 12.4] NVRM: Xid (PCI:0000:00:07): 79, pid=1, GPU has fallen off the bus.\n"
                    "[ 12.5] unrelated line\n";
  assert_int_equal(nv_apply_xid(&r, log), 0);
  assert_true(r.gpus[0].healthy);
  log = "kernel: NVRM: Xid (PCI:0000:00:06): 79, pid='<unknown>', name=<unknown>, GPU has fallen "
        "off the bus.";
  assert_int_equal(nv_apply_xid(&r, log), 1);
  assert_false(r.gpus[0].healthy);
  assert_string_equal(r.gpus[0].why, "XID 79 (GPU has fallen off the bus)");
  assert_int_equal(nv_apply_xid(&r, NULL), 0);
}

/* The catalog as the exchange ships it (schema/002_accelerators.sql), in part. */
static const nv_model catalog[] = {
    {"H100-SXM", "H100", "SXM", "NVIDIA", 80},
    {"H100-PCIe", "H100", "PCIe", "NVIDIA", 80},
    {"H200-SXM", "H200", "SXM", "NVIDIA", 141},
    {"A100-80GB-SXM", "A100-80GB", "SXM", "NVIDIA", 80},
    {"A100-80GB-PCIe", "A100-80GB", "PCIe", "NVIDIA", 80},
    {"A100-40GB-SXM4", "A100-40GB", "SXM4", "NVIDIA", 40},
    {"A100-40GB-PCIe", "A100-40GB", "PCIe", "NVIDIA", 40},
    {"H800-SXM", "H800", "SXM", "NVIDIA", 80},
    {"L40S-PCIe", "L40S", "PCIe", "NVIDIA", 48},
    {"L4-PCIe", "L4", "PCIe", "NVIDIA", 24},
    {"T4-PCIe", "T4", "PCIe", "NVIDIA", 16},
    {"V100-SXM2", "V100", "SXM2", "NVIDIA", 32},
    {"V100-PCIe", "V100", "PCIe", "NVIDIA", 32},
    {"MI300X", "MI300X", "", "AMD", 192},
    {"TPU-v6e", "TPU v6e", "", "Google", 0},
};
#define NCAT (sizeof catalog / sizeof catalog[0])

static void test_catalog_match(void **state) {
  (void)state;
  nv_report r;
  char err[256], why[200];
  assert_true(nv_parse(fixture, fixture_len, &r, err, sizeof err));
  assert_string_equal(nv_match(&r.gpus[0], catalog, NCAT, why, sizeof why), "H100-SXM");
  static const struct {
    const char *product;
    int64_t mib;
    const char *want; /* NULL: unknown */
  } cases[] = {
      {"NVIDIA H100 PCIe", 81559, "H100-PCIe"},
      {"NVIDIA H200", 143771, "H200-SXM"},
      {"NVIDIA A100-SXM4-80GB", 81920, "A100-80GB-SXM"},
      {"NVIDIA A100-SXM4-40GB", 40960, "A100-40GB-SXM4"},
      {"NVIDIA A100 80GB PCIe", 81920, "A100-80GB-PCIe"},
      {"NVIDIA A100-PCIE-40GB", 40960, "A100-40GB-PCIe"},
      {"NVIDIA L40S", 46068, "L40S-PCIe"},
      {"NVIDIA L4", 23034, "L4-PCIe"},
      {"Tesla T4", 15360, "T4-PCIe"},
      {"Tesla V100-SXM2-32GB", 32768, "V100-SXM2"},
      {"Tesla V100-PCIE-16GB", 16384, NULL}, /* the 16 GB V100 is not in this catalog */
      {"NVIDIA H100 NVL", 95830, NULL},      /* 94 GB: not an 80 GB H100 */
      {"NVIDIA GeForce RTX 4090", 24564, NULL},
      {"NVIDIA GH200 480GB", 97871, NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nv_gpu g = r.gpus[0];
    snprintf(g.product, sizeof g.product, "%s", cases[i].product);
    g.memory_mib = cases[i].mib;
    const char *got = nv_match(&g, catalog, NCAT, why, sizeof why);
    if (cases[i].want ? !got || strcmp(got, cases[i].want) != 0 : got != NULL)
      fail_msg("%s (%lld MiB): got %s, expected %s (%s)", cases[i].product, (long long)cases[i].mib,
               got ? got : "none", cases[i].want ? cases[i].want : "none", why);
    if (!got && !strstr(why, "not in the catalog")) fail_msg("%s: why '%s'", cases[i].product, why);
  }
}

/* What suanli-agent proposes to the registry for a GPU the catalog lacks. */
static void test_proposal(void **state) {
  (void)state;
  nv_gpu g = {.memory_mib = 11264};
  snprintf(g.product, sizeof g.product, "NVIDIA GeForce GTX 1080 Ti");
  char model[64], id[64];
  assert_int_equal(nv_proposal(&g, model, sizeof model, id, sizeof id), 11);
  assert_string_equal(model, "GTX 1080 Ti");
  assert_string_equal(id, "GTX-1080-Ti");
  snprintf(g.product, sizeof g.product, "Tesla V100-PCIE-16GB");
  g.memory_mib = 16384;
  assert_int_equal(nv_proposal(&g, model, sizeof model, id, sizeof id), 16);
  assert_string_equal(model, "V100-PCIE-16GB");
  assert_string_equal(id, "V100-PCIE-16GB");
  snprintf(g.product, sizeof g.product, "NVIDIA RTX (x/y) 5000+");
  assert_int_equal(nv_proposal(&g, model, sizeof model, id, sizeof id), 16);
  assert_string_equal(id, "RTX-xy-5000"); /* only letters, digits, '.', '_', '-' */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture),   cmocka_unit_test(test_every_truncation),
      cmocka_unit_test(test_malformed), cmocka_unit_test(test_entities),
      cmocka_unit_test(test_two_gpus),  cmocka_unit_test(test_health),
      cmocka_unit_test(test_xid),       cmocka_unit_test(test_catalog_match),
      cmocka_unit_test(test_proposal),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
