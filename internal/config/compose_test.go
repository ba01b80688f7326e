package config_test

import (
	"encoding/json"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"portico/internal/config"
	"portico/workflows"
)

// No Docker engine runs where the tests run, so docker-compose.yml is checked the way `docker compose
// config` would and then some: it parses, every service has an image, references between services and
// volumes resolve, every variable is one Portico reads and is documented, and the wiring the README
// promises (codec server for the UI, browser worker apart with an init process, search attributes) is
// there.

type service struct {
	Image       string            `json:"image"`
	Build       any               `json:"build"`
	Command     []string          `json:"command"`
	Entrypoint  []string          `json:"entrypoint"`
	Environment map[string]string `json:"environment"`
	DependsOn   dependsOn         `json:"depends_on"`
	Ports       []string          `json:"ports"`
	Volumes     []string          `json:"volumes"`
	Profiles    []string          `json:"profiles"`
	Healthcheck any               `json:"healthcheck"`
	Restart     string            `json:"restart"`
	ShmSize     string            `json:"shm_size"`
}

// dependsOn is compose's depends_on in either form: a list of services, or a map to their conditions.
type dependsOn map[string]struct {
	Condition string `json:"condition"`
}

func (d *dependsOn) UnmarshalJSON(b []byte) error {
	var list []string
	if json.Unmarshal(b, &list) == nil {
		*d = dependsOn{}
		for _, name := range list {
			(*d)[name] = struct {
				Condition string `json:"condition"`
			}{}
		}
		return nil
	}
	var m map[string]struct {
		Condition string `json:"condition"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*d = m
	return nil
}

type composeFile struct {
	Name     string             `json:"name"`
	Services map[string]service `json:"services"`
	Volumes  map[string]any     `json:"volumes"`
}

func repoFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func loadCompose(t *testing.T) (composeFile, string) {
	t.Helper()
	raw := repoFile(t, "docker-compose.yml")
	var c composeFile
	if err := yaml.UnmarshalStrict([]byte(stripExtensions(raw)), &c); err != nil {
		t.Fatalf("docker-compose.yml does not parse as a compose file: %v", err)
	}
	// Parsed again leniently for the x- extension blocks, which only anchor shared values.
	if err := yaml.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatal(err)
	}
	return c, raw
}

// stripExtensions drops the top-level x-* blocks, which compose ignores, so the strict parse sees only
// what compose reads. The anchors they define are resolved before, by parsing with them.
func stripExtensions(raw string) string {
	var top map[string]any
	if err := yaml.Unmarshal([]byte(raw), &top); err != nil {
		return raw
	}
	for k := range top {
		if strings.HasPrefix(k, "x-") {
			delete(top, k)
		}
	}
	out, err := yaml.Marshal(top)
	if err != nil {
		return raw
	}
	return string(out)
}

func TestComposeServicesResolve(t *testing.T) {
	c, _ := loadCompose(t)
	want := []string{"temporal-db", "temporal", "temporal-setup", "temporal-ui", "portico-db", "worker", "browser-worker", "simulator"}
	for _, name := range want {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("service %s is missing", name)
		}
	}
	built := map[string]bool{}
	for _, s := range c.Services {
		if s.Build != nil {
			built[s.Image] = true
		}
	}
	for name, s := range c.Services {
		switch {
		case s.Image == "" && s.Build == nil:
			t.Errorf("service %s has neither image nor build", name)
		case s.Build == nil && !built[s.Image] && (!strings.Contains(s.Image, ":") || strings.HasSuffix(s.Image, ":latest")):
			t.Errorf("service %s: image %q is not pinned to a version", name, s.Image)
		}
		for dep, d := range s.DependsOn {
			target, ok := c.Services[dep]
			if !ok {
				t.Errorf("service %s depends on %s, which is not defined", name, dep)
				continue
			}
			switch d.Condition {
			case "", "service_started":
			case "service_healthy":
				if target.Healthcheck == nil {
					t.Errorf("service %s waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case "service_completed_successfully":
				if target.Restart != "" {
					t.Errorf("service %s waits for %s to complete, which restarts", name, dep)
				}
			default:
				t.Errorf("service %s: unknown depends_on condition %q", name, d.Condition)
			}
		}
		for _, v := range s.Volumes {
			src, _, ok := strings.Cut(v, ":")
			if ok && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
				if _, declared := c.Volumes[src]; !declared {
					t.Errorf("service %s mounts volume %s, which is not declared", name, src)
				}
			}
		}
		for _, p := range s.Ports {
			if !regexp.MustCompile(`^\d+:\d+$`).MatchString(p) {
				t.Errorf("service %s: port %q is not host:container", name, p)
			}
		}
	}
}

func TestComposeRunsPorticoAsDocumented(t *testing.T) {
	c, raw := loadCompose(t)
	worker, browser, ui, sim := c.Services["worker"], c.Services["browser-worker"], c.Services["temporal-ui"], c.Services["simulator"]

	// The image runs Chromium's children under an init, and holds every binary the services run.
	dockerfile, _ := c.Services["worker"].Build.(map[string]any)["dockerfile_inline"].(string)
	if !strings.Contains(dockerfile, `ENTRYPOINT ["/usr/bin/tini", "--"]`) || !strings.Contains(dockerfile, "tini") {
		t.Error("the Portico image has no init process (tini) as its entrypoint: Chromium's children would be left as zombies")
	}
	for _, bin := range []string{"./worker", "./starter", "./internal/simulator/cmd/simulator"} {
		if !strings.Contains(dockerfile, "go build -o /out/"+filepath.Base(bin)+" "+bin) {
			t.Errorf("the image does not build %s", bin)
		}
	}
	for name, s := range map[string]service{"worker": worker, "browser-worker": browser, "simulator": sim} {
		if len(s.Command) == 0 || !slices.Contains([]string{"worker", "starter", "simulator"}, s.Command[0]) {
			t.Errorf("service %s runs %v, not a binary of the image", name, s.Command)
		}
	}
	if !slices.Equal(worker.Command, []string{"worker", "-role", "workflows"}) || !slices.Equal(browser.Command, []string{"worker", "-role", "browser"}) {
		t.Errorf("workflows and browser activities must run in processes of their own: %v, %v", worker.Command, browser.Command)
	}
	if browser.ShmSize == "" {
		t.Error("the browser worker needs shm_size for Chromium")
	}
	if !slices.Equal(sim.Profiles, []string{"simulator"}) {
		t.Errorf("the simulator must be an optional profile, has %v", sim.Profiles)
	}

	// Variables: only ones Portico reads, the keys where they are needed, and nothing undocumented.
	for name, s := range map[string]service{"worker": worker, "browser-worker": browser} {
		for k := range s.Environment {
			v, ok := config.Lookup(k)
			if !ok {
				t.Errorf("service %s sets %s, which Portico does not read", name, k)
			} else if !slices.Contains([]string{"all", "worker", "browser"}, v.Scope) {
				t.Errorf("service %s sets %s, which is for %s only", name, k, v.Scope)
			}
		}
		for _, k := range []string{"PORTICO_DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "PORTICO_PAYLOAD_KEY", "PORTICO_HTTP_ADDR"} {
			if s.Environment[k] == "" {
				t.Errorf("service %s does not set %s", name, k)
			}
		}
		db, err := url.Parse(s.Environment["PORTICO_DATABASE_URL"])
		if err != nil || c.Services[db.Hostname()].Image == "" {
			t.Errorf("service %s: PORTICO_DATABASE_URL does not name a service: %v", name, err)
		}
		host, _, _ := net.SplitHostPort(s.Environment["TEMPORAL_ADDRESS"])
		if _, ok := c.Services[host]; !ok {
			t.Errorf("service %s: TEMPORAL_ADDRESS does not name a service", name)
		}
	}
	if _, ok := worker.Environment["PORTICO_VAULT_KEY"]; ok {
		t.Error("the workflow worker holds the vault key; only the browser worker may open portal credentials")
	}
	if browser.Environment["PORTICO_VAULT_KEY"] == "" {
		t.Error("the browser worker has no vault key")
	}
	for _, m := range regexp.MustCompile(`\$\{([A-Z0-9_]+)[:?}-]`).FindAllStringSubmatch(raw, -1) {
		if _, ok := config.Lookup(m[1]); !ok {
			t.Errorf("docker-compose.yml interpolates ${%s}, which Portico does not read", m[1])
		}
		if !strings.Contains(strings.SplitN(raw, "\nname:", 2)[0], m[1]) {
			t.Errorf("${%s} is not explained in the header of docker-compose.yml", m[1])
		}
	}

	// The UI asks the worker's codec server, from an origin the codec server allows, with credentials.
	endpoint, err := url.Parse(ui.Environment["TEMPORAL_CODEC_ENDPOINT"])
	if err != nil || endpoint.Path != "/codec" {
		t.Fatalf("temporal-ui: TEMPORAL_CODEC_ENDPOINT %q is not the codec server", ui.Environment["TEMPORAL_CODEC_ENDPOINT"])
	}
	_, httpPort, _ := net.SplitHostPort(worker.Environment["PORTICO_HTTP_ADDR"])
	if !slices.Contains(worker.Ports, endpoint.Port()+":"+httpPort) {
		t.Errorf("the UI calls the codec server on port %s, which the worker does not publish (ports %v, PORTICO_HTTP_ADDR port %s)", endpoint.Port(), worker.Ports, httpPort)
	}
	if ui.Environment["TEMPORAL_CODEC_INCLUDE_CREDENTIALS"] != "true" {
		t.Error("temporal-ui does not send credentials to the codec server: its login cookie would never reach it")
	}
	uiPort := strings.Split(ui.Ports[0], ":")[0]
	if !slices.Contains(strings.Split(worker.Environment["PORTICO_CODEC_ORIGINS"], ","), "http://"+endpoint.Hostname()+":"+uiPort) {
		t.Errorf("PORTICO_CODEC_ORIGINS %q does not allow the UI at http://%s:%s", worker.Environment["PORTICO_CODEC_ORIGINS"], endpoint.Hostname(), uiPort)
	}

	// Exactly the search attributes the workflows set are registered.
	setup := strings.Join(c.Services["temporal-setup"].Command, " ")
	m := regexp.MustCompile(`for a in ([A-Za-z ]+); do`).FindStringSubmatch(setup)
	if m == nil {
		t.Fatalf("temporal-setup does not register search attributes: %s", setup)
	}
	var want []string
	for k := range workflows.SearchAttributes {
		want = append(want, k)
	}
	got := strings.Fields(m[1])
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("temporal-setup registers %v, the workflows use %v", got, want)
	}
}

// TestEveryVariableIsDocumented keeps config.Variables, the code and the README in step.
func TestEveryVariableIsDocumented(t *testing.T) {
	readme := repoFile(t, "README.md")
	used := map[string]bool{}
	re := regexp.MustCompile(`"((?:PORTICO|TEMPORAL)_[A-Z0-9_]+)"`)
	err := filepath.WalkDir(filepath.Join("..", ".."), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && d.Name() != ".." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		// This file names the UI's variables to check compose, not to read them.
		if strings.HasSuffix(path, ".go") && filepath.Base(path) != "compose_test.go" {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range re.FindAllStringSubmatch(string(data), -1) {
				used[m[1]] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(used) < 10 {
		t.Fatalf("found only %d variables in the code", len(used))
	}
	for name := range used {
		if _, ok := config.Lookup(name); !ok {
			t.Errorf("the code reads %s, which config.Variables does not list", name)
		}
	}
	for _, v := range config.Variables {
		if !used[v.Name] {
			t.Errorf("config.Variables lists %s, which no code reads", v.Name)
		}
		switch v.Scope {
		case "all", "worker", "browser", "starter":
			if !strings.Contains(readme, "| `"+v.Name+"`") && !strings.Contains(readme, "`"+v.Name+"` / `") && !strings.Contains(readme, "/ `"+v.Name+"` |") {
				t.Errorf("README's configuration table does not document %s", v.Name)
			}
		default:
			if !strings.Contains(readme, v.Name) {
				t.Errorf("README does not mention %s (%s)", v.Name, v.Scope)
			}
		}
	}
}
