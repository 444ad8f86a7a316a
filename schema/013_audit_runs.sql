-- 013_audit_runs.sql — every run of `suanlid audit` leaves its result here, so that operators
-- see when the ledger was last checked and what was found (the dashboard's ledger view,
-- GET /v1/ledger/audit).  Written after the audit's read-only snapshot, in its own
-- transaction; the findings themselves go to the auditor's output.
CREATE TABLE audit_runs (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL DEFAULT now(),
  findings    bigint NOT NULL CHECK (findings >= 0),
  by_check    jsonb NOT NULL DEFAULT '{}',   -- {"check name": count} of the findings
  tree_size   bigint,                        -- the latest checkpoint's size when it finished
  CHECK (finished_at >= started_at)
);
