package simulator

import "net/http"

// serveWithFaults serves a request, applying any injected faults first.
func (s *Server) serveWithFaults(w http.ResponseWriter, r *http.Request) {
	s.mux.ServeHTTP(w, r)
}
