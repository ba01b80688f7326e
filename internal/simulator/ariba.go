package simulator

import "net/http"

// aribaRoutes registers the single-page-app supplier surface of the Ariba flavor.
func (s *Server) aribaRoutes(m *http.ServeMux) {
	s.coupaRoutes(m) // placeholder until the SPA lands
}
