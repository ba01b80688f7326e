-- From here on an empty customer_policies.approvers list means that nobody may decide (it meant anyone).
-- Every decision a person (or a customer's auto-approve policy) sent about an invoice, accepted or refused:
-- who, what, when, through which channel and about which draft version. seq is the invoice workflow's ERP
-- history row written with it, so a retried write is a no-op and the audit row joins its status row.
CREATE TABLE decision_audit (
    -- No foreign key: the audit outlives an invoice the ERP deletes.
    invoice_id    text        NOT NULL,
    seq           int         NOT NULL,
    at            timestamptz NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('approval', 'resolution')),
    channel       text        NOT NULL CHECK (channel IN ('signal', 'update', 'policy')),
    decision      text        NOT NULL,
    actor         text        NOT NULL,
    note          text        NOT NULL DEFAULT '',
    -- The draft version the decision named (0: none named) and the one the invoice had when it arrived.
    named_draft   int         NOT NULL DEFAULT 0,
    draft_version int         NOT NULL DEFAULT 0,
    accepted      boolean     NOT NULL,
    refusal       text        NOT NULL DEFAULT '',
    stage         text        NOT NULL,
    PRIMARY KEY (invoice_id, seq)
);

CREATE INDEX decision_audit_actor ON decision_audit (lower(actor), at);
CREATE INDEX decision_audit_at ON decision_audit (at);

-- Rows of the audit are never changed or removed by Portico; make that a rule of the database too.
CREATE FUNCTION decision_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'decision_audit is append-only';
END $$;

CREATE TRIGGER decision_audit_append_only BEFORE UPDATE OR DELETE ON decision_audit
    FOR EACH ROW EXECUTE FUNCTION decision_audit_append_only();
