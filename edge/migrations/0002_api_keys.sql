-- API keys. A key is a record (scopes, models, lifetime) and one or more secrets: the current one and, during a
-- rotation's grace period, the one it replaced. A secret is stored only as its SHA-256 (hex) and its first
-- characters (`start`, for display); it is shown once, when it is created.
CREATE TABLE api_keys (
  id          TEXT PRIMARY KEY,                 -- key_<16 hex>
  tenant_id   TEXT NOT NULL REFERENCES tenants (id),
  name        TEXT NOT NULL,
  scopes      TEXT NOT NULL,                    -- JSON array: infer, reviewer, tenant_admin, admin
  models      TEXT,                             -- JSON array narrower than the tenant's, or NULL (the tenant's)
  version     INTEGER NOT NULL DEFAULT 1,       -- bumped on every change: the key's revocation epoch
  created_at  INTEGER NOT NULL,
  updated_at  INTEGER NOT NULL,
  expires_at  INTEGER,
  disabled_at INTEGER,
  revoked_at  INTEGER
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id, id);

CREATE TABLE key_secrets (
  hash        TEXT PRIMARY KEY,                 -- sha256 hex of the secret: the lookup is by hash, never a scan
  key_id      TEXT NOT NULL REFERENCES api_keys (id),
  start       TEXT NOT NULL,
  created_at  INTEGER NOT NULL,
  expires_at  INTEGER                           -- a rotated-out secret's end of grace
);
CREATE INDEX key_secrets_key ON key_secrets (key_id, created_at);
