/* clearing.c — the call auction's assignment solver: a two-phase binary ILP solved with GLPK,
 * with a greedy fallback when the time limit hits (contract in
 * include/suanli/market/clearing.h; rules in src/market/README.md, "Periodic clearing"). */
#include "suanli/market/clearing.h"
#include <glpk.h>
#include <stdlib.h>
#include <string.h>

/* Sums of the objective stay below 2^53 so that GLPK's doubles hold them exactly. */
#define EXACT_LIMIT (INT64_C(1) << 53)

const char *sl_clearing_method_name(sl_clearing_method m) {
  switch (m) {
  case SL_CLEARING_OPTIMAL: return "optimal";
  case SL_CLEARING_VALUE_OPTIMAL: return "value_optimal";
  case SL_CLEARING_GREEDY: return "greedy";
  }
  return "unknown";
}

void sl_clearing_result_free(sl_clearing_result *r) {
  if (!r) return;
  free(r->chosen);
  memset(r, 0, sizeof *r);
}

static int32_t free_at(const sl_clearing_problem *p, size_t pool, size_t t) {
  int32_t f = p->free[pool][t];
  return f < 0 ? 0 : f;
}

/* The weighted GPU-hours of option j (the caller checked that it fits int64). */
static int64_t opt_value(const sl_clearing_problem *p, const sl_clearing_option *o) {
  const sl_clearing_order *ord = &p->orders[o->order];
  return ord->weight * o->gpus * ord->duration_slots;
}

/* Whether option o lies inside the grid and fits the free GPUs on its own. */
static bool fits_alone(const sl_clearing_problem *p, const sl_clearing_option *o) {
  size_t d = (size_t)p->orders[o->order].duration_slots;
  if (o->start > p->nslots || d > p->nslots - o->start) return false;
  for (size_t t = o->start; t < o->start + d; t++)
    if (free_at(p, o->pool, t) < o->gpus) return false;
  return true;
}

static bool args_valid(const sl_clearing_problem *p) {
  if (!p || (p->norders && !p->orders) || (p->npools && !p->free) || (p->noptions && !p->options))
    return false;
  if (p->forced != SIZE_MAX && p->forced >= p->norders) return false;
  for (size_t i = 0; i < p->npools; i++)
    if (p->nslots && !p->free[i]) return false;
  for (size_t i = 0; i < p->norders; i++) {
    const sl_clearing_order *o = &p->orders[i];
    if (o->duration_slots < 1 || o->weight < 1 || o->weight > 1000000) return false;
  }
  __int128 vsum = 0, csum = 0, lsum = 0;
  for (size_t j = 0; j < p->noptions; j++) {
    const sl_clearing_option *o = &p->options[j];
    if (o->order >= p->norders || o->pool >= p->npools || o->gpus < 1 || o->cost_minor < 0 ||
        o->latency_us < 0 || o->extra_minor < 0)
      return false;
    const sl_clearing_order *ord = &p->orders[o->order];
    vsum += (__int128)ord->weight * o->gpus * ord->duration_slots;
    csum += (__int128)o->cost_minor + o->extra_minor;
    lsum += o->latency_us;
    if (vsum >= EXACT_LIMIT || csum >= EXACT_LIMIT || lsum >= EXACT_LIMIT) return false;
  }
  return true;
}

