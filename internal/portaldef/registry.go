package portaldef

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

//go:embed builtin/*.yaml
var builtinFS embed.FS

// ErrUnknownPortal means no built-in or user definition has the name a portal account asks for.
var ErrUnknownPortal = errors.New("no portal definition with that name")

// Registry finds definitions: a user's file in Dir overrides the built-in one of the same name, and a file
// added or changed in Dir is picked up at the next lookup, without a rebuild or restart.
type Registry struct {
	// Dir holds user definitions named <name>.yaml, .yml or .json; empty means built-ins only.
	Dir string

	mu      sync.Mutex
	builtin map[string]*Definition
	files   map[string]*Definition // path → parsed, reparsed when the file's mtime changes
}

// NewRegistry loads the built-in definitions and remembers dir for user ones.
func NewRegistry(dir string) (*Registry, error) {
	r := &Registry{Dir: dir, builtin: map[string]*Definition{}, files: map[string]*Definition{}}
	entries, err := fs.ReadDir(builtinFS, "builtin")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		data, err := builtinFS.ReadFile("builtin/" + e.Name())
		if err != nil {
			return nil, err
		}
		d, err := Parse(data, "embedded:"+e.Name())
		if err != nil {
			return nil, err
		}
		if strings.TrimSuffix(e.Name(), ".yaml") != d.Name {
			return nil, fmt.Errorf("portal definition %s: name %q must match the file name", d.Source, d.Name)
		}
		r.builtin[d.Name] = d
	}
	return r, nil
}

// Lookup returns the definition called name.
func (r *Registry) Lookup(name string) (*Definition, error) {
	if r.Dir != "" && nameRE.MatchString(name) {
		for _, ext := range []string{".yaml", ".yml", ".json"} {
			d, err := r.file(filepath.Join(r.Dir, name+ext))
			if err != nil || d != nil {
				if d != nil && d.Name != name {
					return nil, &Error{Source: d.Source, Msg: fmt.Sprintf("name %q must match the file name", d.Name)}
				}
				return d, err
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.builtin[name]; ok {
		return d, nil
	}
	return nil, fmt.Errorf("portal %q: %w (built-in: %s; user definitions go in %s)", name, ErrUnknownPortal,
		strings.Join(r.builtinNames(), ", "), r.dirForMessage())
}

func (r *Registry) dirForMessage() string {
	if r.Dir == "" {
		return "PORTICO_PORTALS_DIR, which is not set"
	}
	return r.Dir
}

func (r *Registry) builtinNames() []string {
	names := make([]string, 0, len(r.builtin))
	for n := range r.builtin {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// file returns the parsed definition at path, nil if there is no such file.
func (r *Registry) file(path string) (*Definition, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	cached := r.files[path]
	r.mu.Unlock()
	if cached != nil && cached.ModTime.Equal(st.ModTime()) {
		return cached, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	d, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	d.ModTime = st.ModTime()
	r.mu.Lock()
	r.files[path] = d
	r.mu.Unlock()
	return d, nil
}

// Names lists every definition available now: built-ins and user files.
func (r *Registry) Names() []string {
	set := map[string]bool{}
	r.mu.Lock()
	for _, n := range r.builtinNames() {
		set[n] = true
	}
	r.mu.Unlock()
	if r.Dir != "" {
		entries, _ := os.ReadDir(r.Dir)
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if ext == ".yaml" || ext == ".yml" || ext == ".json" {
				set[strings.TrimSuffix(e.Name(), ext)] = true
			}
		}
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
