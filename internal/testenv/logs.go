package testenv

import (
	"bytes"
	"sync"
)

// Logs collects what loggers write from many goroutines while a test reads it, so tests can check what
// was logged and, above all, what never is.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Bytes returns a copy of what was written so far.
func (l *Logs) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

// String returns what was written so far.
func (l *Logs) String() string { return string(l.Bytes()) }
