-- Matching (internal/matching): which ERP customer each synced PO belongs to, and which synced PO each ERP
-- invoice bills, each with its reasons. Portico matches automatically after every PO sync and when an
-- invoice's workflow starts; a person's decision (source/rule 'manual') is never overwritten by Portico.

-- More names a buyer entity may appear under in a portal, per customer (besides its name, ID and buyer
-- entity). Compared after normalising case, punctuation, spacing and legal form (matching.EntityKey).
CREATE TABLE customer_aliases (
    customer_id text NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
    alias       text NOT NULL CHECK (btrim(alias) <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (customer_id, alias)
);

-- The ERP customer of each synced PO, by its buyer entity. customer_id is NULL when no customer or several
-- fit: such POs are listed for a person (store.UnmatchedPurchaseOrders). A 'manual' row is a person's and
-- stays as it is. No foreign key to purchase_orders, so that the PO sync never waits on this table.
CREATE TABLE po_customer_matches (
    account_id  text NOT NULL REFERENCES portal_accounts(id) ON DELETE CASCADE,
    po_number   text NOT NULL,
    customer_id text REFERENCES customers(id) ON DELETE CASCADE,
    source      text NOT NULL CHECK (source IN ('auto', 'manual')),
    reason      text NOT NULL DEFAULT '',
    decided_by  text NOT NULL DEFAULT 'portico',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, po_number),
    CHECK (source = 'auto' OR customer_id IS NOT NULL)
);

CREATE INDEX po_customer_matches_customer ON po_customer_matches (account_id, customer_id);

-- The outcome of matching each ERP invoice to a synced PO: the rule that found it, the score, the reasons
-- and the best candidates with theirs. status 'ambiguous' and 'unmatched' wait for a person; rule 'manual'
-- is a person's decision and stays as it is. erp_po_number is the ERP's PO number the outcome was reached
-- for: an automatic match no longer applies once the ERP changes it.
CREATE TABLE invoice_po_matches (
    invoice_id    text PRIMARY KEY REFERENCES erp_invoices(id) ON DELETE CASCADE,
    account_id    text NOT NULL,
    po_number     text NOT NULL DEFAULT '',
    erp_po_number text NOT NULL DEFAULT '',
    rule          text NOT NULL DEFAULT '',
    score         int  NOT NULL DEFAULT 0,
    reasons       jsonb NOT NULL DEFAULT '[]',
    status        text NOT NULL CHECK (status IN ('matched', 'ambiguous', 'unmatched')),
    candidates    jsonb NOT NULL DEFAULT '[]',
    decided_by    text NOT NULL DEFAULT 'portico',
    decided_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'matched' OR po_number <> ''),
    CHECK (rule <> 'manual' OR decided_by <> 'portico')
);

CREATE INDEX invoice_po_matches_open ON invoice_po_matches (account_id, status) WHERE status <> 'matched';

-- The PO Portico keys into the portal for the invoice when it is not the ERP's own po_number as written
-- (after normalising, or found by balance or lines, or chosen by a person); empty: the ERP's. Written back
-- for the ERP to read; the ERP's po_number is never changed.
ALTER TABLE erp_invoices ADD COLUMN matched_po_number text NOT NULL DEFAULT '';

-- The same keys as matching.POKey and matching.PartKey (TestSQLKeysMatchGo keeps them equal): ASCII letters
-- upper-cased, all but ASCII letters and digits removed; for PO numbers also a leading PO prefix followed
-- by a digit, and leading zeros.
CREATE FUNCTION portico_part_key(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT regexp_replace(upper(t COLLATE "C"), '[^A-Z0-9]', '', 'g') $$;

CREATE FUNCTION portico_po_key(t text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT regexp_replace(
                     regexp_replace(portico_part_key(t), '^(PURCHASEORDER|PONUMBER|PONO|PONR|PO)([0-9])', '\2'),
                     '^0+', '') $$;

-- What one invoice's match (activities.MatchPO) looks up, so that it reads a handful of rows even in an
-- account with a million POs: POs by number key, by remaining balance, and PO lines by part.
CREATE INDEX purchase_orders_po_key ON purchase_orders (account_id, portico_po_key(po_number));
CREATE INDEX purchase_orders_remaining ON purchase_orders (account_id, remaining);
CREATE INDEX purchase_order_lines_part ON purchase_order_lines (account_id, portico_part_key(part_number));

---- create above / drop below ----

DROP INDEX purchase_order_lines_part;
DROP INDEX purchase_orders_remaining;
DROP INDEX purchase_orders_po_key;
DROP FUNCTION portico_po_key(text);
DROP FUNCTION portico_part_key(text);
ALTER TABLE erp_invoices DROP COLUMN matched_po_number;
DROP TABLE invoice_po_matches;
DROP TABLE po_customer_matches;
DROP TABLE customer_aliases;
