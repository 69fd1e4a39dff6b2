package validate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Compose is the part of a normalized compose file (the output of
// `docker-compose config`) that the checks read. Normalization resolves
// anchors, extension fields, variables and relative paths, so what is
// checked is what compose would run.
type Compose struct {
	Services map[string]ComposeService `yaml:"services"`
	Secrets  map[string]ComposeSecret  `yaml:"secrets"`
	Volumes  map[string]any            `yaml:"volumes"`
}

// ComposeService is one service of a Compose file.
type ComposeService struct {
	Image       string            `yaml:"image"`
	PullPolicy  string            `yaml:"pull_policy"`
	Build       *ComposeBuild     `yaml:"build"`
	Command     StringList        `yaml:"command"`
	Entrypoint  StringList        `yaml:"entrypoint"`
	Environment map[string]string `yaml:"environment"`
	Ports       []Port            `yaml:"ports"`
	DependsOn   DependsOn         `yaml:"depends_on"`
	Healthcheck *Healthcheck      `yaml:"healthcheck"`
	Restart     string            `yaml:"restart"`
	Secrets     []SecretRef       `yaml:"secrets"`
	Volumes     []any             `yaml:"volumes"`
	ReadOnly    bool              `yaml:"read_only"`
	CapDrop     []string          `yaml:"cap_drop"`
}

// StringList is a list of strings that may be written as one string
// (compose's command and entrypoint).
type StringList []string

// UnmarshalYAML accepts a scalar as a one-element list.
func (l *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = StringList{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

// ComposeBuild is a service's build section.
type ComposeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Target     string            `yaml:"target"`
	Args       map[string]string `yaml:"args"`
}

// ComposeSecret is a top-level secret; only file secrets are used by kitshop.
type ComposeSecret struct {
	File        string `yaml:"file"`
	Environment string `yaml:"environment"`
	External    any    `yaml:"external"`
}

// SecretRef is a service's use of a secret: short ("name") or long form.
type SecretRef struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
}

// UnmarshalYAML accepts both forms.
func (s *SecretRef) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Source = n.Value
		return nil
	}
	type plain SecretRef
	return n.Decode((*plain)(s))
}

// Path is where the secret is mounted in the container.
func (s SecretRef) Path() string {
	switch {
	case s.Target == "":
		return "/run/secrets/" + s.Source
	case strings.HasPrefix(s.Target, "/"):
		return s.Target
	default:
		return "/run/secrets/" + s.Target
	}
}

// Healthcheck is a service's health check.
type Healthcheck struct {
	Test     []string `yaml:"test"`
	Disable  bool     `yaml:"disable"`
	Interval string   `yaml:"interval"`
	Timeout  string   `yaml:"timeout"`
	Retries  int      `yaml:"retries"`
}

// UnmarshalYAML accepts test as a string (run by the shell) or a list.
func (h *Healthcheck) UnmarshalYAML(n *yaml.Node) error {
	var raw struct {
		Test     yaml.Node `yaml:"test"`
		Disable  bool      `yaml:"disable"`
		Interval string    `yaml:"interval"`
		Timeout  string    `yaml:"timeout"`
		Retries  int       `yaml:"retries"`
	}
	if err := n.Decode(&raw); err != nil {
		return err
	}
	*h = Healthcheck{Disable: raw.Disable, Interval: raw.Interval, Timeout: raw.Timeout, Retries: raw.Retries}
	switch raw.Test.Kind {
	case 0:
	case yaml.ScalarNode:
		h.Test = []string{"CMD-SHELL", raw.Test.Value}
	default:
		if err := raw.Test.Decode(&h.Test); err != nil {
			return err
		}
	}
	return nil
}

// Dependency is one entry of depends_on.
type Dependency struct {
	Condition string `yaml:"condition"`
}

// DependsOn maps a service's dependencies to their conditions. The short
// list form means condition service_started.
type DependsOn map[string]Dependency

// UnmarshalYAML accepts the list and the map form.
func (d *DependsOn) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var names []string
		if err := n.Decode(&names); err != nil {
			return err
		}
		*d = DependsOn{}
		for _, name := range names {
			(*d)[name] = Dependency{Condition: "service_started"}
		}
		return nil
	}
	m := map[string]Dependency{}
	if err := n.Decode(&m); err != nil {
		return err
	}
	*d = m
	return nil
}

// Port is a published port. Compose v1 normalizes some ports to the long
// form and keeps others as "[ip:]published:target[/proto]" strings; v2
// always uses the long form, with published as a string.
type Port struct {
	HostIP    string
	Published string // "" when only the container port is given (no host port)
	Target    int
	Protocol  string
}

// UnmarshalYAML accepts the short and long forms.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		got, err := ParsePort(n.Value)
		if err != nil {
			return err
		}
		*p = got
		return nil
	}
	var long struct {
		HostIP    string `yaml:"host_ip"`
		Published string `yaml:"published"`
		Target    int    `yaml:"target"`
		Protocol  string `yaml:"protocol"`
	}
	if err := n.Decode(&long); err != nil {
		return err
	}
	*p = Port{HostIP: long.HostIP, Published: long.Published, Target: long.Target, Protocol: long.Protocol}
	if p.Protocol == "" {
		p.Protocol = "tcp"
	}
	return nil
}

