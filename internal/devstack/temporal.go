package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
)

// TemporalCLIVersion is the Temporal CLI release whose dev server we run.
// It is pinned because `make tools` builds exactly this version into a
// versioned cache dir, and the dev server's flags change between releases.
const TemporalCLIVersion = "v1.5.1"

const (
	// temporalReadyTimeout bounds the wait for a fresh dev server; it
	// normally answers within a few seconds.
	temporalReadyTimeout = 60 * time.Second
	// temporalStopGrace is how long a SIGTERMed server may take to flush
	// its SQLite file before it is killed.
	temporalStopGrace = 10 * time.Second
)

// TemporalBinary locates the Temporal CLI: $PORTICO_TEMPORAL_BIN if set,
// otherwise the copy `make tools` builds under
// $HOME/.cache/portico/temporal-<TemporalCLIVersion>/temporal. There is no
// $PATH lookup on purpose: a different CLI version there would make runs
// irreproducible.
func TemporalBinary() (string, error) {
	path := os.Getenv("PORTICO_TEMPORAL_BIN")
	if path == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("devstack: locating the temporal CLI: %w", err)
		}
		path = filepath.Join(home, ".cache", "portico", "temporal-"+TemporalCLIVersion, "temporal")
	}
	if !isExecutable(path) {
		return "", fmt.Errorf("temporal CLI %s not found at %s: run `make tools`", TemporalCLIVersion, path)
	}
	return path, nil
}

// TemporalOptions configures StartTemporal. The zero value gives an
// in-memory server with a UI on free ports.
type TemporalOptions struct {
	// Binary is the temporal CLI; empty means TemporalBinary().
	Binary string
	// DBFile is a SQLite file that keeps workflow state across runs; empty
	// means in-memory, which is what tests want.
	DBFile string
	// Port is the frontend gRPC port on 127.0.0.1; zero picks a free one.
	Port int
	// UIPort is the Web UI port; zero picks a free one. Ignored if Headless.
	UIPort int
	// Headless disables the Web UI, which tests don't need and which costs
	// start-up time and a port.
	Headless bool
	// Namespace is registered at start and used for readiness checks;
	// empty means "default".
	Namespace string
	// SearchAttributes maps custom search attribute names to their type
	// (Text, Keyword, Int, Double, Bool, Datetime, KeywordList).
	SearchAttributes map[string]string
	// UICodecEndpoint is a codec server the Web UI asks to decode payloads (Portico encrypts them all);
	// empty shows them as stored.
	UICodecEndpoint string
	// Log receives the server's stdout and stderr.
	Log io.Writer
}

// Temporal is a running `temporal server start-dev` child process. It is
// owned by the caller, who must call Stop.
type Temporal struct {
	hostPort  string
	uiURL     string
	namespace string

	cmd      *exec.Cmd
	exited   chan struct{} // closed once cmd.Wait returns
	waitErr  error         // valid after exited is closed
	output   *tailBuffer
	stopOnce sync.Once
	stopErr  error
}

