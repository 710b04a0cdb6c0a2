-- Every change to tenants and keys: who (the acting key), when, what; never a secret.
CREATE TABLE audit_log (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  at           INTEGER NOT NULL,
  actor        TEXT NOT NULL,                   -- the acting key's id
  actor_tenant TEXT,
  tenant_id    TEXT,                            -- whose resource changed
  action       TEXT NOT NULL,                   -- tenant.create, key.rotate...
  target       TEXT NOT NULL,                   -- the resource's id
  detail       TEXT NOT NULL DEFAULT '{}',      -- JSON: the fields that changed (values, never a secret)
  request_id   TEXT
);
CREATE INDEX audit_tenant ON audit_log (tenant_id, id);
