package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DefaultPostgresBinDir is where Debian's postgresql-15 package puts the
// server binaries; they are not on $PATH there, so they must be found by
// path. PORTICO_PG_BIN_DIR overrides it.
const DefaultPostgresBinDir = "/usr/lib/postgresql/15/bin"

const (
	pgServerLog = "postgres.log"
	// maxSocketDirLen keeps "<dir>/.s.PGSQL.<port>.lock" under the 107-byte
	// limit of a Unix socket path; longer data dirs get a socket dir in /tmp.
	maxSocketDirLen = 80
)

// PostgresOptions configures StartPostgres. The zero value gives a
// throw-away cluster on a free port, which is what tests want.
type PostgresOptions struct {
	// DataDir holds the cluster. Empty means a fresh temporary directory that
	// Stop removes; a path that exists is reused across runs, so `make run`
	// keeps its data.
	DataDir string
	// Port is the TCP port on 127.0.0.1. Zero picks a free one.
	Port int
	// Database is created if missing; it defaults to "portico".
	Database string
	// Log receives progress lines and the output of initdb and pg_ctl. The
	// server's own log always goes to postgres.log in the data dir.
	Log io.Writer
}

// Postgres is a running PostgreSQL cluster started by StartPostgres. It is
// owned by the caller, who must call Stop.
type Postgres struct {
	binDir   string
	dataDir  string
	sockDir  string
	port     int
	database string
	temp     bool // dataDir is ours to delete
	ownSock  bool // sockDir is a separate temp dir to delete
	runAs    *osUser
	log      io.Writer

	mu      sync.Mutex
	stopped bool
}

// osUser is the account the server runs as when we are root, because
// initdb and postgres refuse to run as root.
type osUser struct {
	name     string
	uid, gid int
	runuser  string
}

// StartPostgres initialises the cluster if needed, starts it with pg_ctl and
// makes sure the database exists, so the returned DSN is immediately usable.
//
// A postmaster that a previous, killed run left behind on the same DataDir
// is stopped first: pg_ctl cannot follow its parent's death, and without
// this a second `make run` would fail on the lock file.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.Database == "" {
		opts.Database = "portico"
	}
	binDir, err := postgresBinDir()
	if err != nil {
		return nil, err
	}
	runAs, err := postgresRunAs()
	if err != nil {
		return nil, err
	}
	p := &Postgres{binDir: binDir, database: opts.Database, runAs: runAs, log: opts.Log}

	if opts.DataDir == "" {
		dir, err := os.MkdirTemp("", "portico-pg-")
		if err != nil {
			return nil, fmt.Errorf("devstack: creating a temporary PostgreSQL data dir: %w", err)
		}
		p.dataDir, p.temp = dir, true
	} else {
		if p.dataDir, err = absDir(opts.DataDir); err != nil {
			return nil, err
		}
		// Parents get 0755 so that the postgres user can traverse them.
		if err := os.MkdirAll(filepath.Dir(p.dataDir), 0o755); err != nil {
			return nil, fmt.Errorf("devstack: creating PostgreSQL data dir: %w", err)
		}
		if err := os.Mkdir(p.dataDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("devstack: creating PostgreSQL data dir: %w", err)
		}
	}
	// From here on a failure must not leak the temp dirs.
	ok := false
	defer func() {
		if !ok {
			p.cleanupDirs()
		}
	}()

	if len(p.dataDir) <= maxSocketDirLen {
		p.sockDir = p.dataDir
	} else {
		dir, err := os.MkdirTemp("", "portico-pgsock-")
		if err != nil {
			return nil, fmt.Errorf("devstack: creating a PostgreSQL socket dir: %w", err)
		}
		p.sockDir, p.ownSock = dir, true
	}
	if err := p.prepareOwnership(); err != nil {
		return nil, err
	}

	if _, err := os.Stat(filepath.Join(p.dataDir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := p.initdb(ctx); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("devstack: reading %s: %w", p.dataDir, err)
	} else if err := p.stopStalePostmaster(ctx); err != nil {
		return nil, err
	}

	if err := p.start(ctx, opts.Port); err != nil {
		return nil, err
	}
	if err := p.ensureDatabase(ctx); err != nil {
		_ = p.pgCtlStop(context.Background())
		return nil, err
	}
	ok = true
	return p, nil
}

