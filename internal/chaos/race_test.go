//go:build race

package chaos

// raceEnabled says the test binary runs under the race detector; the worker binary is then built with it
// too, so that a data race the chaos provokes in the worker is reported.
const raceEnabled = true
