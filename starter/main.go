// Command starter is Portico's command line: start the workflow of an ERP invoice, approve or reject its
// draft, see which drafts wait and where an invoice stands, report open receivables by age, and keep the
// PO-sync schedules in step with the portal accounts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"portico/internal/config"
	"portico/internal/service"
	"portico/internal/store"
)

// env is what the commands take from the process, so that tests run them in-process and read what they
// write.
type env struct {
	stdout, stderr io.Writer
	// dir is where "evidence" writes a file when no -o names one.
	dir string
	now func() time.Time
	// pollEvery is how often long operations look at their progress.
	pollEvery time.Duration
}

func osEnv() *env {
	return &env{stdout: os.Stdout, stderr: os.Stderr, dir: ".", now: time.Now, pollEvery: time.Second}
}

// command is one subcommand: its name, the arguments it takes and one line of what it does, for the
// command list.
type command struct {
	name    string
	args    string
	summary string
	run     func(ctx context.Context, e *env, args []string) error
}

// commands is a function rather than a variable because "help" refers to the list.
func commands() []command {
	return []command{
		{"start", "<invoice-id>...", "start the workflow of ERP invoices (starting one twice is harmless)", startCmd},
		{"drafts", "[-customer C] [-account A] [-older-than D]", "list drafts awaiting approval: amount, customer, age, evidence", draftsCmd},
		{"approve", "<invoice-id> -approver A [-note N] [-draft V]", "approve a draft awaiting approval; it is then submitted", decisionCmd("approve")},
		{"reject", "<invoice-id> -approver A [-note N] [-draft V]", "reject a draft; it is deleted from the portal", decisionCmd("reject")},
		{"request-changes", "<invoice-id> -approver A -note N [-draft V]", `send a draft back: it is deleted and waits for "resolve"`, decisionCmd("request-changes")},
		{"resolve", "<invoice-id> -by P -action resubmit|void|give_up [flags]", "settle an invoice that needs attention or had changes requested", resolveCmd},
		{"state", "<invoice-id>", "show an invoice's stage, checks, evidence and portal status (JSON)", stateCmd},
		{"history", "<invoice-id>", "show an invoice's ERP status history, its decisions and its workflow", historyCmd},
		{"evidence", "<evidence-id> [-o FILE]", "write a draft's screenshot or keyed-in values to a file", evidenceCmd},
		{"aging", "[-as-of YYYY-MM-DD] [-customer C] [-format table|csv]", "AR aging report of open invoices, with their portal stage and status", agingCmd},
		{"matches", "[account-id] [-limit N]", "list what PO matching left for a person", matchesCmd},
		{"approvers", "<customer-id> [list | add <e-mail>... | remove <e-mail>...]", "who may decide on a customer's drafts", approversCmd},
		{"audit", "[-invoice ID] [-actor E] [-refused] [-since D]", "every decision sent, accepted or refused", auditCmd},
		{"schedules", "[ensure | trigger <account> [-wait] | pause | unpause | runs <account>]", "keep the PO-sync schedules; run, pause or watch an account's sync", schedulesCmd},
		{"keys", "[new | status | rotate]", "make a vault key, show or rotate the keys the stored secrets are under", keysCmd},
		{"help", "[command]", "show this list, or a command's usage", helpCmd},
	}
}