// ParsePort parses the short port syntax: "8080", "8080:80",
// "127.0.0.1:8500:8500/tcp". Port ranges are not supported (kitshop uses
// none).
func ParsePort(s string) (Port, error) {
	p := Port{Protocol: "tcp"}
	spec, proto, ok := strings.Cut(s, "/")
	if ok {
		p.Protocol = proto
	}
	parts := strings.Split(spec, ":")
	var target string
	switch len(parts) {
	case 1:
		target = parts[0]
	case 2:
		p.Published, target = parts[0], parts[1]
	case 3:
		p.HostIP, p.Published, target = parts[0], parts[1], parts[2]
	default:
		return Port{}, fmt.Errorf("port %q: want [[ip:]published:]target[/proto]", s)
	}
	n, err := strconv.Atoi(target)
	if err != nil || n < 1 || n > 65535 {
		return Port{}, fmt.Errorf("port %q: bad container port %q", s, target)
	}
	p.Target = n
	if p.Published != "" {
		if n, err := strconv.Atoi(p.Published); err != nil || n < 1 || n > 65535 {
			return Port{}, fmt.Errorf("port %q: bad published port %q", s, p.Published)
		}
	}
	return p, nil
}

// ParseCompose decodes normalized compose YAML.
func ParseCompose(data []byte) (*Compose, error) {
	var c Compose
	if err := yaml.Unmarshal(data, &c); err != nil {
		return nil, fmt.Errorf("validate: compose config: %w", err)
	}
	if len(c.Services) == 0 {
		return nil, errors.New("validate: compose config has no services")
	}
	return &c, nil
}

// ComposeCommand returns the command that runs compose: docker-compose (v1,
// what `make deps` installs) if it is on PATH, else `docker compose` (v2)
// if the Docker CLI has it.
func ComposeCommand(ctx context.Context) ([]string, error) {
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	if p, err := exec.LookPath("docker"); err == nil {
		if exec.CommandContext(ctx, p, "compose", "version").Run() == nil {
			return []string{p, "compose"}, nil
		}
	}
	return nil, errors.New("validate: neither docker-compose nor `docker compose` found; run `make deps` (apt-get install docker-compose)")
}

// LoadCompose runs `<compose> -f file [-f override...] config` and parses
// its output: the files merged, as compose runs them. It needs no Docker
// engine. Variables that the compose file reads with defaults (KITSHOP_*)
// and the COMPOSE_* settings are removed from the environment, so the
// result is the file's defaults.
func LoadCompose(ctx context.Context, file string, overrides ...string) (*Compose, error) {
	command, err := ComposeCommand(ctx)
	if err != nil {
		return nil, err
	}
	args := append(command[1:], "-f", file)
	for _, o := range overrides {
		args = append(args, "-f", o)
	}
	args = append(args, "config")
	cmd := exec.CommandContext(ctx, command[0], args...)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KITSHOP_") || strings.HasPrefix(kv, "COMPOSE_") {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("validate: %s config: %w\n%s", strings.Join(command, " "), err, stderr.String())
	}
	return ParseCompose(stdout.Bytes())
}

// ServiceNames returns the names of the services, sorted.
func (c *Compose) ServiceNames() []string {
	names := make([]string, 0, len(c.Services))
	for name := range c.Services {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// SecretFile returns the host file behind the secret a service sees at
// containerPath (/run/secrets/<name>), if the service mounts one there.
func (c *Compose) SecretFile(s ComposeService, containerPath string) (string, bool) {
	for _, ref := range s.Secrets {
		if path.Clean(ref.Path()) != path.Clean(containerPath) {
			continue
		}
		sec, ok := c.Secrets[ref.Source]
		if !ok || sec.File == "" {
			return "", false
		}
		return sec.File, true
	}
	return "", false
}

// OneShot reports whether the service is a job that runs once and exits
// (restart "no"), such as the secrets generator, rather than a server.
func (s ComposeService) OneShot() bool {
	return s.Restart == "no"
}

// Mount returns the volume (or host path) a service mounts at
// containerPath, and whether it is mounted read-only.
func (s ComposeService) Mount(containerPath string) (source string, readOnly, ok bool) {
	for _, m := range s.Mounts() {
		if m.Target == path.Clean(containerPath) {
			return m.Source, m.ReadOnly, true
		}
	}
	return "", false, false
}

// VolumeMount is one entry of a service's volumes.
type VolumeMount struct {
	Source, Target string // Target is cleaned
	ReadOnly       bool
}

// Mounts returns the service's volumes, short and long forms alike.
func (s ComposeService) Mounts() []VolumeMount {
	var out []VolumeMount
	for _, v := range s.Volumes {
		var src, dst, mode string
		switch v := v.(type) {
		case string:
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				continue
			}
			src, dst = parts[0], parts[1]
			if len(parts) > 2 {
				mode = parts[2]
			}
		case map[string]any:
			src, _ = v["source"].(string)
			dst, _ = v["target"].(string)
			if ro, _ := v["read_only"].(bool); ro {
				mode = "ro"
			}
		}
		out = append(out, VolumeMount{Source: src, Target: path.Clean(dst), ReadOnly: slices.Contains(strings.Split(mode, ","), "ro")})
	}
	return out
}

// BuildService returns the SERVICE build argument of a service built from
// the kitshop Dockerfile ("product" for product-1 and product-2), or "" for
// a service that is not built here.
func (s ComposeService) BuildService() string {
	if s.Build == nil {
		return ""
	}
	return s.Build.Args["SERVICE"]
}
