package config

// Variable is one environment variable Portico reads, as the README's configuration table documents it.
type Variable struct {
	Name    string
	Default string
	Meaning string
	// Scope says who reads it: "all" (worker and starter), "worker", "browser", "starter", "make run",
	// "tests" or "bench". Only "all", "worker", "browser" and "starter" belong in a deployment.
	Scope string
}

// Variables lists every environment variable Portico's code reads. A test keeps it in step with the code,
// the README and docker-compose.yml, so a variable cannot be added without being documented.
var Variables = []Variable{
	{"PORTICO_DATABASE_URL", DefaultDatabaseURL, "Portico's PostgreSQL (ERP, PO and audit tables)", "all"},
	{"TEMPORAL_ADDRESS", "127.0.0.1:7233", "Temporal frontend", "all"},
	{"TEMPORAL_NAMESPACE", "default", "Temporal namespace", "all"},
	{"PORTICO_PAYLOAD_KEY", "", "keys of every Temporal payload, id:base64key, first is primary", "all"},
	{"PORTICO_PAYLOAD_KEY_FILE", ".state/payload.key if it exists", "the same, one entry a line", "all"},
	{"PORTICO_VAULT_KEY", "", "keys of portal credentials and sessions, id:base64key, first is primary", "browser"},
	{"PORTICO_VAULT_KEY_FILE", "", "the same, one entry a line", "browser"},
	{"PORTICO_CHROMIUM", "/usr/bin/chromium", "Chromium binary", "browser"},
	{"PORTICO_BROWSER_SLOTS", "2", "browser activities at once per worker", "browser"},
	{"PORTICO_PORTALS_DIR", "", "your portal definitions, picked up without a restart", "browser"},
	{"PORTICO_EVIDENCE_DIR", "$TMPDIR/portico-evidence", "screenshots and HTML of pages where the engine stopped", "browser"},
	{"PORTICO_LOG_LEVEL", "info", "worker log level (JSON logs on stderr)", "worker"},
	{"PORTICO_HTTP_ADDR", "", "where a worker serves /metrics, /healthz and /readyz, and (workflow workers) the ERP API and the codec server", "worker"},
	{"PORTICO_CODEC_TOKENS", ".state/codec.token if it exists", "tokens that may decrypt through the codec server", "worker"},
	{"PORTICO_CODEC_TOKEN_FILE", "", "the same, one a line", "worker"},
	{"PORTICO_CODEC_ORIGINS", "http://localhost:8233,http://127.0.0.1:8233", "Temporal UI origins allowed to call the codec server", "worker"},
	{"PORTICO_API_KEYS", "", "ERP API clients: <id>:hmac:<base64> or <id>:bearer-sha256:<hex>", "worker"},
	{"PORTICO_API_KEYS_FILE", "", "the same, one a line", "worker"},
	{"PORTICO_ERP_MAX_ATTACHMENT", "10MiB", "largest invoice PDF the ERP API and outbox take in (e.g. 5MiB, 512KiB, bytes)", "worker"},
	{"PORTICO_API_WINDOW", "5m", "how far an ERP request's timestamp may be from the server's clock", "worker"},
	{"TEMPORAL_UI_URL", "http://127.0.0.1:8233", "the Temporal UI the starter links to", "starter"},
	{"PORTICO_STATE", ".state", "where make run keeps its databases, keys and logs", "make run"},
	{"PORTICO_TEMPORAL_BIN", "~/.cache/portico/temporal-v1.5.1/temporal", "the Temporal CLI make run and the tests start", "make run"},
	{"PORTICO_PG_BIN_DIR", "/usr/lib/postgresql/15/bin", "PostgreSQL binaries make run and the tests start", "make run"},
	{"PORTICO_RECORD_HISTORY", "", "set to record the end-to-end histories the replay tests use", "tests"},
	{"PORTICO_BENCH_POS", "", "benchmark size: POs", "bench"},
	{"PORTICO_BENCH_INVOICES", "", "benchmark size: invoices", "bench"},
	{"PORTICO_BENCH_RESYNC_POS", "", "benchmark size: POs of the re-sync benchmark", "bench"},
	{"PORTICO_BENCH_PAGE_SIZE", "", "benchmark size: portal list page size", "bench"},
	{"PORTICO_BENCH_CHANGED", "", "benchmark size: POs changed between syncs", "bench"},
	{"PORTICO_BENCH_PAGE", "", "benchmark: simulated page latency", "bench"},
	{"PORTICO_BENCH_WORKFLOWS", "10000", "benchmark size: invoice workflows parked for the idle-cost figures", "bench"},
	{"PORTICO_BENCH_HISTORY_DAYS", "365", "benchmark size: days of status polling for the history figure", "bench"},
	{"PORTICO_BENCH_LATENCY_MS", "300", "benchmark: delay the simulator adds to each portal request", "bench"},
	{"PORTICO_BENCH_WASTE_DRAFTS", "10", "benchmark size: drafts timed for the driver-waste figure", "bench"},
	{"PORTICO_BENCH_LOGIN_DRAFTS", "100", "benchmark size: drafts on one account for logins per invoice", "bench"},
	{"PORTICO_BENCH_LOGIN_SLOTS", "1", "benchmark: drafts at once for logins per invoice", "bench"},
	{"PORTICO_BENCH_SLOT_DRAFTS", "24", "benchmark size: drafts per slot count for throughput", "bench"},
	{"PORTICO_BENCH_ACTIVITIES", "500", "benchmark size: browser activities before Chromium processes are counted", "bench"},
	{"PORTICO_BENCH_SWEEP_INVOICES", "500", "benchmark size: open invoices of the swept account", "bench"},
	{"PORTICO_CHAOS", "short", "chaos plan: short (make test) or full (make chaos)", "tests"},
	{"PORTICO_CHAOS_INVOICES", "", "chaos: invoices in the batch (the plan's own by default)", "tests"},
	{"PORTICO_CHAOS_SEED", "", "chaos: seed of the random choices, to replay a run's choices", "tests"},
	{"PORTICO_CHAOS_RECORD", "", "chaos: 1 writes a short run's report to bench/chaos.md too", "tests"},
}

// Lookup returns the variable of that name.
func Lookup(name string) (Variable, bool) {
	for _, v := range Variables {
		if v.Name == name {
			return v, true
		}
	}
	return Variable{}, false
}
