package simulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

func (s *Server) controlAddAccount(w http.ResponseWriter, r *http.Request) {
	var a Account
	if err := decodeJSON(w, r, &a); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err := s.AddAccount(a); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"username": a.Username})
}

func (s *Server) controlUnlock(w http.ResponseWriter, r *http.Request) {
	username := r.PathValue("username")
	if err := s.Unlock(username); err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"username": username, "status": "unlocked"})
}

func (s *Server) controlExpirePassword(w http.ResponseWriter, r *http.Request) {
	username := r.PathValue("username")
	if err := s.ExpirePassword(username); err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"username": username, "status": "password expired"})
}

func (s *Server) controlSetPassword(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Password string `json:"password"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	username := r.PathValue("username")
	if err := s.SetPassword(username, body.Password); err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"username": username, "status": "password changed"})
}

func (s *Server) controlGetRules(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Rules())
}

// controlPutRules replaces the rules: fields left out take their defaults.
func (s *Server) controlPutRules(w http.ResponseWriter, r *http.Request) {
	var rules Rules
	if err := decodeOneJSON(w, r, &rules); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	got, err := s.SetRules(rules)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, got)
}

func (s *Server) controlAddPOs(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Username       string `json:"username"`
		PurchaseOrders []PO   `json:"purchase_orders"`
	}
	if err := decodeJSON(w, r, &body); err != nil {
		writeJSONError(w, http.StatusBadRequest, err.Error())
		return
	}
	if body.Username == "" {
		writeJSONError(w, http.StatusBadRequest, "username is required")
		return
	}
	if err := s.AddPurchaseOrders(body.Username, body.PurchaseOrders); err != nil {
		writeControlError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"upserted": len(body.PurchaseOrders)})
}

// poState is a PO with the figures the supplier's PO list shows. PO is not
// embedded because its MarshalJSON would be promoted and hide the figures.
type poState struct {
	Number       string   `json:"number"`
	BuyerEntity  string   `json:"buyer_entity"`
	OrderDate    string   `json:"order_date"`
	Currency     string   `json:"currency"`
	PaymentTerms string   `json:"payment_terms"`
	Status       POStatus `json:"status"`
	Lines        []POLine `json:"lines"`
	Total        string   `json:"total"`
	Invoiced     string   `json:"invoiced"`
	Remaining    string   `json:"remaining"`
	UpdatedAt    string   `json:"updated_at"`
}

func (s *Server) controlListPOs(w http.ResponseWriter, r *http.Request) {
	username := r.URL.Query().Get("username")
	s.mu.Lock()
	if s.accounts[username] == nil {
		s.mu.Unlock()
		writeJSONError(w, http.StatusNotFound, "unknown account "+username)
		return
	}
	invoiced := s.invoicedLocked(username)
	out := []poState{}
	for _, number := range sortedKeys(s.pos[username]) {
		po := s.pos[username][number]
		l := ledgerFor(po, invoiced[number])
		out = append(out, poState{
			Number: po.Number, BuyerEntity: po.BuyerEntity, OrderDate: formatDate(po.OrderDate),
			Currency: po.Currency, PaymentTerms: po.PaymentTerms, Status: l.Status, Lines: slices.Clone(po.Lines),
			Total: formatMoney(l.Total), Invoiced: formatMoney(l.Invoiced), Remaining: formatMoney(l.Remaining),
			UpdatedAt: po.UpdatedAt.UTC().Format(time.RFC3339Nano),
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) controlInvoices(w http.ResponseWriter, r *http.Request) {
	username := r.URL.Query().Get("username")
	if username != "" && !s.hasAccount(username) {
		writeJSONError(w, http.StatusNotFound, "unknown account "+username)
		return
	}
	writeJSON(w, http.StatusOK, s.Invoices(username))
}

func (s *Server) controlEvents(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Events())
}

// decodeOneJSON is decodeJSON that also refuses anything after the value.
func decodeOneJSON(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("invalid JSON body: data after the JSON value")
	}
	return nil
}

func writeControlError(w http.ResponseWriter, err error) {
	if errors.Is(err, ErrUnknownAccount) {
		writeJSONError(w, http.StatusNotFound, err.Error())
		return
	}
	writeJSONError(w, http.StatusBadRequest, err.Error())
}