// DSN is a pgx/libpq URL for the database over TCP; trust auth means no
// password is needed.
func (p *Postgres) DSN() string {
	return p.dsnFor(p.database)
}

// Port is the TCP port the server listens on, useful when it was picked
// automatically.
func (p *Postgres) Port() int { return p.port }

// DataDir is where the cluster lives; for a temporary cluster it disappears
// at Stop.
func (p *Postgres) DataDir() string { return p.dataDir }

func (p *Postgres) dsnFor(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, url.PathEscape(db))
}

// Stop shuts the server down with a fast shutdown (open sessions are
// disconnected, no waiting for clients) and removes a temporary data dir.
// It is safe to call more than once.
func (p *Postgres) Stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return nil
	}
	p.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := p.pgCtlStop(ctx)
	if err != nil && p.temp {
		// Deleting the directory under a live postmaster would orphan it.
		if err2 := p.pgCtl(ctx, "stop", "-m", "immediate", "-w"); err2 == nil || !p.postmasterPIDExists() {
			err = nil
		}
	}
	if err == nil {
		p.cleanupDirs()
	}
	return err
}

func (p *Postgres) cleanupDirs() {
	if p.temp {
		_ = os.RemoveAll(p.dataDir)
	}
	if p.ownSock {
		_ = os.RemoveAll(p.sockDir)
	}
}

func (p *Postgres) pgCtlStop(ctx context.Context) error {
	err := p.pgCtl(ctx, "stop", "-m", "fast", "-w", "-t", "60")
	if err != nil && !p.postmasterPIDExists() {
		// Already gone, e.g. stopped by hand: that is what Stop wants.
		return nil
	}
	return err
}

func (p *Postgres) postmasterPIDExists() bool {
	_, err := os.Stat(filepath.Join(p.dataDir, "postmaster.pid"))
	return err == nil
}

// postgresBinDir finds initdb and pg_ctl, which Debian keeps off $PATH.
func postgresBinDir() (string, error) {
	var candidates []string
	if env := os.Getenv("PORTICO_PG_BIN_DIR"); env != "" {
		candidates = append(candidates, env)
	} else {
		candidates = append(candidates, DefaultPostgresBinDir)
		others, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Sort(sort.Reverse(sort.StringSlice(others)))
		candidates = append(candidates, others...)
		if path, err := exec.LookPath("pg_ctl"); err == nil {
			candidates = append(candidates, filepath.Dir(path))
		}
	}
	for _, dir := range candidates {
		if isExecutable(filepath.Join(dir, "pg_ctl")) && isExecutable(filepath.Join(dir, "initdb")) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("devstack: PostgreSQL server binaries (initdb, pg_ctl) not found in %s: "+
		"run `make tools` (installs Debian's postgresql-15) or set PORTICO_PG_BIN_DIR", strings.Join(candidates, ", "))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// postgresRunAs returns the account to drop to, or nil when we are not root
// and can run the server as ourselves.
func postgresRunAs() (*osUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("devstack: running as root, so PostgreSQL must run as the `postgres` OS user, "+
			"but looking it up failed (%v): run `make tools` (Debian's postgresql-15 package creates it)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		runuser = "/usr/sbin/runuser"
		if !isExecutable(runuser) {
			return nil, fmt.Errorf("devstack: running as root needs runuser (util-linux) to start PostgreSQL as `postgres`: %w", err)
		}
	}
	return &osUser{name: u.Username, uid: uid, gid: gid, runuser: runuser}, nil
}

// command runs a PostgreSQL binary as the server's user.
func (p *Postgres) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	bin := filepath.Join(p.binDir, name)
	var cmd *exec.Cmd
	if p.runAs != nil {
		cmd = exec.CommandContext(ctx, p.runAs.runuser, append([]string{"-u", p.runAs.name, "--", bin}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, bin, args...)
	}
	// The caller's working directory may be unreadable for postgres (e.g.
	// under /root); "/" always works since every path we pass is absolute.
	cmd.Dir = "/"
	return cmd
}

// run executes a PostgreSQL tool, mirroring its output to the log and
// returning it in the error.
func (p *Postgres) run(cmd *exec.Cmd) error {
	tail := newTailBuffer(8 << 10)
	out := outputWriter(p.log, tail)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, indent(tailLines(tail.String(), 30)))
	}
	return nil
}

