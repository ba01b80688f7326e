package devstack

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// FreePort asks the kernel for a currently unused TCP port on 127.0.0.1.
//
// The port is released before returning, so another process can grab it
// before the caller binds it; callers that start a server on it should treat
// "address already in use" as retryable. This is still far less collision
// prone than hard-coded ports when several test packages run in parallel.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("devstack: finding a free loopback port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether nothing listens on 127.0.0.1:port, so that a
// fixed port (like 7233 for `make run`) fails with a message naming the port
// instead of a child process's less obvious bind error.
func portFree(port int) bool {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// tailBuffer keeps the last max bytes written to it. Child process output is
// unbounded over a long `make run`, but error messages only need the end.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// outputWriter combines the caller's optional log with a tail buffer used
// for error messages.
func outputWriter(log io.Writer, tail *tailBuffer) io.Writer {
	if log == nil {
		return tail
	}
	return io.MultiWriter(log, tail)
}

// logf writes a progress line to w when the caller asked for logs.
func logf(w io.Writer, format string, args ...any) {
	if w == nil {
		return
	}
	fmt.Fprintf(w, "devstack: "+format+"\n", args...)
}

// tailFile returns roughly the last n lines of a file, or a note saying why
// it could not be read, for inclusion in error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(could not read %s: %v)", path, err)
	}
	return tailLines(string(b), n)
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// indent makes multi-line child output readable inside an error message.
func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return "    (no output)"
	}
	var b bytes.Buffer
	for _, line := range strings.Split(s, "\n") {
		b.WriteString("    ")
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return strings.TrimRight(b.String(), "\n")
}

// absDir resolves dir so that commands run from another working directory
// (and as another user) see the same path.
func absDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("devstack: resolving %q: %w", dir, err)
	}
	return abs, nil
}
