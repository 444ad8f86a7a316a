/* capacity.h — the market's measurement standard: normalized compute units. Pure.
 *
 * Every accelerator model gets a score in normalized compute units (NCU), relative to a
 * reference model (by default NVIDIA H100 SXM = 1.000 NCU):
 *
 *   score = (w_c * T/T_ref + w_m * B/B_ref) / (w_c + w_m)
 *
 * where T is dense BF16 TFLOPS (dense FP16 when BF16 is not published), B is memory
 * bandwidth in GB/s, and w_c, w_m are the admin-set weights in basis points.  Scores are
 * kept as integer thousandths (milli-NCU), rounded half up.
 *
 * Missing figures are never treated as zero:
 *   - T and B known:          rating "rated", score as above.
 *   - T known, B unknown:     rating "compute_only", score = T/T_ref (bandwidth term
 *                             dropped, marked so buyers know it is an estimate).
 *   - T unknown:              rating "unrated", no score; the model cannot satisfy a
 *                             minimum-NCU requirement and has no per-NCU price.
 */
#ifndef SUANLI_CAPACITY_H
#define SUANLI_CAPACITY_H
#include <stdbool.h>
#include <stdint.h>

typedef struct sl_capacity_weights {
  int32_t compute_bp;   /* weight of the TFLOPS term, basis points, 0..10000 */
  int32_t memory_bp;    /* weight of the bandwidth term, basis points, 0..10000 */
  double ref_tflops;    /* reference model's dense TFLOPS (> 0) */
  double ref_bandwidth; /* reference model's bandwidth, GB/s (> 0) */
} sl_capacity_weights;

typedef struct sl_capacity_specs {
  double bf16_tflops; /* < 0 when unknown */
  double fp16_tflops; /* < 0 when unknown */
  double bandwidth;   /* GB/s, < 0 when unknown */
} sl_capacity_specs;

typedef enum { SL_RATING_RATED, SL_RATING_COMPUTE_ONLY, SL_RATING_UNRATED } sl_rating;

/* True when weights are usable: each in 0..10000, sum in 1..10000, references > 0. */
bool sl_capacity_weights_valid(const sl_capacity_weights *w);

/* Score one model.  Returns its rating; *score_milli is set for rated and compute_only
 * models and left untouched for unrated ones.  Weights must be valid. */
sl_rating sl_capacity_score(const sl_capacity_weights *w, const sl_capacity_specs *s,
                            int64_t *score_milli);

const char *sl_rating_name(sl_rating r);

/* The formula above as one line of text, returned by GET /v1/capacity/formula. */
extern const char sl_capacity_formula_text[];

#endif
