package devstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

// syncBuffer collects service output; it is printed only when a test fails,
// because t.Log from a child's output goroutine could outlive the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func logOnFailure(t *testing.T) *syncBuffer {
	t.Helper()
	var b syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service output:\n%s", b.String())
		}
	})
	return &b
}

func TestPostgresTemp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	pg, err := StartPostgres(ctx, PostgresOptions{Log: logOnFailure(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("temp Postgres started in %v at %s", time.Since(start).Round(time.Millisecond), pg.DSN())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = pg.Stop()
		}
	})

	if !strings.HasSuffix(pg.DSN(), "/portico?sslmode=disable") {
		t.Errorf("DSN %q does not name the default database", pg.DSN())
	}
	conn, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	var db string
	var sum int
	if err := conn.QueryRow(ctx, "SELECT current_database(), 40 + 2").Scan(&db, &sum); err != nil {
		t.Fatal(err)
	}
	if db != "portico" || sum != 42 {
		t.Errorf("got (%q, %d), want (portico, 42)", db, sum)
	}
	var fsync string
	if err := conn.QueryRow(ctx, "SHOW fsync").Scan(&fsync); err != nil {
		t.Fatal(err)
	}
	if fsync != "off" {
		t.Errorf("fsync = %q for a temp cluster, want off", fsync)
	}
	conn.Close(ctx)

	dir := pg.DataDir()
	start = time.Now()
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	t.Logf("temp Postgres stopped in %v", time.Since(start).Round(time.Millisecond))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp data dir %s still exists after Stop (stat err %v)", dir, err)
	}
	if err := pg.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestPostgresRestartSameDataDir(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := logOnFailure(t)
	// Nested below a 0700 t.TempDir() on purpose: as root, the postgres
	// user must still be able to reach it.
	dir := filepath.Join(t.TempDir(), "state", "postgres")

	pg1, err := StartPostgres(ctx, PostgresOptions{DataDir: dir, Database: "restart_db", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	mustExec(t, ctx, pg1.DSN(), "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')")
	if err := pg1.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("persistent data dir was removed by Stop: %v", err)
	}

	start := time.Now()
	pg2, err := StartPostgres(ctx, PostgresOptions{DataDir: dir, Database: "restart_db", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("existing cluster restarted in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { _ = pg2.Stop() })
	if got := queryString(t, ctx, pg2.DSN(), "SELECT v FROM kept"); got != "survives" {
		t.Errorf("after restart got %q, want survives", got)
	}
	var fsync string
	if fsync = queryString(t, ctx, pg2.DSN(), "SHOW fsync"); fsync != "on" {
		t.Errorf("fsync = %q for a persistent cluster, want on", fsync)
	}

	// Simulate a `make run` that died without Stop: pg2 is still running
	// when the next run starts on the same dir, on another port.
	pid := postmasterPID(t, dir)
	pg3, err := StartPostgres(ctx, PostgresOptions{DataDir: dir, Database: "restart_db", Log: log})
	if err != nil {
		t.Fatalf("start over a still-running postmaster: %v", err)
	}
	t.Cleanup(func() { _ = pg3.Stop() })
	waitGone(t, pid, "stale postmaster")
	if got := queryString(t, ctx, pg3.DSN(), "SELECT v FROM kept"); got != "survives" {
		t.Errorf("after taking over got %q, want survives", got)
	}
	if err := pg3.Stop(); err != nil {
		t.Fatal(err)
	}
	// pg2's server is gone; its Stop must not fail on that.
	if err := pg2.Stop(); err != nil {
		t.Errorf("Stop of a server already stopped by a later run: %v", err)
	}
}

func TestPostgresFixedPortInUse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := StartPostgres(ctx, PostgresOptions{Log: logOnFailure(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop()
	_, err = StartPostgres(ctx, PostgresOptions{Port: pg.Port()})
	if err == nil || !strings.Contains(err.Error(), "already in use") {
		t.Fatalf("want an 'already in use' error, got %v", err)
	}
}

func TestTemporalHeadless(t *testing.T) {
	bin, err := TemporalBinary()
	if err != nil {
		// CI runs `make tools` first, so a missing binary is a real failure.
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	start := time.Now()
	tmp, err := StartTemporal(ctx, TemporalOptions{
		Binary:           bin,
		Headless:         true,
		SearchAttributes: map[string]string{"InvoiceStage": "Keyword"},
		Log:              logOnFailure(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("headless Temporal ready in %v at %s", time.Since(start).Round(time.Millisecond), tmp.HostPort())
	t.Cleanup(func() { _ = tmp.Stop() })
	if tmp.UIURL() != "" {
		t.Errorf("headless server has UI URL %q", tmp.UIURL())
	}

	c, err := client.DialContext(ctx, client.Options{HostPort: tmp.HostPort(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		t.Fatal(err)
	}
	resp, err := c.OperatorService().ListSearchAttributes(ctx,
		&operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetCustomAttributes()["InvoiceStage"]; got != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
		t.Errorf("InvoiceStage registered as %v, want Keyword (all: %v)", got, resp.GetCustomAttributes())
	}
	c.Close()

	pid := tmp.cmd.Process.Pid
	start = time.Now()
	if err := tmp.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal stopped in %v", time.Since(start).Round(time.Millisecond))
	// Stop reaps the child, so the PID must be gone at once.
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("temporal process %d still exists after Stop", pid)
	}
	if !portFree(portOf(t, tmp.HostPort())) {
		t.Errorf("frontend port still bound after Stop")
	}
}

// TestTemporalDBFileWithUI covers the `make run` shape: a UI, a DB file kept
// across runs, and a search attribute added between two runs (start-dev
// only registers search attributes when it creates the namespace).
func TestTemporalDBFileWithUI(t *testing.T) {
	bin, err := TemporalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := logOnFailure(t)
	dbFile := filepath.Join(t.TempDir(), "state", "temporal.db")

	start := time.Now()
	t1, err := StartTemporal(ctx, TemporalOptions{
		Binary: bin, DBFile: dbFile, Namespace: "portico", Log: log,
		SearchAttributes: map[string]string{"InvoiceStage": "Keyword"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal with UI and DB file ready in %v (UI %s)", time.Since(start).Round(time.Millisecond), t1.UIURL())
	t.Cleanup(func() { _ = t1.Stop() })
	resp, err := http.Get(t1.UIURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("UI answered %s", resp.Status)
	}
	if err := t1.Stop(); err != nil {
		t.Fatal(err)
	}

	t2, err := StartTemporal(ctx, TemporalOptions{
		Binary: bin, DBFile: dbFile, Namespace: "portico", Headless: true, Log: log,
		SearchAttributes: map[string]string{"InvoiceStage": "Keyword", "InvoiceAmount": "Int"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = t2.Stop() })
	attrs := listSearchAttributes(t, ctx, t2.HostPort(), "portico")
	if attrs["InvoiceStage"] != enumspb.INDEXED_VALUE_TYPE_KEYWORD || attrs["InvoiceAmount"] != enumspb.INDEXED_VALUE_TYPE_INT {
		t.Errorf("after restart with a new attribute got %v", attrs)
	}
	if err := t2.Stop(); err != nil {
		t.Fatal(err)
	}

	_, err = StartTemporal(ctx, TemporalOptions{
		Binary: bin, DBFile: dbFile, Namespace: "portico", Headless: true,
		SearchAttributes: map[string]string{"InvoiceStage": "Int"},
	})
	if err == nil || !strings.Contains(err.Error(), "registered as") {
		t.Errorf("want a type-mismatch error, got %v", err)
	}
}

// TestTemporalDiesWithParent kills a process that started a server and
// checks that the server goes too, so aborted runs don't hold ports.
func TestTemporalDiesWithParent(t *testing.T) {
	if os.Getenv("DEVSTACK_HELPER") == "start-temporal" {
		tmp, err := StartTemporal(context.Background(), TemporalOptions{Headless: true})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("PID", tmp.cmd.Process.Pid)
		select {} // wait to be killed
	}
	if _, err := TemporalBinary(); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTemporalDiesWithParent$")
	cmd.Env = append(os.Environ(), "DEVSTACK_HELPER=start-temporal")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	var pid int
	if _, err := fmt.Sscanf(line, "PID %d", &pid); err != nil {
		t.Fatalf("helper said %q", line)
	}
	if !processAlive(pid) {
		t.Fatalf("temporal %d not running while its parent lives", pid)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	waitGone(t, pid, "temporal server of a killed parent")
}

func listSearchAttributes(t *testing.T, ctx context.Context, hostPort, ns string) map[string]enumspb.IndexedValueType {
	t.Helper()
	c, err := client.DialContext(ctx, client.Options{HostPort: hostPort, Namespace: ns, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetCustomAttributes()
}

func TestTemporalBinaryMissing(t *testing.T) {
	t.Setenv("PORTICO_TEMPORAL_BIN", filepath.Join(t.TempDir(), "nope", "temporal"))
	_, err := TemporalBinary()
	if err == nil || !strings.Contains(err.Error(), "run `make tools`") || !strings.Contains(err.Error(), TemporalCLIVersion) {
		t.Fatalf("want a 'run `make tools`' error naming %s, got %v", TemporalCLIVersion, err)
	}
}

func TestTemporalArgs(t *testing.T) {
	got := strings.Join(temporalArgs(TemporalOptions{
		Port: 7233, UIPort: 8233, DBFile: "/x/t.db", Namespace: "portico",
		SearchAttributes: map[string]string{"B": "Int", "A": "Keyword"},
	}), " ")
	want := "server start-dev --ip 127.0.0.1 --port 7233 --log-level warn --ui-port 8233 " +
		"--db-filename /x/t.db --namespace portico --search-attribute A=Keyword --search-attribute B=Int"
	if got != want {
		t.Errorf("args\n got %s\nwant %s", got, want)
	}
	if _, err := parseSearchAttributes(map[string]string{"X": "Strng"}); err == nil {
		t.Error("a misspelled search attribute type was accepted")
	}
}

// waitGone allows for the postmaster removing its pid file a moment before
// it exits, and for a lazily reaping init leaving a zombie.
func waitGone(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Errorf("%s %d still alive", what, pid)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func mustExec(t *testing.T, ctx context.Context, dsn, sql string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatal(err)
	}
}

func queryString(t *testing.T, ctx context.Context, dsn, sql string) string {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func postmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func portOf(t *testing.T, hostPort string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostPort)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}
