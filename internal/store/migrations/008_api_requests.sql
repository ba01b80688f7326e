-- The ERP HTTP API refuses a replayed request: each signed request carries a nonce, kept here for as long
-- as its timestamp would be accepted (ON CONFLICT is the replay check, so two workers agree on it).
CREATE TABLE api_request_nonces (
    client_id text        NOT NULL,
    nonce     text        NOT NULL,
    seen_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, nonce)
);

CREATE INDEX api_request_nonces_seen ON api_request_nonces (seen_at);
