// Package chaos holds TestChaos, Portico's chaos test: a batch of invoices is driven through the portal
// simulator to Paid while the worker, a separate process, is killed with SIGKILL again and again at
// random points of drafting and submitting, PostgreSQL and the Temporal server are restarted mid-run and
// the portal is made to fail. Afterwards the simulator's own records and the ERP tables must show every
// invoice paid, drafted and submitted exactly once, with no ERP status change missing and no portal
// account locked.
//
// `make test` runs a short version (PORTICO_CHAOS unset); `make chaos` runs the full one
// (PORTICO_CHAOS=full). With PORTICO_CHAOS_RECORD=1, or in full mode, the run's figures are written to
// bench/chaos.md. The package has no code besides its test.
package chaos
