// Command benchtable turns `go test -bench` output into one table: every metric every benchmark reported,
// with, for a ratio, the absolute values it was made of (value and baseline, both measured in the same run),
// and the figure's target from the targets table (targets.go) with whether it is met. Unknown metrics are
// printed too, without a target; skipped and failed benchmarks get a row saying so.
//
// It prints the table and, with -o, writes it into results.md: a header describing the run (machine, OS, Go,
// Chromium, date, git commit, command, the PORTICO_BENCH_* sizes), the table, the chaos section (between
// <!-- chaos --> and <!-- /chaos -->: the content of -chaos if that file exists, else what the file had),
// and the earlier runs under History, newest first.
//
//	go test -run '^$' -bench . -benchtime 1x ./... | tee bench/last.txt
//	go run ./internal/benchenv/cmd/benchtable -o bench/results.md < bench/last.txt
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, time.Now()); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer, now time.Time) error {
	fl := flag.NewFlagSet("benchtable", flag.ContinueOnError)
	out := fl.String("o", "", "results file to write (e.g. bench/results.md); empty: print the table only")
	chaos := fl.String("chaos", "", "file whose content fills the chaos section (default chaos.md beside -o)")
	cmd := fl.String("cmd", "go test -run '^$' -bench . ./...", "the command that produced the input, for the record")
	keep := fl.Int("keep", 100, "earlier runs kept under History (0: all)")
	fl.BoolVar(&showDetails, "details", false, "also print the detail metrics of benchmarks that report measured_/baseline_/ratio")
	strict := fl.Bool("strict", false, "exit 1 when a figure misses its target or a benchmark failed")
	chaosOnly := fl.Bool("chaos-only", false, "only copy the chaos file into the chaos section of -o (what `make chaos` does); read no benchmark output")
	fl.Usage = func() {
		fmt.Fprintln(fl.Output(), "usage: benchtable [-o results.md] [-chaos chaos.md] [-cmd command] [file ...] (default: stdin)")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *chaosOnly {
		if *out == "" {
			return errors.New("-chaos-only needs -o")
		}
		if *chaos == "" {
			*chaos = filepath.Join(filepath.Dir(*out), "chaos.md")
		}
		return refreshChaos(*out, *chaos, stdout)
	}
	var in io.Reader = stdin
	if fl.NArg() > 0 {
		var rs []io.Reader
		for _, name := range fl.Args() {
			f, err := os.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			rs = append(rs, f)
		}
		in = io.MultiReader(rs...)
	}
	res, err := Parse(in)
	if err != nil {
		return err
	}
	if len(res.Results) == 0 && len(res.Problems) == 0 {
		return errors.New("no benchmark results in the input")
	}
	rows := Rows(res, targets)
	table := Markdown(rows)
	notRun := NotRun(res, targets)
	fmt.Fprint(stdout, table)
	if len(notRun) > 0 {
		fmt.Fprintf(stdout, "\nNot in this run: %s.\n", strings.Join(notRun, ", "))
	}
	if *out != "" {
		if *chaos == "" {
			*chaos = filepath.Join(filepath.Dir(*out), "chaos.md")
		}
		if err := write(*out, *chaos, Gather(res.CPU, *cmd, now), table, notRun, *keep); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nwritten to %s\n", *out)
	}
	if *strict {
		for _, r := range rows {
			if r.Met == "✗" || strings.HasPrefix(r.Met, "fail") {
				return fmt.Errorf("%s: %s", r.Figure, r.Met)
			}
		}
	}
	return nil
}

// refreshChaos copies the chaos file into the chaos section of results.md, leaving the runs as they are.
func refreshChaos(path, chaosPath string, stdout io.Writer) error {
	data, err := os.ReadFile(chaosPath)
	if err != nil {
		return fmt.Errorf("no chaos run to copy: %w", err)
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := writeAtomic(path, []byte(WithChaos(string(old), string(data)))); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "chaos section of %s updated from %s\n", path, chaosPath)
	return nil
}

func write(path, chaosPath string, info Info, table string, notRun []string, keep int) error {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var chaos *string
	if data, err := os.ReadFile(chaosPath); err == nil {
		s := string(data)
		chaos = &s
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return writeAtomic(path, []byte(Update(string(old), RunBlock(info, table, notRun), chaos, keep)))
}

// writeAtomic replaces path with data, so an interrupted write never leaves half a results file.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
