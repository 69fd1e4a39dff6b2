package validate_test

import (
	"testing"

	"github.com/kitshop/kitshop/deploy/validate"
)

func TestParsePort(t *testing.T) {
	tests := []struct {
		in      string
		want    validate.Port
		wantErr bool
	}{
		{in: "8080", want: validate.Port{Target: 8080, Protocol: "tcp"}},
		{in: "8080:80", want: validate.Port{Published: "8080", Target: 80, Protocol: "tcp"}},
		{in: "127.0.0.1:8500:8500/tcp", want: validate.Port{HostIP: "127.0.0.1", Published: "8500", Target: 8500, Protocol: "tcp"}},
		{in: "53:53/udp", want: validate.Port{Published: "53", Target: 53, Protocol: "udp"}},
		{in: "a:b:c:d", wantErr: true},
		{in: "8080:http", wantErr: true},
		{in: "0:80", wantErr: true},
		{in: "70000", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := validate.ParsePort(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParsePort(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParsePort(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

// ParseCompose reads what both compose generations print.
func TestParseCompose(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *validate.Compose)
	}{
		{name: "v1 short and long ports, map depends_on",
			yaml: `
services:
  a:
    image: x:1
    ports:
    - 127.0.0.1:8500:8500/tcp
    - published: 8080
      target: 8080
    depends_on:
      b: {condition: service_healthy}
    healthcheck:
      test: [CMD, true]
  b:
    image: y:1
`,
			check: func(t *testing.T, c *validate.Compose) {
				a := c.Services["a"]
				if len(a.Ports) != 2 || a.Ports[0].HostIP != "127.0.0.1" || a.Ports[1].Published != "8080" || a.Ports[1].Target != 8080 {
					t.Errorf("ports = %+v", a.Ports)
				}
				if a.DependsOn["b"].Condition != "service_healthy" {
					t.Errorf("depends_on = %+v", a.DependsOn)
				}
			}},
		{name: "v2 string published, list depends_on, shell healthcheck, string command",
			yaml: `
services:
  a:
    image: x:1
    command: serve --now
    ports:
    - mode: ingress
      host_ip: 127.0.0.1
      target: 9090
      published: "9090"
      protocol: tcp
    depends_on: [b]
    healthcheck:
      test: pg_isready
    secrets:
    - source: s
      target: custom
    - plain
  b:
    image: y:1
secrets:
  s: {file: /tmp/s}
  plain: {file: /tmp/plain}
`,
			check: func(t *testing.T, c *validate.Compose) {
				a := c.Services["a"]
				if len(a.Ports) != 1 || a.Ports[0].Published != "9090" || a.Ports[0].HostIP != "127.0.0.1" {
					t.Errorf("ports = %+v", a.Ports)
				}
				if a.DependsOn["b"].Condition != "service_started" {
					t.Errorf("depends_on = %+v", a.DependsOn)
				}
				if got := a.Healthcheck.Test; len(got) != 2 || got[0] != "CMD-SHELL" {
					t.Errorf("healthcheck test = %q", got)
				}
				if len(a.Command) != 1 || a.Command[0] != "serve --now" {
					t.Errorf("command = %q", a.Command)
				}
				if f, ok := c.SecretFile(a, "/run/secrets/custom"); !ok || f != "/tmp/s" {
					t.Errorf("SecretFile(custom) = %q, %v", f, ok)
				}
				if f, ok := c.SecretFile(a, "/run/secrets/plain"); !ok || f != "/tmp/plain" {
					t.Errorf("SecretFile(plain) = %q, %v", f, ok)
				}
				if _, ok := c.SecretFile(a, "/run/secrets/s"); ok {
					t.Error("SecretFile found s under its source name, not its target")
				}
			}},
		{name: "volumes, entrypoint, one-shot",
			yaml: `
services:
  job:
    image: x:1
    entrypoint: ["/gen", "-dir", "/out"]
    restart: "no"
    volumes:
    - data:/out
    - other:/ro:ro
    - type: volume
      source: long
      target: /long
      read_only: true
`,
			check: func(t *testing.T, c *validate.Compose) {
				job := c.Services["job"]
				if !job.OneShot() || len(job.Entrypoint) != 3 {
					t.Errorf("OneShot %v, entrypoint %q", job.OneShot(), job.Entrypoint)
				}
				for _, m := range []struct {
					path, src string
					ro        bool
				}{{"/out", "data", false}, {"/ro/", "other", true}, {"/long", "long", true}} {
					if src, ro, ok := job.Mount(m.path); !ok || src != m.src || ro != m.ro {
						t.Errorf("Mount(%s) = %q, %v, %v; want %q, %v", m.path, src, ro, ok, m.src, m.ro)
					}
				}
				if _, _, ok := job.Mount("/none"); ok {
					t.Error("Mount found a path nothing is mounted at")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := validate.ParseCompose([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
	if _, err := validate.ParseCompose([]byte("services: {}\n")); err == nil {
		t.Error("ParseCompose accepted a file without services")
	}
}
