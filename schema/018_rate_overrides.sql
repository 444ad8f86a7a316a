-- 018_rate_overrides: an admin's per-account request rate (issue 16).
--
-- Every token's request budget is a token bucket whose rate comes from its account's kind
-- (SUANLI_RATE_<KIND> in each process, src/http/limits.c).  A row here overrides that rate
-- for one account: each of its tokens gets `per_second_milli / 1000` tokens a second up to
-- `burst` (a heavy, trusted integration gets more; a misbehaving one gets less).  No row =
-- the kind's default.  `PUT /v1/accounts/{id}/limits` writes it (admin; audited as
-- `account.limits.set`); the token lookup that authenticates a request reads it, so a
-- change applies in each process when its authentication cache entry for the token expires
-- (SUANLI_AUTH_CACHE_MS, default 1 s) and at once in the process that made it.
CREATE TABLE account_rate_limits (
  account_id        bigint PRIMARY KEY REFERENCES accounts(id),
  per_second_milli  bigint NOT NULL CHECK (per_second_milli BETWEEN 1 AND 100000000),
  burst             integer NOT NULL CHECK (burst BETWEEN 1 AND 100000),
  updated_at        timestamptz NOT NULL DEFAULT sl_now(),
  updated_by        bigint REFERENCES accounts(id)
);
