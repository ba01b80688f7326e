package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"portico/internal/config"
)

// Gather describes this machine and checkout; cpu is go test's "cpu:" line, used when /proc/cpuinfo
// names none.
func Gather(cpu, command string, now time.Time) Info {
	info := Info{Date: now, CPU: cpuModel(), CPUs: runtime.NumCPU(), Memory: memTotal(), OS: osName(), Go: goVersion(),
		Chromium: chromiumVersion(), Commit: gitCommit(), Command: command, Sizes: sizes()}
	if info.CPU == "" {
		info.CPU = cpu
	}
	return info
}

func cpuModel() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func memTotal() string {
	data, _ := os.ReadFile("/proc/meminfo")
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err == nil {
				return fmt.Sprintf("%.1f GiB", kb/(1<<20))
			}
		}
	}
	return ""
}

func osName() string {
	name := runtime.GOOS
	data, _ := os.ReadFile("/etc/os-release")
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PRETTY_NAME="); ok {
			name = strings.Trim(v, `"`)
		}
	}
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		name += ", " + strings.ToUpper(runtime.GOOS[:1]) + runtime.GOOS[1:] + " " + strings.TrimSpace(string(k))
	}
	return name + " (" + runtime.GOARCH + ")"
}

// goVersion is the toolchain's: `go run` builds this tool with the go that ran the benchmarks.
func goVersion() string {
	if out := command("go", "env", "GOVERSION"); out != "" {
		return out
	}
	return runtime.Version()
}

// chromiumVersion asks $PORTICO_CHROMIUM, else /usr/bin/chromium, for its version.
func chromiumVersion() string {
	bin := os.Getenv("PORTICO_CHROMIUM")
	if bin == "" {
		bin = "/usr/bin/chromium"
	}
	if _, err := os.Stat(bin); err != nil {
		return ""
	}
	out := command(bin, "--version")
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Chromium") || strings.Contains(l, "Chrome") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// gitCommit is the short commit, marked when the checkout differs from it outside bench/ (which the run
// itself writes).
func gitCommit() string {
	c := command("git", "rev-parse", "--short", "HEAD")
	if c == "" {
		return ""
	}
	if command("git", "status", "--porcelain", "--", ".", ":(exclude)bench") != "" {
		c += " (uncommitted changes)"
	}
	return c
}

// sizes are the benchmark variables (config.Variables of scope bench) set in the environment, sorted.
func sizes() []string {
	var s []string
	for _, v := range config.Variables {
		if val, ok := os.LookupEnv(v.Name); ok && v.Scope == "bench" {
			s = append(s, v.Name+"="+val)
		}
	}
	slices.Sort(s)
	return s
}

// command runs a short command and returns its trimmed output, or "" if it failed.
func command(name string, args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
