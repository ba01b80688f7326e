-- A portal that refused an account's password or code counts every further try toward locking the account.
-- Portico remembers the refusal here, for every worker process, until the credentials are updated
-- (updated_at moves past login_refused_at). No secret or hash of one is stored.
ALTER TABLE portal_accounts
    ADD COLUMN login_refused_at     timestamptz,
    ADD COLUMN login_refused_reason text NOT NULL DEFAULT '';
