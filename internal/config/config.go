// Package config reads Portico's settings from the environment, with defaults that match `make run`.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Config is every setting the worker and starter read.
type Config struct {
	DatabaseURL       string // PORTICO_DATABASE_URL
	TemporalAddress   string // TEMPORAL_ADDRESS
	TemporalNamespace string // TEMPORAL_NAMESPACE
	ChromiumPath      string // PORTICO_CHROMIUM
	BrowserSlots      int    // PORTICO_BROWSER_SLOTS: browser activities run at once per worker
	LogLevel          string // PORTICO_LOG_LEVEL: debug, info, warn, error
	PortalsDir        string // PORTICO_PORTALS_DIR: user portal definitions, picked up without a restart
	EvidenceDir       string // PORTICO_EVIDENCE_DIR: screenshots and page HTML kept as evidence
	HTTPAddr          string // PORTICO_HTTP_ADDR: ERP API, codec server and health endpoints; empty: none
}

// DefaultDatabaseURL is the database `make run` starts.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:54329/portico?sslmode=disable"

// FromEnv reads the configuration; an unparsable value is an error naming the variable.
func FromEnv() (Config, error) {
	c := Config{
		DatabaseURL:       env("PORTICO_DATABASE_URL", DefaultDatabaseURL),
		TemporalAddress:   env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		TemporalNamespace: env("TEMPORAL_NAMESPACE", "default"),
		ChromiumPath:      os.Getenv("PORTICO_CHROMIUM"),
		LogLevel:          env("PORTICO_LOG_LEVEL", "info"),
		PortalsDir:        os.Getenv("PORTICO_PORTALS_DIR"),
		EvidenceDir:       env("PORTICO_EVIDENCE_DIR", filepath.Join(os.TempDir(), "portico-evidence")),
		HTTPAddr:          os.Getenv("PORTICO_HTTP_ADDR"),
		BrowserSlots:      2,
	}
	if v := os.Getenv("PORTICO_BROWSER_SLOTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return c, fmt.Errorf("PORTICO_BROWSER_SLOTS=%q: want a whole number of at least 1", v)
		}
		c.BrowserSlots = n
	}
	return c, nil
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
