//go:build !race

package chaos

// raceEnabled says the test binary runs under the race detector (see race_test.go).
const raceEnabled = false
