-- Tenants: who pays, what they may call and where their data may go. Times are ms since the epoch (UTC).
-- `version` is bumped on every change: the value of the tenant's revocation epoch in Upstash (edge/src/tenants/).
CREATE TABLE tenants (
  id          TEXT PRIMARY KEY,                 -- ten_<16 hex>
  name        TEXT NOT NULL,
  tier        TEXT NOT NULL,                    -- a RATE_LIMIT_TIERS name: rate limits, priority, job rows
  models      TEXT NOT NULL DEFAULT '["*"]',    -- JSON array of model names; ["*"] = all
  regions     TEXT NOT NULL DEFAULT '["*"]',    -- JSON array of origin regions; ["*"] = any
  quotas      TEXT NOT NULL DEFAULT '{}',       -- JSON {items_per_day?, items_per_month?}
  version     INTEGER NOT NULL DEFAULT 1,
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  disabled_at INTEGER
);
CREATE INDEX tenants_created ON tenants (created_at, id);
