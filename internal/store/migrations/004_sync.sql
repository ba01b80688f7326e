-- PO sync at scale. A sync of an account is a run: each list page the portal shows is staged (with the lines
-- read for it) and committed on its own, so a sync that dies half-way resumes at its next page; at the end ONE
-- transaction merges the run's staged rows into purchase_orders and purchase_order_lines and marks the run
-- finished, so readers never see half a sync.

CREATE TABLE po_sync_runs (
    run_id       uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    account_id   text        NOT NULL REFERENCES portal_accounts(id) ON DELETE CASCADE,
    -- The Temporal identity of the activity that runs it (workflow ID / run ID / activity ID): a retry of the
    -- same activity finds its run by it even when its heartbeat details were lost.
    temporal_key text        NOT NULL DEFAULT '',
    -- full: every PO (po_list.url); changed: only POs changed since `since` (po_list.changed_url).
    mode         text        NOT NULL CHECK (mode IN ('full', 'changed')),
    since        timestamptz,
    status       text        NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished', 'abandoned')),
    started_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    pages_done   int         NOT NULL DEFAULT 0,
    rows_done    int         NOT NULL DEFAULT 0,
    -- PO detail pages read for lines (new POs and POs whose header changed).
    details_read int         NOT NULL DEFAULT 0,
    finished_at  timestamptz,
    -- POs new or changed (header or lines) by the merge.
    changed      int,
    CHECK ((status = 'finished') = (finished_at IS NOT NULL)),
    CHECK (mode = 'full' OR since IS NOT NULL)
);

-- At most one running sync per account: starting one abandons a dead one.
CREATE UNIQUE INDEX po_sync_runs_running ON po_sync_runs (account_id) WHERE status = 'running';
CREATE INDEX po_sync_runs_account ON po_sync_runs (account_id, started_at DESC);
CREATE INDEX po_sync_runs_key ON po_sync_runs (temporal_key) WHERE temporal_key <> '';

-- Staged pages of running syncs. Unlogged (cheap to write, nothing for the WAL); after a PostgreSQL crash they
-- are empty, which a resume detects (rows_done no longer matches) and starts the run over. No primary key or
-- foreign key: COPY into them checks nothing; rows are deleted with their run.
CREATE UNLOGGED TABLE po_sync_staged (
    run_id        uuid          NOT NULL,
    page          int           NOT NULL,
    seq           int           NOT NULL, -- position on the page; (page, seq) orders a run's rows, last wins
    po_number     text          NOT NULL,
    buyer_entity  text          NOT NULL,
    order_date    date,
    currency      text          NOT NULL,
    total         numeric(20,6) NOT NULL,
    invoiced      numeric(20,6) NOT NULL,
    remaining     numeric(20,6) NOT NULL,
    status        text          NOT NULL,
    payment_terms text          NOT NULL,
    lines_read    boolean       NOT NULL -- the PO's page was read; its lines are the staged lines of (page, seq)
);
CREATE INDEX po_sync_staged_run ON po_sync_staged (run_id, page);

CREATE UNLOGGED TABLE po_sync_staged_lines (
    run_id      uuid          NOT NULL,
    page        int           NOT NULL,
    seq         int           NOT NULL,
    po_number   text          NOT NULL,
    line_no     int           NOT NULL,
    part_number text          NOT NULL,
    description text          NOT NULL,
    quantity    numeric(20,6) NOT NULL,
    uom         text          NOT NULL,
    unit_price  numeric(20,6) NOT NULL
);
CREATE INDEX po_sync_staged_lines_run ON po_sync_staged_lines (run_id, page);

---- create above / drop below ----

DROP TABLE po_sync_staged_lines;
DROP TABLE po_sync_staged;
DROP TABLE po_sync_runs;
