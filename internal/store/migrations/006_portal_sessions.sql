-- A portal session survives a worker restart: the cookies of the last good login of each account, sealed
-- with the vault key like the password (AES-256-GCM, the account and column authenticated), so a new worker
-- process reuses the session instead of logging in (and spending a TOTP step) again. Only browser workers
-- hold the key that opens it.
CREATE TABLE portal_sessions (
    account_id  text PRIMARY KEY REFERENCES portal_accounts(id) ON DELETE CASCADE,
    cookies_enc bytea       NOT NULL,
    saved_at    timestamptz NOT NULL DEFAULT now()
);
