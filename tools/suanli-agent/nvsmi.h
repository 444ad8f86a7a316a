/* nvsmi.h — what suanli-agent learns from `nvidia-smi -q -x` (nvsmi.c).  Pure: no I/O.
 *
 * nv_parse() reads the XML with a small strict parser (well-formed XML 1.0 as nvidia-smi
 * writes it: an XML declaration, a DOCTYPE without an internal subset, elements, attributes,
 * character data with the predefined and numeric entities, comments, CDATA; no mixed content)
 * and takes, per <gpu>: the product name, bus id, UUID, memory, utilization, ECC error
 * counts, retired pages, row remapping, the pending recovery action and the fabric health.
 * Malformed or truncated output is an error naming the line; so is a document whose
 * <attached_gpus> disagrees with the number of <gpu> elements (output cut short between
 * GPUs), and a GPU without a product name or memory size.  nv_judge() decides whether a GPU
 * is healthy (and why not); nv_apply_xid() adds critical XID errors from the kernel log;
 * nv_match() maps a GPU to the exchange's accelerator catalog. */
#ifndef SUANLI_AGENT_NVSMI_H
#define SUANLI_AGENT_NVSMI_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NV_MAX_GPUS 64
#define NV_UNKNOWN  (-1) /* a figure nvidia-smi reports as N/A */

typedef struct nv_gpu {
  char bus_id[32], uuid[64], product[96], architecture[32];
  int64_t memory_mib;                 /* fb_memory_usage/total */
  int util_pct;                       /* utilization/gpu_util, or NV_UNKNOWN */
  int64_t ecc_volatile_uncorrectable; /* since the last driver reload; NV_UNKNOWN: ECC off */
  int64_t ecc_volatile_correctable;
  int64_t ecc_aggregate_uncorrectable; /* over the GPU's life */
  int64_t retired_pages;               /* single + double bit retirements, or NV_UNKNOWN */
  bool retirement_pending;             /* a retired page waits for a reset */
  int64_t remapped_rows_unc;           /* rows remapped for uncorrectable errors, or NV_UNKNOWN */
  bool remap_pending, remap_failure;
  char recovery_action[40]; /* gpu_recovery_action ("None", "GPU Reset", ...) */
  char fabric_health[40];   /* fabric/health/summary ("N/A", "Healthy", ...) */
  int xid;                  /* the last critical XID seen for it, 0 when none */
  bool healthy;             /* set by nv_judge() */
  char why[200];            /* why not healthy */
} nv_gpu;

typedef struct nv_report {
  char driver[32], cuda[16];
  int count;
  nv_gpu gpus[NV_MAX_GPUS];
} nv_report;

/* Parse the output of `nvidia-smi -q -x` (len bytes, need not be NUL-terminated) into out and
 * judge every GPU (nv_judge).  false with an English reason ("line 12: ...") in err. */
bool nv_parse(const char *xml, size_t len, nv_report *out, char *err, size_t errlen);

/* Decide g->healthy and g->why from its counters: uncorrectable ECC errors since the last
 * reset, a pending or failed row remap, a pending page retirement, 60 or more retired pages,
 * a pending recovery action, an unhealthy fabric, a critical XID. */
void nv_judge(nv_gpu *g);

/* Read kernel log lines ("NVRM: Xid (PCI:0000:00:06): 79, pid=..., ...") and mark each GPU of
 * r (by bus) that shows a critical XID (48, 63, 64, 74, 79, 92, 94, 95, 119, 120, 140), then
 * judge it again.  Returns the number of critical XID lines that named a known GPU. */
int nv_apply_xid(nv_report *r, const char *log);

/* The healthy GPUs of r, and their mean utilization in basis points (NV_UNKNOWN figures left
 * out; 0 when none is known). */
int nv_healthy(const nv_report *r);
int nv_utilization_bp(const nv_report *r);

/* One model of the exchange's accelerator catalog (GET /v1/accelerators). */
typedef struct nv_model {
  const char *id, *model, *variant, *vendor;
  int memory_gb; /* 0 when the catalog does not say */
} nv_model;

/* The catalog id that g is: an NVIDIA model whose every name token (the model split on ' '
 * and '-', sizes like "80GB" left out) is a token of the product name, whose memory is within
 * max(3 GB, 10 %) of g's, and whose variant agrees with the product's form factor (PCIe, NVL,
 * SXM; SXM when the name says none, as nvidia-smi names SXM boards by their memory type).
 * NULL when none or several fit, with the reason in why. */
const char *nv_match(const nv_gpu *g, const nv_model *cat, size_t n, char *why, size_t whylen);

/* What to propose to the exchange's accelerator registry for a GPU no catalog model fits: the
 * model name (the product name without "NVIDIA", "GeForce" and "Tesla": "GTX 1080 Ti") in
 * model, an id made of its words joined by '-' ("GTX-1080-Ti", letters, digits, '.', '_', '-'
 * only) in id, and the memory in whole GB (rounded) as the return value. */
int nv_proposal(const nv_gpu *g, char *model, size_t mlen, char *id, size_t idlen);

#endif