bool sl_clearing_check(const sl_clearing_problem *p, const size_t *chosen, int64_t *value,
                       int64_t *gpu_hours, int64_t *cost) {
  if (!args_valid(p) || !chosen) return false;
  int64_t v = 0, gh = 0, c = 0;
  int32_t *used = calloc(p->npools * p->nslots + 1, sizeof *used);
  bool ok = used != NULL;
  for (size_t i = 0; ok && i < p->norders; i++) {
    if (chosen[i] == SIZE_MAX) continue;
    if (chosen[i] >= p->noptions) {
      ok = false;
      break;
    }
    const sl_clearing_option *o = &p->options[chosen[i]];
    size_t d = (size_t)p->orders[i].duration_slots;
    if (o->order != i || o->start > p->nslots || d > p->nslots - o->start) {
      ok = false;
      break;
    }
    for (size_t t = o->start; ok && t < o->start + d; t++) {
      int32_t *u = &used[o->pool * p->nslots + t];
      if ((int64_t)*u + o->gpus > free_at(p, o->pool, t)) ok = false;
      else *u += o->gpus;
    }
    v += opt_value(p, o);
    gh += (int64_t)o->gpus * (int64_t)d;
    c += o->cost_minor;
  }
  if (ok && p->forced != SIZE_MAX && chosen[p->forced] == SIZE_MAX)
    for (size_t j = 0; j < p->noptions && ok; j++)
      if (p->options[j].order == p->forced && fits_alone(p, &p->options[j])) ok = false;
  free(used);
  if (ok) {
    if (value) *value = v;
    if (gpu_hours) *gpu_hours = gh;
    if (cost) *cost = c;
  }
  return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* The greedy fallback                                                                      */

typedef struct {
  size_t order;
  int64_t key; /* largest weighted GPU-hours among its options */
  int64_t id;
  bool forced;
} gent;

static int cmp_gent(const void *pa, const void *pb) {
  const gent *a = pa, *b = pb;
  if (a->forced != b->forced) return a->forced ? -1 : 1;
  if (a->key != b->key) return a->key > b->key ? -1 : 1;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* What a phase optimises, per option j: its priority-weighted GPU-hours (phase 1), its latency
 * regret (phase 2) or its score, cost plus the objective's extra money (phase 3). */
typedef enum { M_VALUE, M_LATENCY, M_SCORE } measure;

static int64_t measure_of(const sl_clearing_problem *p, const int64_t *regret, size_t j,
                          measure m) {
  const sl_clearing_option *o = &p->options[j];
  switch (m) {
  case M_VALUE: return opt_value(p, o);
  case M_LATENCY: return regret[j];
  case M_SCORE: return o->cost_minor + o->extra_minor;
  }
  return 0;
}

/* The sum of measure m over the placed orders of chosen[] (args_valid keeps it below 2^53). */
static int64_t total(const sl_clearing_problem *p, const int64_t *regret, const size_t *chosen,
                     measure m) {
  int64_t s = 0;
  for (size_t i = 0; i < p->norders; i++)
    if (chosen[i] != SIZE_MAX) s += measure_of(p, regret, chosen[i], m);
  return s;
}

/* Per usable option: its latency_us minus the least latency_us among its order's usable
 * options (>= 0; 0 for unusable options).  false on allocation failure. */
static bool regrets(const sl_clearing_problem *p, const bool *usable, int64_t *regret) {
  int64_t *least = malloc((p->norders + 1) * sizeof *least);
  if (!least) return false;
  for (size_t i = 0; i < p->norders; i++) least[i] = INT64_MAX;
  for (size_t j = 0; j < p->noptions; j++) {
    const sl_clearing_option *o = &p->options[j];
    if (usable[j] && o->latency_us < least[o->order]) least[o->order] = o->latency_us;
  }
  for (size_t j = 0; j < p->noptions; j++)
    regret[j] = usable[j] ? p->options[j].latency_us - least[p->options[j].order] : 0;
  free(least);
  return true;
}

/* Greedy: forced order first, then by weighted GPU-hours (larger first), then id; each order
 * takes its option of least latency regret, then least score (then the lowest index), that
 * still fits.  chosen[] is filled. */
static bool greedy(const sl_clearing_problem *p, const bool *usable, const int64_t *regret,
                   size_t *chosen) {
  gent *ord = calloc(p->norders + 1, sizeof *ord);
  int32_t *used = calloc(p->npools * p->nslots + 1, sizeof *used);
  if (!ord || !used) {
    free(ord);
    free(used);
    return false;
  }
  for (size_t i = 0; i < p->norders; i++) {
    ord[i] = (gent){.order = i, .key = 0, .id = p->orders[i].id, .forced = i == p->forced};
    chosen[i] = SIZE_MAX;
  }
  for (size_t j = 0; j < p->noptions; j++) {
    int64_t v = opt_value(p, &p->options[j]);
    if (usable[j] && v > ord[p->options[j].order].key) ord[p->options[j].order].key = v;
  }
  qsort(ord, p->norders, sizeof *ord, cmp_gent);
  for (size_t k = 0; k < p->norders; k++) {
    size_t i = ord[k].order, pick = SIZE_MAX;
    for (size_t j = 0; j < p->noptions; j++) {
      const sl_clearing_option *o = &p->options[j];
      if (!usable[j] || o->order != i) continue;
      if (pick != SIZE_MAX &&
          (regret[j] > regret[pick] ||
           (regret[j] == regret[pick] &&
            measure_of(p, regret, j, M_SCORE) >= measure_of(p, regret, pick, M_SCORE))))
        continue;
      bool fits = true;
      for (size_t t = o->start; fits && t < o->start + (size_t)p->orders[i].duration_slots; t++)
        fits = (int64_t)used[o->pool * p->nslots + t] + o->gpus <= free_at(p, o->pool, t);
      if (fits) pick = j;
    }
    if (pick == SIZE_MAX) continue;
    chosen[i] = pick;
    const sl_clearing_option *o = &p->options[pick];
    for (size_t t = o->start; t < o->start + (size_t)p->orders[i].duration_slots; t++)
      used[o->pool * p->nslots + t] += o->gpus;
  }
  free(ord);
  free(used);
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* The ILP                                                                                  */

typedef struct {
  int *ia, *ja;
  double *ar;
  size_t n, cap;
} triplets;

static bool trip_add(triplets *t, int row, int col, double v) {
  if (t->n + 1 >= t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 256;
    int *ia = realloc(t->ia, cap * sizeof *ia);
    if (ia) t->ia = ia;
    int *ja = realloc(t->ja, cap * sizeof *ja);
    if (ja) t->ja = ja;
    double *ar = realloc(t->ar, cap * sizeof *ar);
    if (ar) t->ar = ar;
    if (!ia || !ja || !ar) return false;
    t->cap = cap;
  }
  t->n++; /* GLPK's arrays are 1-based */
  t->ia[t->n] = row;
  t->ja[t->n] = col;
  t->ar[t->n] = v;
  return true;
}

/* A known assignment handed to GLPK as its first incumbent (x[1..ncols], 0/1). */
typedef struct {
  const double *x;
  bool given;
} start_sol;

static void give_start(glp_tree *t, void *info) {
  start_sol *s = info;
  if (glp_ios_reason(t) != GLP_IHEUR || s->given || !s->x) return;
  s->given = true;
  glp_ios_heur_sol(t, s->x);
}

/* Run GLPK's branch and cut on lp, starting from the assignment x (columns 1..n; NULL: none):
 * the LP relaxation by the simplex, then branch and cut with cuts and the feasibility pump.
 * Returns the MIP status (GLP_OPT, GLP_FEAS, GLP_NOFEAS, GLP_UNDEF) and whether the search
 * finished (optimal proven or infeasible). */
static int run_mip(glp_prob *lp, int time_limit_ms, const double *x, bool *finished) {
  glp_smcp sp;
  glp_init_smcp(&sp);
  sp.msg_lev = GLP_MSG_OFF;
  if (time_limit_ms > 0) sp.tm_lim = time_limit_ms;
  *finished = false;
  if (glp_simplex(lp, &sp) != 0 || glp_get_status(lp) != GLP_OPT) return GLP_UNDEF;
  glp_iocp parm;
  glp_init_iocp(&parm);
  parm.msg_lev = GLP_MSG_OFF;
  parm.mir_cuts = GLP_ON;
  parm.cov_cuts = GLP_ON;
  parm.clq_cuts = GLP_ON;
  parm.fp_heur = GLP_ON;
  start_sol ss = {.x = x};
  parm.cb_func = give_start;
  parm.cb_info = &ss;
  if (time_limit_ms > 0) parm.tm_lim = time_limit_ms;
  int rc = glp_intopt(lp, &parm);
  int st = glp_mip_status(lp);
  *finished = rc == 0 && (st == GLP_OPT || st == GLP_NOFEAS);
  if (rc == GLP_ENOPFS || rc == GLP_ENODFS) { /* no (primal) feasible solution */
    *finished = true;
    return GLP_NOFEAS;
  }
  return st;
}

/* Read GLPK's assignment into chosen[] (x > 0.5 is placed). */
static void read_mip(glp_prob *lp, const sl_clearing_problem *p, const int *col_of,
                     size_t *chosen) {
  for (size_t i = 0; i < p->norders; i++) chosen[i] = SIZE_MAX;
  for (size_t j = 0; j < p->noptions; j++)
    if (col_of[j] > 0 && glp_mip_col_val(lp, col_of[j]) > 0.5) chosen[p->options[j].order] = j;
}

/* Build the ILP of the contract (phase 1) into lp; col_of[j] = column of option j (0 when the
 * option is unusable). */
static bool build(glp_prob *lp, const sl_clearing_problem *p, const bool *usable, int *col_of) {
  triplets t = {0};
  bool ok = false;
  int32_t *load = calloc(p->npools * p->nslots + 1, sizeof *load);
  int *row_of = calloc(p->npools * p->nslots + 1, sizeof *row_of);
  int *order_row = calloc(p->norders + 1, sizeof *order_row);
  if (!load || !row_of || !order_row) goto cleanup;
  glp_set_obj_dir(lp, GLP_MAX);
  int ncols = 0;
  for (size_t j = 0; j < p->noptions; j++) {
    col_of[j] = 0;
    if (!usable[j]) continue;
    col_of[j] = ++ncols;
  }
  if (ncols) glp_add_cols(lp, ncols);
  for (size_t j = 0; j < p->noptions; j++) {
    if (!col_of[j]) continue;
    glp_set_col_kind(lp, col_of[j], GLP_BV);
    glp_set_obj_coef(lp, col_of[j], (double)opt_value(p, &p->options[j]));
    const sl_clearing_option *o = &p->options[j];
    for (size_t s = o->start; s < o->start + (size_t)p->orders[o->order].duration_slots; s++) {
      int32_t *l = &load[o->pool * p->nslots + s];
      *l = *l > INT32_MAX - o->gpus ? INT32_MAX : *l + o->gpus;
    }
  }
  /* one row per order with a usable option: at most one of them (the forced order: exactly) */
  for (size_t j = 0; j < p->noptions; j++) {
    if (!col_of[j]) continue;
    size_t i = p->options[j].order;
    if (!order_row[i]) {
      order_row[i] = glp_add_rows(lp, 1);
      if (i == p->forced) glp_set_row_bnds(lp, order_row[i], GLP_FX, 1.0, 1.0);
      else glp_set_row_bnds(lp, order_row[i], GLP_UP, 0.0, 1.0);
    }
    if (!trip_add(&t, order_row[i], col_of[j], 1.0)) goto cleanup;
  }
  /* one row per (pool, slot) whose possible load exceeds its free GPUs */
  for (size_t j = 0; j < p->noptions; j++) {
    if (!col_of[j]) continue;
    const sl_clearing_option *o = &p->options[j];
    for (size_t s = o->start; s < o->start + (size_t)p->orders[o->order].duration_slots; s++) {
      size_t k = o->pool * p->nslots + s;
      if (load[k] <= free_at(p, o->pool, s)) continue;
      if (!row_of[k]) {
        row_of[k] = glp_add_rows(lp, 1);
        glp_set_row_bnds(lp, row_of[k], GLP_UP, 0.0, (double)free_at(p, o->pool, s));
      }
      if (!trip_add(&t, row_of[k], col_of[j], (double)o->gpus)) goto cleanup;
    }
  }
  if (t.n) glp_load_matrix(lp, (int)t.n, t.ia, t.ja, t.ar);
  ok = true;
cleanup:
  free(t.ia);
  free(t.ja);
  free(t.ar);
  free(load);
  free(row_of);
  free(order_row);
  return ok;
}

/* The usable options' coefficients of measure m: ja[1..n], ar[1..n] (GLPK's 1-based arrays);
 * false on allocation failure. */
static bool coefs(const sl_clearing_problem *p, const int64_t *regret, const int *col_of, measure m,
                  int **ja, double **ar, int *n) {
  *ja = calloc(p->noptions + 1, sizeof **ja);
  *ar = calloc(p->noptions + 1, sizeof **ar);
  *n = 0;
  if (!*ja || !*ar) {
    free(*ja);
    free(*ar);
    return false;
  }
  for (size_t j = 0; j < p->noptions; j++) {
    if (!col_of[j]) continue;
    ++*n;
    (*ja)[*n] = col_of[j];
    (*ar)[*n] = (double)measure_of(p, regret, j, m);
  }
  return true;
}

/* Add the row "measure m >= bound" (lower) or "<= bound" (!lower) to lp; false on allocation
 * failure (lp is then unchanged). */
static bool bound_row(glp_prob *lp, const sl_clearing_problem *p, const int64_t *regret,
                      const int *col_of, measure m, bool lower, double bound) {
  int *ja, n;
  double *ar;
  if (!coefs(p, regret, col_of, m, &ja, &ar, &n)) return false;
  int row = glp_add_rows(lp, 1);
  glp_set_mat_row(lp, row, n, ja, ar);
  glp_set_row_bnds(lp, row, lower ? GLP_LO : GLP_UP, lower ? bound : 0.0, lower ? 0.0 : bound);
  free(ja);
  free(ar);
  return true;
}

/* The floors a later phase keeps: the value at least value_min, the latency regret at most
 * latency_max. */
typedef struct {
  int64_t value_min, latency_max;
} floors;

/* One later phase on lp: minimise measure m, starting from chosen[] (which meets fl); chosen[]
 * becomes GLPK's answer when that is feasible, meets fl and is no worse in m.  Returns false
 * on allocation failure; *finished whether the phase was proven optimal. */
static bool min_phase(glp_prob *lp, const sl_clearing_problem *p, const int64_t *regret,
                      const int *col_of, measure m, const floors *fl, size_t *chosen, size_t *alt,
                      double *xs, bool *finished) {
  int *ja, n;
  double *ar;
  if (!coefs(p, regret, col_of, m, &ja, &ar, &n)) return false;
  for (int k = 1; k <= glp_get_num_cols(lp); k++) glp_set_obj_coef(lp, k, 0.0);
  for (int k = 1; k <= n; k++) glp_set_obj_coef(lp, ja[k], ar[k]);
  glp_set_obj_dir(lp, GLP_MIN);
  free(ja);
  free(ar);
  memset(xs, 0, (p->noptions + 2) * sizeof *xs); /* the previous answer starts this phase */
  for (size_t i = 0; i < p->norders; i++)
    if (chosen[i] != SIZE_MAX) xs[col_of[chosen[i]]] = 1.0;
  bool done;
  int st = run_mip(lp, p->time_limit_ms, xs, &done);
  *finished = done && st == GLP_OPT;
  if (st != GLP_OPT && st != GLP_FEAS) return true;
  read_mip(lp, p, col_of, alt);
  int64_t v = 0;
  if (sl_clearing_check(p, alt, &v, NULL, NULL) && v >= fl->value_min &&
      total(p, regret, alt, M_LATENCY) <= fl->latency_max &&
      total(p, regret, alt, m) <= total(p, regret, chosen, m))
    memcpy(chosen, alt, p->norders * sizeof *chosen);
  return true;
}

/* One exact solve of p (the contract's three phases; p->chunk_orders is not looked at). */
static bool solve_one(const sl_clearing_problem *p, sl_clearing_result *out) {
  memset(out, 0, sizeof *out);
  bool *usable = calloc(p->noptions + 1, sizeof *usable);
  int *col_of = calloc(p->noptions + 1, sizeof *col_of);
  int64_t *regret = calloc(p->noptions + 1, sizeof *regret);
  size_t *chosen = calloc(p->norders + 1, sizeof *chosen);
  size_t *alt = calloc(p->norders + 1, sizeof *alt);
  glp_prob *lp = NULL;
  double *xs = NULL;
  bool ok = false, any = false;
  if (!usable || !col_of || !regret || !chosen || !alt) goto cleanup;
  for (size_t j = 0; j < p->noptions; j++) any |= usable[j] = fits_alone(p, &p->options[j]);
  if (!regrets(p, usable, regret)) goto cleanup;
  for (size_t i = 0; i < p->norders; i++) chosen[i] = SIZE_MAX;
  out->method = SL_CLEARING_OPTIMAL;
  if (any) {
    glp_term_out(GLP_OFF); /* no terminal output, whatever msg_lev a cut generator uses */
    lp = glp_create_prob();
    if (!build(lp, p, usable, col_of)) goto cleanup;
    /* the greedy assignment is GLPK's first incumbent (and the fallback) */
    if (!greedy(p, usable, regret, chosen)) goto cleanup;
    xs = calloc(p->noptions + 2, sizeof *xs);
    if (!xs) goto cleanup;
    for (size_t i = 0; i < p->norders; i++)
      if (chosen[i] != SIZE_MAX) xs[col_of[chosen[i]]] = 1.0;
    bool done;
    int st = run_mip(lp, p->time_limit_ms, xs, &done);
    if (!done || st != GLP_OPT) {
      /* time limit (or trouble): the greedy fallback, or GLPK's incumbent when better */
      if (!greedy(p, usable, regret, chosen)) goto cleanup;
      out->method = SL_CLEARING_GREEDY;
      int64_t vg = 0, vi = 0;
      if (st == GLP_FEAS || st == GLP_OPT) {
        read_mip(lp, p, col_of, alt);
        if (sl_clearing_check(p, chosen, &vg, NULL, NULL) &&
            sl_clearing_check(p, alt, &vi, NULL, NULL) && vi > vg)
          memcpy(chosen, alt, p->norders * sizeof *chosen);
      }
    } else {
      read_mip(lp, p, col_of, chosen);
      floors fl = {.latency_max = INT64_MAX};
      if (!sl_clearing_check(p, chosen, &fl.value_min, NULL, NULL)) { /* numerically off */
        if (!greedy(p, usable, regret, chosen)) goto cleanup;
        out->method = SL_CLEARING_GREEDY;
      } else {
        /* phase 2 (when any latency regret exists), then phase 3, each keeping the optima of
         * the phases before it (values are integers: a margin of 1/2 is exact) */
        if (!bound_row(lp, p, regret, col_of, M_VALUE, true, (double)fl.value_min - 0.5))
          goto cleanup;
        bool lat = false;
        for (size_t j = 0; j < p->noptions && !lat; j++) lat = regret[j] > 0;
        if (lat) {
          if (!min_phase(lp, p, regret, col_of, M_LATENCY, &fl, chosen, alt, xs, &done))
            goto cleanup;
          if (!done) out->method = SL_CLEARING_VALUE_OPTIMAL;
          fl.latency_max = total(p, regret, chosen, M_LATENCY);
          if (!bound_row(lp, p, regret, col_of, M_LATENCY, false, (double)fl.latency_max + 0.5))
            goto cleanup;
        }
        if (!min_phase(lp, p, regret, col_of, M_SCORE, &fl, chosen, alt, xs, &done)) goto cleanup;
        if (!done) out->method = SL_CLEARING_VALUE_OPTIMAL;
      }
    }
  }
  if (!sl_clearing_check(p, chosen, &out->value, &out->gpu_hours, &out->cost)) goto cleanup;
  out->latency = total(p, regret, chosen, M_LATENCY);
  out->score = total(p, regret, chosen, M_SCORE);
  for (size_t i = 0; i < p->norders; i++) out->nplaced += chosen[i] != SIZE_MAX;
  out->chosen = chosen;
  chosen = NULL;
  ok = true;
cleanup:
  if (lp) glp_delete_prob(lp);
  if (any) glp_free_env(); /* GLPK's per-thread environment: nothing outlives the call */
  free(usable);
  free(col_of);
  free(regret);
  free(chosen);
  free(alt);
  free(xs);
  if (!ok) sl_clearing_result_free(out);
  return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Chunks: large batches are solved exactly in slices of the oldest orders first            */

static int cmp_age(const void *pa, const void *pb) {
  const gent *a = pa, *b = pb; /* key unused: forced first, then id, then index */
  if (a->forced != b->forced) return a->forced ? -1 : 1;
  if (a->id != b->id) return a->id < b->id ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

/* The worse of two methods (GREEDY worst, then VALUE_OPTIMAL). */
static sl_clearing_method worse(sl_clearing_method a, sl_clearing_method b) {
  if (a == SL_CLEARING_GREEDY || b == SL_CLEARING_GREEDY) return SL_CLEARING_GREEDY;
  if (a == SL_CLEARING_VALUE_OPTIMAL || b == SL_CLEARING_VALUE_OPTIMAL)
    return SL_CLEARING_VALUE_OPTIMAL;
  return SL_CLEARING_OPTIMAL;
}

typedef struct {
  gent *age;                 /* the orders, oldest first */
  size_t *sub_of;            /* order -> index in the current chunk, SIZE_MAX when outside */
  size_t *opt_of;            /* sub-problem option -> option of p */
  sl_clearing_order *orders; /* the chunk's orders */
  sl_clearing_option *opts;  /* the chunk's options */
  int32_t *freebuf;          /* npools * nslots: what earlier chunks left free */
  const int32_t **free;
  size_t *chosen;
} chunks;

static void chunks_free(chunks *c) {
  free(c->age);
  free(c->sub_of);
  free(c->opt_of);
  free(c->orders);
  free(c->opts);
  free(c->freebuf);
  free(c->free);
  free(c->chosen);
}

/* Solve p in chunks of p->chunk_orders orders, oldest first: each chunk exactly (solve_one)
 * over the capacity the chunks before it left. */
static bool solve_chunked(const sl_clearing_problem *p, sl_clearing_result *out) {
  chunks c = {0};
  bool ok = false;
  size_t ns = p->nslots, np = p->npools;
  c.age = calloc(p->norders + 1, sizeof *c.age);
  c.sub_of = calloc(p->norders + 1, sizeof *c.sub_of);
  c.opt_of = calloc(p->noptions + 1, sizeof *c.opt_of);
  c.orders = calloc(p->chunk_orders + 1, sizeof *c.orders);
  c.opts = calloc(p->noptions + 1, sizeof *c.opts);
  c.freebuf = calloc(np * ns + 1, sizeof *c.freebuf);
  c.free = calloc(np + 1, sizeof *c.free);
  c.chosen = calloc(p->norders + 1, sizeof *c.chosen);
  if (!c.age || !c.sub_of || !c.opt_of || !c.orders || !c.opts || !c.freebuf || !c.free ||
      !c.chosen)
    goto cleanup;
  for (size_t k = 0; k < np; k++) {
    c.free[k] = &c.freebuf[k * ns];
    for (size_t t = 0; t < ns; t++) c.freebuf[k * ns + t] = free_at(p, k, t);
  }
  for (size_t i = 0; i < p->norders; i++) {
    c.age[i] = (gent){.order = i, .id = p->orders[i].id, .forced = i == p->forced};
    c.sub_of[i] = SIZE_MAX;
    c.chosen[i] = SIZE_MAX;
  }
  qsort(c.age, p->norders, sizeof *c.age, cmp_age);
  sl_clearing_method method = SL_CLEARING_OPTIMAL;
  for (size_t c0 = 0; c0 < p->norders; c0 += p->chunk_orders) {
    size_t n = p->norders - c0 < p->chunk_orders ? p->norders - c0 : p->chunk_orders, nopt = 0;
    sl_clearing_problem sub = {.orders = c.orders,
                               .norders = n,
                               .free = c.free,
                               .npools = np,
                               .nslots = ns,
                               .options = c.opts,
                               .forced = SIZE_MAX,
                               .time_limit_ms = p->time_limit_ms};
    for (size_t k = 0; k < n; k++) {
      size_t i = c.age[c0 + k].order;
      c.sub_of[i] = k;
      c.orders[k] = p->orders[i];
      if (i == p->forced) sub.forced = k;
    }
    for (size_t j = 0; j < p->noptions; j++) {
      size_t k = c.sub_of[p->options[j].order];
      if (k == SIZE_MAX) continue;
      c.opts[nopt] = p->options[j];
      c.opts[nopt].order = k;
      c.opt_of[nopt++] = j;
    }
    sub.noptions = nopt;
    sl_clearing_result r;
    if (!solve_one(&sub, &r)) goto cleanup;
    method = worse(method, r.method);
    for (size_t k = 0; k < n; k++) {
      size_t i = c.age[c0 + k].order;
      c.sub_of[i] = SIZE_MAX;
      if (r.chosen[k] == SIZE_MAX) continue;
      const sl_clearing_option *o = &c.opts[r.chosen[k]];
      c.chosen[i] = c.opt_of[r.chosen[k]];
      for (size_t t = o->start; t < o->start + (size_t)p->orders[i].duration_slots; t++)
        c.freebuf[o->pool * ns + t] -= o->gpus;
    }
    sl_clearing_result_free(&r);
  }
  /* the whole assignment, re-checked against p itself */
  bool *usable = calloc(p->noptions + 1, sizeof *usable);
  int64_t *regret = calloc(p->noptions + 1, sizeof *regret);
  if (usable && regret) {
    for (size_t j = 0; j < p->noptions; j++) usable[j] = fits_alone(p, &p->options[j]);
    if (regrets(p, usable, regret) &&
        sl_clearing_check(p, c.chosen, &out->value, &out->gpu_hours, &out->cost)) {
      out->latency = total(p, regret, c.chosen, M_LATENCY);
      out->score = total(p, regret, c.chosen, M_SCORE);
      for (size_t i = 0; i < p->norders; i++) out->nplaced += c.chosen[i] != SIZE_MAX;
      out->method = method;
      out->chosen = c.chosen;
      c.chosen = NULL;
      ok = true;
    }
  }
  free(usable);
  free(regret);
cleanup:
  chunks_free(&c);
  if (!ok) sl_clearing_result_free(out);
  return ok;
}

bool sl_clearing_solve(const sl_clearing_problem *p, sl_clearing_result *out) {
  memset(out, 0, sizeof *out);
  if (!args_valid(p)) return false;
  if (p->chunk_orders == 0 || p->norders <= p->chunk_orders) return solve_one(p, out);
  return solve_chunked(p, out);
}
