-- The invoice lifecycle: each customer's invoicing policy, what Portico keys into the portal instead of the
-- ERP's own values (fixes before a resubmission), the evidence an approver sees, the notifications outbox
-- and the latest outcome of each pre-submission check, for the ERP to read.

-- One row per customer; a customer without a row gets the defaults below (store.DefaultPolicy).
CREATE TABLE customer_policies (
    customer_id         text PRIMARY KEY REFERENCES customers(id) ON DELETE CASCADE,
    -- E-mail addresses, lower case, whose approval decisions are accepted. Empty: any named approver.
    approvers           text[]        NOT NULL DEFAULT '{}',
    auto_approve        boolean       NOT NULL DEFAULT false,
    remind_every        interval      NOT NULL DEFAULT '24 hours',
    escalate_after      interval      NOT NULL DEFAULT '72 hours',
    max_resubmissions   int           NOT NULL DEFAULT 2,
    -- A fmt pattern applied to the resubmission round, appended to the ERP number (INV-7 → INV-7-01).
    renumber_suffix     text          NOT NULL DEFAULT '-%02d',
    terms               text          NOT NULL DEFAULT 'exact',
    tolerance_percent   numeric(9,4)  NOT NULL DEFAULT 0,
    tolerance_amount    numeric(20,6) NOT NULL DEFAULT 0,
    max_backdate_days   int           NOT NULL DEFAULT 0,
    attachment_required boolean       NOT NULL DEFAULT false,
    remit_to            text          NOT NULL DEFAULT '',
    tax_reference       text          NOT NULL DEFAULT '',
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    CHECK (terms IN ('exact', 'better_allowed')),
    CHECK (remind_every > interval '0' AND escalate_after > interval '0'),
    CHECK (max_resubmissions >= 0 AND max_backdate_days >= 0),
    CHECK (tolerance_percent >= 0 AND tolerance_amount >= 0)
);

-- payment_terms: the ERP's terms as printed on the invoice ("Net 30"), compared with the PO's.
-- portal_overrides: the fixes Portico applied for the portal (number, date, tax_reference, remit_to,
-- drop_zero_lines), merged one by one; the ERP's own columns are never changed.
ALTER TABLE erp_invoices
    ADD COLUMN payment_terms    text  NOT NULL DEFAULT '',
    ADD COLUMN portal_overrides jsonb NOT NULL DEFAULT '{}';

-- What the approver is shown of a draft: a screenshot of its page in the portal and the exact values keyed in.
CREATE TABLE evidence (
    id           text PRIMARY KEY,
    invoice_id   text NOT NULL REFERENCES erp_invoices(id) ON DELETE CASCADE,
    kind         text NOT NULL CHECK (kind IN ('draft_screenshot', 'draft_values')),
    content_type text NOT NULL,
    data         bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX evidence_invoice ON evidence (invoice_id, created_at);

-- Messages to approvers (reminders, escalations, hand-overs) for whatever delivers mail or chat; sent_at is
-- set by the deliverer. seq is assigned by the invoice workflow, so a retried insert is a no-op.
CREATE TABLE notifications (
    invoice_id text        NOT NULL REFERENCES erp_invoices(id) ON DELETE CASCADE,
    seq        int         NOT NULL,
    kind       text        NOT NULL,
    recipients text[]      NOT NULL DEFAULT '{}',
    text       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    PRIMARY KEY (invoice_id, seq)
);

CREATE INDEX notifications_unsent ON notifications (created_at) WHERE sent_at IS NULL;

-- The latest outcome of each pre-submission check of an invoice, with what to do when it failed.
CREATE TABLE invoice_checks (
    invoice_id text        NOT NULL REFERENCES erp_invoices(id) ON DELETE CASCADE,
    name       text        NOT NULL,
    passed     boolean     NOT NULL,
    detail     text        NOT NULL DEFAULT '',
    checked_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, name)
);

---- create above / drop below ----

DROP TABLE invoice_checks;
DROP TABLE notifications;
DROP TABLE evidence;
ALTER TABLE erp_invoices DROP COLUMN portal_overrides, DROP COLUMN payment_terms;
DROP TABLE customer_policies;
