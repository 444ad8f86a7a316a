/* capacity.c — normalized compute units; see capacity.h for the formula. */
#include "suanli/core/capacity.h"
#include "suanli/core/vocab.h"
#include <math.h>

const char sl_capacity_formula_text[] =
    "score_ncu = (compute_weight_bp * T / T_ref + memory_weight_bp * B / B_ref) / "
    "(compute_weight_bp + memory_weight_bp); T = dense BF16 TFLOPS (dense FP16 when BF16 is "
    "unpublished), B = memory bandwidth GB/s, *_ref = the reference model's figures; "
    "rounded half up to 0.001 NCU. Bandwidth unknown: rating compute_only, score = T / T_ref. "
    "TFLOPS unknown: rating unrated, no score.";

bool sl_capacity_weights_valid(const sl_capacity_weights *w) {
  if (!w) return false;
  if (w->compute_bp < 0 || w->compute_bp > 10000 || w->memory_bp < 0 || w->memory_bp > 10000)
    return false;
  int32_t sum = w->compute_bp + w->memory_bp;
  if (sum < 1 || sum > 10000) return false;
  return isfinite(w->ref_tflops) && isfinite(w->ref_bandwidth) && w->ref_tflops > 0 &&
         w->ref_bandwidth > 0;
}

/* Thousandths, rounded half up, clamped to [0, 10^15] so absurd figures never overflow. */
static int64_t to_milli(double x) {
  double m = floor(x * 1000.0 + 0.5);
  if (!(m > 0)) return 0;
  if (m > 1e15) return INT64_C(1000000000000000);
  return (int64_t)m;
}

sl_rating sl_capacity_score(const sl_capacity_weights *w, const sl_capacity_specs *s,
                            int64_t *score_milli) {
  double t = s->bf16_tflops >= 0 ? s->bf16_tflops : s->fp16_tflops;
  if (!(t >= 0) || !isfinite(t)) return SL_RATING_UNRATED;
  double tr = t / w->ref_tflops;
  if (!(s->bandwidth >= 0) || !isfinite(s->bandwidth)) {
    *score_milli = to_milli(tr);
    return SL_RATING_COMPUTE_ONLY;
  }
  double br = s->bandwidth / w->ref_bandwidth;
  double score = ((double)w->compute_bp * tr + (double)w->memory_bp * br) /
                 (double)(w->compute_bp + w->memory_bp);
  *score_milli = to_milli(score);
  return SL_RATING_RATED;
}

/* ACCELERATOR_RATING of api/vocab.def, in the order of sl_rating (tests/unit/test_vocab.c). */
const char *sl_rating_name(sl_rating r) {
  if ((unsigned)r > SL_RATING_UNRATED) r = SL_RATING_UNRATED;
  return sl_vocab_name(sl_vocab_first(SL_VD_ACCELERATOR_RATING) + (int)r);
}
