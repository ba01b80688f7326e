// Package devstack starts the real services Portico depends on — a
// PostgreSQL cluster and a Temporal dev server — as child processes on
// loopback ports.
//
// It exists so that `make run` and the end-to-end tests exercise the same
// binaries production talks to instead of fakes, while needing nothing but
// the Debian PostgreSQL packages and the Temporal CLI that `make tools`
// installs. Everything binds to 127.0.0.1 only: nothing here is meant to be
// reachable from another machine.
package devstack
