// Package demo seeds a demo ERP and a simulated buyer portal, and plays the buyer, for `make run` and the
// end-to-end tests.
package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Buyer plays the buyer's side of the simulator through its buyer API: approve, dispute, pay.
type Buyer struct {
	BaseURL string
	Token   string // the simulator's control token, if it has one
}

type buyerInvoice struct {
	ID     string `json:"id"`
	Number string `json:"number"`
	Status string `json:"status"`
}

// Find returns the simulator's ID and status of a supplier's invoice.
func (b Buyer) Find(ctx context.Context, supplier, number string) (id, status string, err error) {
	q := url.Values{"supplier": {supplier}, "number": {number}}
	var list []buyerInvoice
	if err := b.call(ctx, http.MethodGet, "/buyer/api/invoices?"+q.Encode(), nil, &list); err != nil {
		return "", "", err
	}
	for _, inv := range list {
		if inv.Number == number {
			return inv.ID, inv.Status, nil
		}
	}
	return "", "", fmt.Errorf("buyer: no invoice %s from %s", number, supplier)
}

// Act approves ("approve"), disputes ("dispute", arg = reason) or pays ("pay", arg = reference) an invoice.
func (b Buyer) Act(ctx context.Context, supplier, number, action, arg string) error {
	id, _, err := b.Find(ctx, supplier, number)
	if err != nil {
		return err
	}
	body := map[string]string{}
	switch action {
	case "dispute":
		body["reason"] = arg
	case "pay":
		body["reference"] = arg
	}
	return b.call(ctx, http.MethodPost, "/buyer/api/invoices/"+url.PathEscape(id)+"/"+action, body, nil)
}

// Dispute disputes an invoice with one of the buyer's reason codes (DUPLICATE_NUMBER, LINE_MISMATCH, ...).
func (b Buyer) Dispute(ctx context.Context, supplier, number, code, reason string) error {
	id, _, err := b.Find(ctx, supplier, number)
	if err != nil {
		return err
	}
	return b.call(ctx, http.MethodPost, "/buyer/api/invoices/"+url.PathEscape(id)+"/dispute", map[string]string{"code": code, "reason": reason}, nil)
}

// WaitFor polls until the invoice exists with the status, for tests that watch the portal.
func (b Buyer) WaitFor(ctx context.Context, supplier, number, status string) error {
	var last string
	for {
		_, st, err := b.Find(ctx, supplier, number)
		if err == nil && st == status {
			return nil
		}
		last = st
		select {
		case <-ctx.Done():
			return fmt.Errorf("invoice %s never reached %q (last %q): %w", number, status, last, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (b Buyer) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		buf, _ := json.Marshal(body)
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(b.BaseURL, "/")+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if b.Token != "" {
		req.Header.Set("X-Control-Token", b.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("buyer %s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