func (p *Postgres) pgCtl(ctx context.Context, args ...string) error {
	return p.run(p.command(ctx, "pg_ctl", append([]string{"-D", p.dataDir}, args...)...))
}

// prepareOwnership hands the data and socket dirs to the postgres user and
// makes their parents traversable for it. Only needed when we are root: the
// temp dirs are created 0700 by root, and t.TempDir() parents are 0700 too.
func (p *Postgres) prepareOwnership() error {
	if p.runAs == nil {
		return nil
	}
	for _, dir := range []string{p.dataDir, p.sockDir} {
		if err := chownTree(dir, p.runAs.uid, p.runAs.gid); err != nil {
			return fmt.Errorf("devstack: giving %s to the postgres user: %w", dir, err)
		}
		if err := p.makeParentsTraversable(dir); err != nil {
			return err
		}
	}
	return nil
}

// chownTree changes ownership only when the top directory is not already
// owned by uid, so reusing a big persistent cluster stays cheap.
func chownTree(dir string, uid, gid int) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func (p *Postgres) makeParentsTraversable(dir string) error {
	for parent := filepath.Dir(dir); ; parent = filepath.Dir(parent) {
		fi, err := os.Stat(parent)
		if err != nil {
			return fmt.Errorf("devstack: checking %s: %w", parent, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			logf(p.log, "adding o+x to %s so the postgres user can reach %s", parent, dir)
			if err := os.Chmod(parent, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("devstack: %s is not traversable by the postgres user and chmod failed: %w "+
					"(choose a data dir outside it)", parent, err)
			}
		}
		if parent == filepath.Dir(parent) {
			return nil
		}
	}
}

func (p *Postgres) initdb(ctx context.Context) error {
	logf(p.log, "initialising PostgreSQL cluster in %s", p.dataDir)
	args := []string{"-D", p.dataDir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"}
	if p.temp {
		args = append(args, "--no-sync")
	}
	if err := p.run(p.command(ctx, "initdb", args...)); err != nil {
		hint := ""
		if entries, _ := os.ReadDir(p.dataDir); len(entries) > 0 && !p.temp {
			hint = " (the directory is not empty and is not a PostgreSQL cluster: empty it or pick another DataDir)"
		}
		return fmt.Errorf("devstack: initdb failed%s: %w", hint, err)
	}
	return nil
}

// stopStalePostmaster deals with a postmaster.pid left by an earlier run.
// Stopping rather than reusing the old server keeps ownership simple: the
// returned *Postgres always controls the process it reports, on the port
// the caller asked for.
func (p *Postgres) stopStalePostmaster(ctx context.Context) error {
	pidFile := filepath.Join(p.dataDir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("devstack: reading %s: %w", pidFile, err)
	}
	lines := strings.Split(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(lines[0]))
	if pid <= 0 || !processAlive(pid) {
		// postgres would cope with a dead PID itself; removing the file just
		// keeps the server log free of a confusing warning.
		logf(p.log, "removing stale %s (pid %d is gone)", pidFile, pid)
		return os.Remove(pidFile)
	}
	mine, err := p.isPostmasterOfDataDir(pid)
	if err != nil {
		return err
	}
	if !mine {
		// The PID was recycled by an unrelated process: postgres would refuse
		// to start if that process belongs to its user.
		logf(p.log, "removing stale %s (pid %d now belongs to another program)", pidFile, pid)
		return os.Remove(pidFile)
	}
	port := ""
	if len(lines) > 3 {
		port = strings.TrimSpace(lines[3])
	}
	logf(p.log, "stopping PostgreSQL (pid %d, port %s) left running on %s by a previous run", pid, port, p.dataDir)
	if err := p.pgCtl(ctx, "stop", "-m", "fast", "-w", "-t", "60"); err != nil {
		if err2 := p.pgCtl(ctx, "stop", "-m", "immediate", "-w", "-t", "30"); err2 != nil {
			return fmt.Errorf("devstack: a PostgreSQL server (pid %d) still runs on %s and could not be stopped; "+
				"stop it by hand (kill %d) and retry: %w", pid, p.dataDir, pid, err)
		}
	}
	return nil
}

// processAlive treats zombies as dead: in containers whose PID 1 reaps
// lazily, a crashed postmaster can linger as a zombie that kill(pid, 0)
// still reports, although it holds nothing.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name, which may itself
	// contain ") ".
	if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] != 'Z' && stat[i+2] != 'X'
	}
	return true
}

