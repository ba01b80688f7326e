package driver_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
)

// stripTable serves the portal with the invoice table's id renamed, as a portal redesign would.
func stripTable(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(bytes.ReplaceAll(rec.Body.Bytes(), []byte(`id="invoice-table"`), []byte(`id="invoices-grid"`)))
	})
}