func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func writeUsage(w io.Writer) {
	fmt.Fprint(w, "Usage: starter <command> [arguments] [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Environment: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, PORTICO_DATABASE_URL, PORTICO_PAYLOAD_KEY or
PORTICO_PAYLOAD_KEY_FILE (payload encryption), PORTICO_VAULT_KEY or PORTICO_VAULT_KEY_FILE (keys only),
TEMPORAL_UI_URL (links; default http://127.0.0.1:8233). See README.
Run "starter <command> -h" for a command's arguments and flags.
`)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, osEnv(), os.Args[1:])
	stop()
	os.Exit(code)
}

// Exit codes: 2 is a mistake in the command line, as flag and most tools use it.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// run runs the command line args (without the program name) and returns the exit code.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		writeUsage(e.stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		writeUsage(e.stdout)
		return exitOK
	}
	cmd, ok := lookup(name)
	if !ok {
		fmt.Fprintf(e.stderr, "starter: unknown command %q\n\n", name)
		writeUsage(e.stderr)
		return exitUsage
	}
	err := cmd.run(ctx, e, args[1:])
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(e.stderr, "starter %s: %s\n", name, ue.msg)
		if ue.usage != nil {
			fmt.Fprintln(e.stderr)
			ue.usage(e.stderr)
		}
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "starter %s: %v\n", name, err)
	return exitError
}

func helpCmd(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		writeUsage(e.stdout)
		return nil
	}
	cmd, ok := lookup(args[0])
	if !ok || cmd.name == "help" {
		return &usageError{msg: fmt.Sprintf("unknown command %q", args[0]), usage: writeUsage}
	}
	return cmd.run(ctx, e, append([]string{"-h"}, args[1:]...))
}

// errHelpShown reports that a command printed its usage because -h asked for it: success, not failure.
var errHelpShown = errors.New("help shown")

// usageError is a mistake in the command line; the command's usage follows the message.
type usageError struct {
	msg   string
	usage func(io.Writer)
}

func (u *usageError) Error() string { return u.msg }

// flags is a command's flag set with the text of its usage.
type flags struct {
	*flag.FlagSet
	synopsis string // "starter approve <invoice-id> ..."
	about    string
}

func newFlags(name, synopsis, about string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// The usage is printed by parse, to stdout when asked for and to stderr after a mistake.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, synopsis: synopsis, about: about}
}

func (f *flags) usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: starter %s\n", f.synopsis)
	if f.about != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(f.about))
	}
	n := 0
	f.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprint(w, "\nFlags:\n")
		f.SetOutput(w)
		f.PrintDefaults()
		f.SetOutput(io.Discard)
	}
}

// parse parses args with flags anywhere among the positional arguments (people type the invoice ID first)
// and returns the positional ones. -h or --help prints the usage to stdout and returns errHelpShown.
func (f *flags) parse(e *env, args []string) ([]string, error) {
	var pos []string
	for {
		if err := f.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.usage(e.stdout)
				return nil, errHelpShown
			}
			return nil, f.fail("%v", err)
		}
		args = f.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// fail is a usage error of the command, followed by its usage.
func (f *flags) fail(format string, a ...any) error {
	return &usageError{msg: fmt.Sprintf(format, a...), usage: f.usage}
}

// positional parses args and checks that between least and most positional arguments came (most < 0: no
// limit).
func (f *flags) positional(e *env, args []string, least, most int, what string) ([]string, error) {
	pos, err := f.parse(e, args)
	if err != nil {
		return nil, err
	}
	if len(pos) < least || (most >= 0 && len(pos) > most) {
		return nil, f.fail("want %s, got %d argument(s)", what, len(pos))
	}
	return pos, nil
}

// dial connects to Temporal through service.Dial, with payload encryption; client warnings go to stderr.
func (e *env) dial(ctx context.Context) (client.Client, config.Config, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, cfg, err
	}
	quiet := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, err := service.Dial(ctx, cfg, quiet)
	return c, cfg, err
}

// openStore opens the ERP database. The starter reads invoices and accounts but never secrets, so it holds
// no vault key ("keys" opens its own store with one).
func (e *env) openStore(ctx context.Context) (*store.Store, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DatabaseURL, nil)
}

// connect opens both Temporal and the database; closeAll releases both.
func (e *env) connect(ctx context.Context) (c client.Client, st *store.Store, cfg config.Config, closeAll func(), err error) {
	if c, cfg, err = e.dial(ctx); err != nil {
		return nil, nil, cfg, nil, err
	}
	if st, err = e.openStore(ctx); err != nil {
		c.Close()
		return nil, nil, cfg, nil, err
	}
	return c, st, cfg, func() { st.Close(); c.Close() }, nil
}

// uiURL is the Temporal UI that links point to.
func uiURL() string {
	if v := strings.TrimSpace(os.Getenv("TEMPORAL_UI_URL")); v != "" {
		return v
	}
	return "http://127.0.0.1:8233"
}