// isPostmasterOfDataDir tells a live postmaster of this cluster from a
// recycled PID, so that we never signal an unrelated process.
func (p *Postgres) isPostmasterOfDataDir(pid int) (bool, error) {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false, fmt.Errorf("devstack: %s/postmaster.pid names live pid %d but /proc/%d is unreadable (%v): "+
			"stop that process by hand if it is PostgreSQL, or delete postmaster.pid if it is not", p.dataDir, pid, pid, err)
	}
	if strings.TrimSpace(string(comm)) != "postgres" {
		return false, nil
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		// Not allowed to look (another user's process): trust the name.
		return true, nil
	}
	want, err := filepath.EvalSymlinks(p.dataDir)
	if err != nil {
		want = p.dataDir
	}
	return cwd == want, nil
}

// start runs pg_ctl start. With an automatic port it retries on a bind
// failure, since FreePort cannot reserve the port it returns.
func (p *Postgres) start(ctx context.Context, port int) error {
	attempts := 1
	if port == 0 {
		attempts = 3
	} else if !portFree(port) {
		return fmt.Errorf("devstack: port %d on 127.0.0.1 is already in use; stop whatever listens there "+
			"(`ss -ltnp 'sport = :%d'` shows it) or use another port", port, port)
	}
	for i := 1; ; i++ {
		p.port = port
		if p.port == 0 {
			var err error
			if p.port, err = FreePort(); err != nil {
				return err
			}
		}
		logPath := filepath.Join(p.dataDir, pgServerLog)
		var logOffset int64
		if fi, err := os.Stat(logPath); err == nil {
			logOffset = fi.Size()
		}
		logf(p.log, "starting PostgreSQL on 127.0.0.1:%d (data %s)", p.port, p.dataDir)
		err := p.pgCtl(ctx, "start", "-w", "-t", "120", "-l", logPath, "-o", p.serverOptions())
		if err == nil {
			return nil
		}
		serverLog := readFrom(logPath, logOffset)
		if i < attempts && strings.Contains(serverLog, "could not bind") {
			logf(p.log, "port %d was taken meanwhile, retrying with another one", p.port)
			continue
		}
		// A server that failed to come up within the timeout may still be
		// starting; don't leave it behind.
		if p.postmasterPIDExists() {
			_ = p.pgCtl(context.Background(), "stop", "-m", "immediate", "-w")
		}
		return fmt.Errorf("devstack: PostgreSQL did not start; the end of %s says:\n%s\n%w",
			logPath, indent(tailLines(serverLog, 20)), err)
	}
}

func (p *Postgres) serverOptions() string {
	opts := []string{
		"-p", strconv.Itoa(p.port),
		"-c", "listen_addresses=127.0.0.1",
		"-k", shellQuote(p.sockDir),
	}
	if p.temp {
		// Durability is pointless for a cluster deleted at Stop, and these
		// make test suites markedly faster on slow disks.
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	return strings.Join(opts, " ")
}

// shellQuote is needed because pg_ctl hands -o to /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(could not read %s: %v)", path, err)
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return tailFile(path, 20)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

func (p *Postgres) ensureDatabase(ctx context.Context) error {
	var conn *pgx.Conn
	var err error
	// pg_ctl -w returns once the server accepts connections, but allow a
	// short grace period for slow machines anyway.
	deadline := time.Now().Add(15 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err = pgx.Connect(cctx, p.dsnFor("postgres"))
		cancel()
		if err == nil || ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("devstack: PostgreSQL started but connecting to it failed; the end of %s says:\n%s\n%w",
			filepath.Join(p.dataDir, pgServerLog), indent(tailFile(filepath.Join(p.dataDir, pgServerLog), 20)), err)
	}
	defer conn.Close(context.Background())

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", p.database).Scan(&exists); err != nil {
		return fmt.Errorf("devstack: checking for database %q: %w", p.database, err)
	}
	if exists {
		return nil
	}
	logf(p.log, "creating database %q", p.database)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{p.database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // duplicate_database: created concurrently
		err = nil
	}
	if err != nil {
		return fmt.Errorf("devstack: creating database %q: %w", p.database, err)
	}
	return nil
}
