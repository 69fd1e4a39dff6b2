package kitctl_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/kitshop/kitshop/internal/kitctl"
	"github.com/kitshop/kitshop/internal/testenv"
	"github.com/kitshop/kitshop/kit/events"
	"github.com/kitshop/kitshop/kit/subscriber"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// run runs kitctl in process with env as its environment.
func run(t *testing.T, env map[string]string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = kitctl.Execute(context.Background(), kitctl.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut,
		Getenv: func(k string) string { return env[k] },
	}, args)
	return out.String(), errOut.String(), code
}

func TestConfig(t *testing.T) {
	env := map[string]string{"KITCTL_CONSUL": testenv.Consul(t).Addr(), "KITCTL_AUTHOR": "tester"}
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{"set", []string{"config", "set", "gateway", "rate-limit", "2.5"}, 0, "gateway rate-limit = 2.5 (was the default)", ""},
		{"get", []string{"config", "get", "gateway", "rate-limit"}, 0, "2.5\n", ""},
		{"get json", []string{"-o", "json", "config", "get", "gateway", "rate-limit"}, 0, `"by": "tester"`, ""},
		{"set again", []string{"config", "set", "gateway", "rate-limit", "3"}, 0, "gateway rate-limit = 3 (was 2.5)", ""},
		{"list", []string{"config", "list", "gateway"}, 0, "rate-limit                3          tester", ""},
		{"negative", []string{"config", "set", "gateway", "rate-limit", "-1"}, 1, "", "kitctl: invalid: rate-limit: -1 is out of range [0, 1e+06]\n"},
		{"negative json", []string{"-o", "json", "config", "set", "gateway", "rate-limit", "-1"}, 1, "", `{"error":{"detail":"rate-limit: -1 is out of range [0, 1e+06]","kind":"invalid"}}`},
		{"unknown key", []string{"config", "set", "gateway", "nope", "1"}, 1, "", "unknown setting of gateway"},
		{"feature flag", []string{"config", "set", "gateway", "feature/new-cache", "true"}, 0, "gateway feature/new-cache = true", ""},
		{"bad feature flag", []string{"config", "set", "gateway", "feature/new-cache", "sure"}, 1, "", "is not true or false"},
		{"unknown service", []string{"config", "set", "nosuch", "log-level", "debug"}, 1, "", "kitctl: not_found: no service \"nosuch\" in Consul"},
		{"json setting refused when invalid", []string{"config", "set", "gateway", "upstream-timeout", "1h"}, 1, "", "out of range"},
		{"delete", []string{"config", "delete", "gateway", "rate-limit"}, 0, "gateway rate-limit deleted: back to the default", ""},
		{"get deleted", []string{"config", "get", "gateway", "rate-limit"}, 1, "", "kitctl: not_found: gateway rate-limit is not set"},
		{"bad output", []string{"-o", "yaml", "config", "list", "gateway"}, 1, "", "--output \"yaml\": want text or json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := run(t, env, tt.args...)
			if code != tt.wantCode || !strings.Contains(out, tt.wantOut) || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("kitctl %s = %d\nstdout %q\nstderr %q\nwant %d, stdout with %q, stderr with %q",
					strings.Join(tt.args, " "), code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
	_, _, _ = run(t, env, "config", "delete", "gateway", "feature/new-cache")
}

func TestLoginStoresTheTokenPrivately(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf")
	env := map[string]string{"KITCTL_CONFIG_DIR": dir}
	if out, errOut, code := run(t, env, "login", "--token", "abc.def.ghi"); code != 0 {
		t.Fatalf("login: %d %s %s", code, out, errOut)
	}
	fi, err := os.Stat(filepath.Join(dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	if _, _, code := run(t, env, "login"); code != 1 {
		t.Error("login without --email or --token succeeded")
	}
}

func TestDeadLetters(t *testing.T) {
	n := testenv.NATS(t)
	ctx := context.Background()
	nc, err := nats.Connect(n.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	for _, cfg := range []events.StreamConfig{events.DeadLetterStreamConfig(1), {Name: "KITCTL_TEST", Subjects: []string{"kitctltest.>"}}} {
		if err := events.EnsureStream(ctx, js, cfg); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"KITCTL_NATS": n.URL()}
	deadLetter := func(id string) uint64 {
		m := nats.NewMsg(events.DeadLetterSubject("tester"))
		m.Data = []byte("payload " + id)
		m.Header.Set(subscriber.SubjectHeader, "kitctltest.thing")
		m.Header.Set(subscriber.ErrorHeader, "it broke")
		m.Header.Set("Traceparent", "00-abc-def-01")
		if id != "" {
			m.Header.Set(subscriber.MsgIDHeader, id)
			m.Header.Set(jetstream.MsgIDHeader, id+"@dead")
		}
		ack, err := js.PublishMsg(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return ack.Sequence
	}
	// An event the stream has seen just now, and one it never saw.
	orig := nats.NewMsg("kitctltest.thing")
	orig.Header.Set(jetstream.MsgIDHeader, "seen-1")
	if _, err := js.PublishMsg(ctx, orig); err != nil {
		t.Fatal(err)
	}
	seen := deadLetter("seen-1")
	fresh := deadLetter("fresh-1")

	out, errOut, code := run(t, env, "events", "dlq", "list", "--consumer", "tester")
	if code != 0 || !strings.Contains(out, "seen-1") || !strings.Contains(out, "fresh-1") || !strings.Contains(out, "it broke") {
		t.Fatalf("dlq list = %d %q %q", code, out, errOut)
	}
	out, _, code = run(t, env, "events", "dlq", "show", itoa(fresh))
	if code != 0 || !strings.Contains(out, "payload fresh-1") || !strings.Contains(out, "Traceparent: 00-abc-def-01") {
		t.Errorf("dlq show = %d %q", code, out)
	}

	var replayed []struct {
		Stream    string
		StreamSeq uint64 `json:"stream_seq"`
		Deleted   bool
	}
	out, errOut, code = run(t, env, "-o", "json", "events", "dlq", "replay", "--delete", itoa(fresh))
	if code != 0 || json.Unmarshal([]byte(out), &replayed) != nil || len(replayed) != 1 || replayed[0].Stream != "KITCTL_TEST" || !replayed[0].Deleted {
		t.Fatalf("dlq replay = %d %q %q", code, out, errOut)
	}
	s, _ := js.Stream(ctx, "KITCTL_TEST")
	m, err := s.GetMsg(ctx, replayed[0].StreamSeq)
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Data) != "payload fresh-1" || m.Header.Get(jetstream.MsgIDHeader) != "fresh-1" ||
		m.Header.Get("Traceparent") != "00-abc-def-01" || m.Header.Get(subscriber.ErrorHeader) != "" {
		t.Errorf("replayed message = %q %v, want the payload, the event id and the original headers only", m.Data, m.Header)
	}
	if _, errOut, code := run(t, env, "events", "dlq", "show", itoa(fresh)); code != 1 || !strings.Contains(errOut, "not_found") {
		t.Errorf("the replayed dead letter was not deleted: %d %q", code, errOut)
	}

	_, errOut, code = run(t, env, "events", "dlq", "replay", itoa(seen))
	if code != 1 || !strings.Contains(errOut, "kitctl: conflict: dead letter") || !strings.Contains(errOut, "duplicate window") {
		t.Errorf("replay of an id the stream remembers = %d %q, want a conflict", code, errOut)
	}
	_, errOut, code = run(t, env, "events", "dlq", "replay", "zero")
	if code != 1 || !strings.Contains(errOut, "invalid") {
		t.Errorf("replay zero = %d %q", code, errOut)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