// StartTemporal starts a Temporal dev server and returns once its frontend
// answers health checks and every requested search attribute is visible in
// the namespace, so callers can start workers and workflows right away.
//
// The server dies with the calling process (SIGKILL via Pdeathsig) so that
// an aborted `make run` or test binary cannot leave a server holding the
// ports. The child gets its own process group so that Ctrl-C reaches only
// the parent, which then shuts things down in order.
func StartTemporal(ctx context.Context, opts TemporalOptions) (*Temporal, error) {
	var err error
	if opts.Binary == "" {
		if opts.Binary, err = TemporalBinary(); err != nil {
			return nil, err
		}
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	saTypes, err := parseSearchAttributes(opts.SearchAttributes)
	if err != nil {
		return nil, err
	}
	if opts.DBFile != "" {
		if opts.DBFile, err = absDir(opts.DBFile); err != nil {
			return nil, err
		}
		// start-dev refuses a DB file whose directory does not exist.
		if err := os.MkdirAll(filepath.Dir(opts.DBFile), 0o755); err != nil {
			return nil, fmt.Errorf("devstack: creating the directory for %s: %w", opts.DBFile, err)
		}
	}

	readyCtx, cancel := context.WithTimeout(ctx, temporalReadyTimeout)
	defer cancel()
	// Ports we picked can be taken by a parallel test before the server
	// binds them (and start-dev picks more internal ports of its own), so a
	// bind failure is retried with fresh ports; fixed ports are not.
	autoPorts := opts.Port == 0 && (opts.Headless || opts.UIPort == 0)
	for attempt := 1; ; attempt++ {
		t, err := startTemporalOnce(readyCtx, opts, saTypes)
		if err == nil {
			return t, nil
		}
		if !autoPorts || attempt == 3 || !strings.Contains(err.Error(), "address already in use") || readyCtx.Err() != nil {
			return nil, err
		}
		logf(opts.Log, "a port was taken while Temporal started, retrying with fresh ports")
	}
}

func startTemporalOnce(ctx context.Context, opts TemporalOptions, saTypes map[string]enumspb.IndexedValueType) (*Temporal, error) {
	var err error
	if opts.Port, err = choosePort(opts.Port, "Temporal frontend"); err != nil {
		return nil, err
	}
	if !opts.Headless {
		if opts.UIPort, err = choosePort(opts.UIPort, "Temporal UI"); err != nil {
			return nil, err
		}
	}
	args := temporalArgs(opts)
	t := &Temporal{
		hostPort:  fmt.Sprintf("127.0.0.1:%d", opts.Port),
		namespace: opts.Namespace,
		exited:    make(chan struct{}),
		output:    newTailBuffer(16 << 10),
	}
	if !opts.Headless {
		t.uiURL = fmt.Sprintf("http://127.0.0.1:%d", opts.UIPort)
	}
	t.cmd = exec.Command(opts.Binary, args...)
	out := outputWriter(opts.Log, t.output)
	t.cmd.Stdout, t.cmd.Stderr = out, out
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	logf(opts.Log, "starting %s %s", opts.Binary, strings.Join(args, " "))
	if err := t.cmd.Start(); err != nil {
		return nil, fmt.Errorf("devstack: starting the temporal CLI %s: %w", opts.Binary, err)
	}
	go func() {
		t.waitErr = t.cmd.Wait()
		close(t.exited)
	}()

	if err := t.waitReady(ctx, saTypes); err != nil {
		_ = t.Stop()
		return nil, fmt.Errorf("devstack: Temporal dev server (%s) did not become ready: %w\nits output ends with:\n%s",
			t.hostPort, err, indent(tailLines(t.output.String(), 30)))
	}
	if !opts.Headless {
		if err := t.waitUI(ctx); err != nil {
			_ = t.Stop()
			return nil, fmt.Errorf("devstack: Temporal UI at %s did not answer: %w\nthe server's output ends with:\n%s",
				t.uiURL, err, indent(tailLines(t.output.String(), 30)))
		}
	}
	logf(opts.Log, "Temporal ready at %s (namespace %q)", t.hostPort, t.namespace)
	return t, nil
}

// HostPort is the frontend address for client.Options.HostPort.
func (t *Temporal) HostPort() string { return t.hostPort }

// UIURL is the Web UI's base URL, or "" for a headless server.
func (t *Temporal) UIURL() string { return t.uiURL }

// Namespace is the namespace the server was started for.
func (t *Temporal) Namespace() string { return t.namespace }

// Stop asks the server to shut down with SIGTERM, so a SQLite DB file is
// closed cleanly, and kills it if it has not exited after 10 s. It reaps
// the process and is safe to call more than once.
func (t *Temporal) Stop() error {
	t.stopOnce.Do(func() {
		select {
		case <-t.exited:
			return // already dead: nothing to stop (start-up errors report it)
		default:
		}
		_ = t.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(temporalStopGrace):
			_ = t.cmd.Process.Kill()
			<-t.exited
			t.stopErr = fmt.Errorf("devstack: Temporal dev server ignored SIGTERM for %s and was killed", temporalStopGrace)
		}
	})
	return t.stopErr
}

