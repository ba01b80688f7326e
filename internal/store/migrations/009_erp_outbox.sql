-- The ERP's outbox: an ERP that cannot call the HTTP API inserts a row here, in the same transaction as its
-- own change, and Portico starts the invoice's workflow exactly once (internal/outbox). payload is an
-- InvoiceRequest (the JSON of POST /v1/invoices) for Portico to take in, or NULL when the ERP wrote the
-- invoice into erp_invoices itself. Portico writes the outcome back into the row, for the ERP to read:
--   processed_at set, error NULL     the workflow (workflow_id, run_id) carries the invoice;
--   processed_at set, error set      refused for good (the error names the field); insert a new row;
--   processed_at NULL, attempts > 0  Temporal or the database failed; retried at next_attempt_at.
CREATE TABLE erp_outbox (
    id              bigserial   PRIMARY KEY,
    invoice_id      text        NOT NULL,
    payload         jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    processed_at    timestamptz,
    workflow_id     text,
    run_id          text,
    error           text,
    attempts        int         NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now()
);

-- What a dispatcher scans for: the pending rows in the order they are due. Processed rows, which are most
-- of the table once it has run for a while, are not in it.
CREATE INDEX erp_outbox_pending ON erp_outbox (next_attempt_at, id) WHERE processed_at IS NULL;
CREATE INDEX erp_outbox_invoice ON erp_outbox (invoice_id);

-- The notification is sent when the inserting transaction commits, so a dispatcher woken by it sees the
-- row (and the ERP's invoice written in the same transaction).
CREATE FUNCTION erp_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('portico_erp_outbox', NEW.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER erp_outbox_notify AFTER INSERT ON erp_outbox FOR EACH ROW EXECUTE FUNCTION erp_outbox_notify();

---- create above / drop below ----

DROP TRIGGER erp_outbox_notify ON erp_outbox;
DROP FUNCTION erp_outbox_notify();
DROP TABLE erp_outbox;
