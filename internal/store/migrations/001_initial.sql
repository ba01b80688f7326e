-- The ERP side (customers, erp_invoices, erp_invoice_lines) is written by the ERP, or the demo, and read by
-- Portico, which writes the portal stage and status back into erp_invoices and invoice_status_history.
-- The portal side (portal_accounts, purchase_orders, purchase_order_lines) is Portico's own.

CREATE TABLE customers (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    buyer_entity text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE portal_accounts (
    id              text PRIMARY KEY,
    customer_id     text NOT NULL REFERENCES customers(id),
    portal          text NOT NULL,
    base_url        text NOT NULL,
    username        text NOT NULL,
    -- AES-256-GCM ciphertexts (internal/vault); never plaintext.
    password_enc    bytea NOT NULL,
    totp_secret_enc bytea NOT NULL,
    time_zone       text NOT NULL DEFAULT 'UTC',
    sync_cron       text NOT NULL DEFAULT '0 0,6,12,18 * * *',
    -- The last TOTP step a login used: portals accept a code once per 30 s step, so concurrent logins
    -- claim a step here first instead of being refused (and counted toward lockout) by the portal.
    totp_last_step  bigint NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE purchase_orders (
    account_id    text NOT NULL REFERENCES portal_accounts(id),
    po_number     text NOT NULL,
    buyer_entity  text NOT NULL DEFAULT '',
    order_date    date,
    currency      text NOT NULL,
    total         numeric(20,6) NOT NULL,
    invoiced      numeric(20,6) NOT NULL DEFAULT 0,
    remaining     numeric(20,6) NOT NULL,
    status        text NOT NULL,
    payment_terms text NOT NULL DEFAULT '',
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    synced_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, po_number)
);

CREATE TABLE purchase_order_lines (
    account_id  text NOT NULL,
    po_number   text NOT NULL,
    line_no     int  NOT NULL,
    part_number text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    quantity    numeric(20,6) NOT NULL,
    uom         text NOT NULL DEFAULT '',
    unit_price  numeric(20,6) NOT NULL,
    PRIMARY KEY (account_id, po_number, line_no),
    FOREIGN KEY (account_id, po_number) REFERENCES purchase_orders(account_id, po_number) ON DELETE CASCADE
);

CREATE TABLE erp_invoices (
    id                text PRIMARY KEY,
    customer_id       text NOT NULL REFERENCES customers(id),
    account_id        text NOT NULL REFERENCES portal_accounts(id),
    invoice_number    text NOT NULL,
    po_number         text NOT NULL,
    invoice_date      date NOT NULL,
    currency          text NOT NULL,
    tax_rate          numeric(9,4) NOT NULL DEFAULT 0,
    total             numeric(20,6) NOT NULL,
    note              text NOT NULL DEFAULT '',
    attachment_name   text NOT NULL DEFAULT '',
    attachment        bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    -- Written back by Portico.
    stage             text NOT NULL DEFAULT 'new',
    portal_status     text NOT NULL DEFAULT '',
    portal_invoice_id text NOT NULL DEFAULT '',
    status_reason     text NOT NULL DEFAULT '',
    status_seq        int  NOT NULL DEFAULT 0,
    status_updated_at timestamptz,
    UNIQUE (account_id, invoice_number)
);

CREATE TABLE erp_invoice_lines (
    invoice_id  text NOT NULL REFERENCES erp_invoices(id) ON DELETE CASCADE,
    line_no     int  NOT NULL,
    po_line_no  int  NOT NULL,
    part_number text NOT NULL DEFAULT '',
    description text NOT NULL DEFAULT '',
    quantity    numeric(20,6) NOT NULL,
    uom         text NOT NULL DEFAULT '',
    unit_price  numeric(20,6) NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);

-- Every change of an invoice's stage or portal status, with when and who saw it. seq is assigned by the
-- invoice workflow, which makes a retried write a no-op instead of a duplicate row.
CREATE TABLE invoice_status_history (
    invoice_id    text NOT NULL REFERENCES erp_invoices(id) ON DELETE CASCADE,
    seq           int  NOT NULL,
    at            timestamptz NOT NULL,
    stage         text NOT NULL,
    status        text NOT NULL DEFAULT '',
    portal_status text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    source        text NOT NULL,
    PRIMARY KEY (invoice_id, seq)
);

CREATE INDEX erp_invoices_stage ON erp_invoices (stage);

---- create above / drop below ----

DROP TABLE invoice_status_history;
DROP TABLE erp_invoice_lines;
DROP TABLE erp_invoices;
DROP TABLE purchase_order_lines;
DROP TABLE purchase_orders;
DROP TABLE portal_accounts;
DROP TABLE customers;