func temporalArgs(opts TemporalOptions) []string {
	args := []string{
		"server", "start-dev",
		"--ip", "127.0.0.1",
		"--port", strconv.Itoa(opts.Port),
		"--log-level", "warn",
	}
	if opts.Headless {
		args = append(args, "--headless")
	} else {
		args = append(args, "--ui-port", strconv.Itoa(opts.UIPort))
		if opts.UICodecEndpoint != "" {
			args = append(args, "--ui-codec-endpoint", opts.UICodecEndpoint)
		}
	}
	if opts.DBFile != "" {
		args = append(args, "--db-filename", opts.DBFile)
	}
	if opts.Namespace != "default" { // "default" always exists
		args = append(args, "--namespace", opts.Namespace)
	}
	names := make([]string, 0, len(opts.SearchAttributes))
	for name := range opts.SearchAttributes {
		names = append(names, name)
	}
	sort.Strings(names) // stable command lines make logs comparable
	for _, name := range names {
		args = append(args, "--search-attribute", name+"="+opts.SearchAttributes[name])
	}
	return args
}

func parseSearchAttributes(in map[string]string) (map[string]enumspb.IndexedValueType, error) {
	out := make(map[string]enumspb.IndexedValueType, len(in))
	for name, typ := range in {
		v, err := enumspb.IndexedValueTypeFromString(typ)
		if err != nil || v == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			return nil, fmt.Errorf("devstack: search attribute %s has type %q; want one of "+
				"Text, Keyword, Int, Double, Bool, Datetime, KeywordList", name, typ)
		}
		out[name] = v
	}
	return out, nil
}

// choosePort returns port if it is free, or a free port if it is zero. A
// fixed port that is taken is almost always a server from another run, so
// the error says how to find it.
func choosePort(port int, what string) (int, error) {
	if port == 0 {
		return FreePort()
	}
	if !portFree(port) {
		return 0, fmt.Errorf("devstack: %s port %d on 127.0.0.1 is already in use (another `make run`?); "+
			"`ss -ltnp 'sport = :%d'` shows who holds it", what, port, port)
	}
	return port, nil
}

// waitReady polls until the frontend is healthy and the search attributes
// are registered. With a reused DB file start-dev skips namespace creation,
// so search attributes added to the options since are registered here.
func (t *Temporal) waitReady(ctx context.Context, want map[string]enumspb.IndexedValueType) error {
	var lastErr error
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-t.exited:
				return fmt.Errorf("the server exited early (%v)", t.waitErr)
			case <-ctx.Done():
				if lastErr != nil {
					return fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
				}
				return ctx.Err()
			case <-time.After(250 * time.Millisecond):
			}
		}
		lastErr = t.checkOnce(ctx, want)
		var perm permanentError
		if lastErr == nil || errors.As(lastErr, &perm) {
			return lastErr
		}
	}
}

func (t *Temporal) checkOnce(ctx context.Context, want map[string]enumspb.IndexedValueType) error {
	dialCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := client.DialContext(dialCtx, client.Options{
		HostPort:  t.hostPort,
		Namespace: t.namespace,
		Logger:    quietLogger(),
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.CheckHealth(dialCtx, &client.CheckHealthRequest{}); err != nil {
		return err
	}
	resp, err := c.OperatorService().ListSearchAttributes(dialCtx,
		&operatorservice.ListSearchAttributesRequest{Namespace: t.namespace})
	if err != nil {
		return err
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range want {
		got, ok := resp.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case got != typ:
			// Permanent: retrying cannot change a registered type.
			return permanentError{fmt.Errorf("search attribute %s is registered as %s, not %s; "+
				"delete the Temporal DB file to start over", name, got, typ)}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(dialCtx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        t.namespace,
		SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("registering search attributes: %w", err)
	}
	return fmt.Errorf("search attributes %v were just registered; waiting for them to be visible", keys(missing))
}

// permanentError marks a readiness failure that retrying cannot fix.
type permanentError struct{ error }

func keys(m map[string]enumspb.IndexedValueType) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// waitUI makes sure the UI answers, since `make run` prints its URL for
// people to click.
func (t *Temporal) waitUI(ctx context.Context) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.uiURL, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-t.exited:
			return fmt.Errorf("the server exited (%v)", t.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// quietLogger keeps the SDK's connection chatter out of the output: a
// failed dial during start-up is expected and reported by us if it lasts.
func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}
