package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"portico/internal/config"
	"portico/internal/store"
	"portico/internal/vault"
)

const keysAbout = `
Makes vault keys, shows which key each stored secret (portal passwords, TOTP secrets, saved sessions) is
under, and re-encrypts them under the primary key, so that an old key can be removed without losing one:

  new [-id ID]   print a fresh vault key entry "ID:base64key" (ID defaults to k-YYYYMMDD)
  status         list the keyring's keys (primary first) and how many stored secrets are under each key
  rotate         re-encrypt every stored secret that is not under the primary key

The keyring comes from PORTICO_VAULT_KEY (comma-separated entries) or PORTICO_VAULT_KEY_FILE (one entry a
line); the first entry is the primary, which encrypts; every entry decrypts. The database is
PORTICO_DATABASE_URL. Run "starter keys <command> -h" for a command's flags.`

// keysCmd makes vault keys, shows which key each stored secret is under, and rotates the secrets to
// the primary key, so that an old key can be removed without losing a password, TOTP secret or session.
func keysCmd(ctx context.Context, e *env, args []string) error {
	top := newFlags("keys", "keys <new | status | rotate> [flags]", keysAbout)
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if _, err := top.positional(e, args, 1, 1, "new, status or rotate"); err != nil {
			return err
		}
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "help":
		top.usage(e.stdout)
		return nil
	case "new":
		return keysNew(e, rest)
	case "status":
		return keysStatus(ctx, e, rest)
	case "rotate":
		return keysRotate(ctx, e, rest)
	}
	return top.fail("unknown keys command %q: want new, status or rotate", sub)
}

func keysNew(e *env, args []string) error {
	f := newFlags("keys new", "keys new [-id ID]", "Prints a fresh key entry on stdout; the key itself is shown nowhere else, so keep it safe.")
	id := f.String("id", "k-"+e.now().UTC().Format("20060102"), "the key's ID: stored with every value it encrypts, so keep it short and never reuse one")
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	// A comma would split the entry in PORTICO_VAULT_KEY; blanks are trimmed away by the keyring.
	if *id == "" || strings.ContainsAny(*id, ":,# \t\r\n") {
		return f.fail("key ID %q: use letters, digits, '-', '_' or '.'", *id)
	}
	entry, err := vault.NewKeyEntry(*id)
	if err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	if _, err := vault.NewKeyring(entry); err != nil {
		return fmt.Errorf("keys new: %w", err)
	}
	fmt.Fprintln(e.stdout, entry)
	fmt.Fprintf(e.stderr, "Put this entry first in the keyring of every worker (keep the current keys after it), restart them, then run \"starter keys rotate\".\n")
	return nil
}

func keysStatus(ctx context.Context, e *env, args []string) error {
	f := newFlags("keys status", "keys status", "Lists the keyring's keys and, for every key ID, how many stored secrets are under it.")
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	out := e.stdout
	// The counts come from the values' plaintext headers, so they are shown even without a keyring.
	keys, err := vault.FromEnv()
	if err != nil && !errors.Is(err, vault.ErrNoKey) {
		return err
	}
	var ids []string
	if keys != nil {
		if ids, err = keyringIDs(); err != nil {
			return err
		}
	}
	st, err := openKeysStore(ctx, keys)
	if err != nil {
		return err
	}
	defer st.Close()
	counts, err := st.SecretKeyIDs(ctx)
	if err != nil {
		return err
	}

	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEY ID\tIN KEYRING\tSECRETS")
	total, old, missing := 0, 0, 0
	for i, id := range ids {
		role := "yes"
		if i == 0 {
			role = "yes, primary"
		} else {
			old += counts[id]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", id, role, counts[id])
		total += counts[id]
	}
	var unknown []string
	for id := range counts {
		if !slices.Contains(ids, id) {
			unknown = append(unknown, id)
		}
	}
	slices.Sort(unknown)
	for _, id := range unknown {
		name := id
		if id == "" {
			name = "(unreadable header)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", name, "NO", counts[id])
		total += counts[id]
		missing += counts[id]
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	switch {
	case keys == nil:
		fmt.Fprintf(out, "\n%d stored secrets. No keyring is configured here (PORTICO_VAULT_KEY or PORTICO_VAULT_KEY_FILE), so none can be opened.\n", total)
	case missing > 0:
		fmt.Fprintf(out, "\n%d stored secrets are under keys this keyring does not hold: they cannot be opened. Put those keys back (after the primary) before anything else.\n", missing)
	case old > 0:
		fmt.Fprintf(out, "\n%d stored secrets are under keys other than the primary: run \"starter keys rotate\" before removing any key.\n", old)
	default:
		fmt.Fprintf(out, "\nAll %d stored secrets are under the primary key %s: keys other than the primary may be removed.\n", total, keys.PrimaryKeyID())
	}
	return nil
}

func keysRotate(ctx context.Context, e *env, args []string) error {
	f := newFlags("keys rotate", "keys rotate", `
Re-encrypts under the primary key every stored secret that is under another key of the keyring. Every
worker must have the new primary key first in its keyring before this runs; running it again is harmless.`)
	if _, err := f.positional(e, args, 0, 0, "no arguments"); err != nil {
		return err
	}
	out := e.stdout
	keys, err := vault.FromEnv()
	if err != nil {
		return err
	}
	st, err := openKeysStore(ctx, keys)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, rerr := st.RotateSecrets(ctx)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "COLUMN\tALREADY CURRENT\tRE-ENCRYPTED")
	for _, c := range rep.Columns {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", c.Column, c.Current, c.ReEncrypted)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rerr != nil {
		fmt.Fprintln(out, "\nThe rotation stopped; what is counted above is done. Fix the cause and run it again.")
		return rerr
	}
	fmt.Fprintf(out, "\n%d secrets re-encrypted under key %s. Check with \"starter keys status\" before removing an old key.\n", rep.ReEncrypted(), rep.PrimaryKeyID)
	return nil
}

func openKeysStore(ctx context.Context, keys *vault.Keyring) (*store.Store, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DatabaseURL, keys)
}

// keyringIDs lists the IDs of the keyring's entries, primary first, reading the same settings as
// vault.FromEnv (which has validated them), because the keyring does not reveal its IDs.
func keyringIDs() ([]string, error) {
	var entries []string
	if v := os.Getenv("PORTICO_VAULT_KEY"); v != "" {
		entries = strings.Split(v, ",")
	} else if path := os.Getenv("PORTICO_VAULT_KEY_FILE"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vault: read key file: %w", err)
		}
		entries = strings.Split(string(data), "\n")
	}
	var ids []string
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if e == "" || strings.HasPrefix(e, "#") {
			continue
		}
		id, _, _ := strings.Cut(e, ":")
		ids = append(ids, id)
	}
	return ids, nil
}
