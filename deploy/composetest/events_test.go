//go:build composetest

package composetest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	orderv1 "github.com/kitshop/kitshop/proto/order/v1"
	paymentv1 "github.com/kitshop/kitshop/proto/payment/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
	userv1 "github.com/kitshop/kitshop/proto/user/v1"
)

// eventsTimeout bounds each wait on something asynchronous: a stream to
// appear, an order to be paid, a mail to arrive.
const eventsTimeout = 90 * time.Second

// producerStreams is the stream each service publishes its events to.
var producerStreams = map[string]string{
	"order":   orderv1.Stream,
	"payment": paymentv1.Stream,
	"product": productv1.Stream,
	"user":    userv1.Stream,
}

// eventful is an application container whose binary takes -nats-url.
type eventful struct {
	container, service, instanceID string
}

// testEvents checks the broker and what flows through it: NATS healthy with
// JetStream; every service whose binary takes -nats-url connected to it
// (under its instance id) and the stream of each that publishes there; an
// order placed through the gateway paid, by the payment service, within
// eventsTimeout; and mail for the customer in Mailpit. What a service does
// with events is read from its binary (`service -h` in its container), so
// the checks follow the services: the paid order needs order and payment
// with events, the mail a notification service with -smtp-addr and a user
// service that publishes registrations (the addresses), and each is
// skipped, saying why, until then.
func testEvents(t *testing.T, s *stack, adminPassword string) {
	if got := status(t, s.natsMonitor+"/healthz?js-enabled-only=true"); got != http.StatusOK {
		t.Errorf("NATS /healthz?js-enabled-only=true = %d, want 200 (JetStream up)", got)
	}
	var jsz struct {
		Disabled bool `json:"disabled"`
		Config   struct {
			StoreDir string `json:"store_dir"`
		} `json:"config"`
	}
	getJSON(t, s.natsMonitor+"/jsz", &jsz)
	if jsz.Disabled || !strings.HasPrefix(jsz.Config.StoreDir, "/data") {
		t.Errorf("JetStream disabled=%v, store %q: want enabled, storing in the /data volume", jsz.Disabled, jsz.Config.StoreDir)
	}

	services := s.eventful()
	var names []string
	for _, e := range services {
		names = append(names, e.container)
	}
	t.Logf("containers whose service takes -nats-url: %v", names)

	// Connected, each under its instance id (kit/app names the connection).
	waitFor(t, "every service with events connected to NATS", func() error {
		conns := connectionNames(t, s.natsMonitor)
		for _, e := range services {
			if e.instanceID != "" && !slices.Contains(conns, e.instanceID) {
				return fmt.Errorf("%s (instance %s) not connected; connections: %v", e.container, e.instanceID, conns)
			}
		}
		return nil
	})
	// The publishers' streams, created by each once the broker answered.
	waitFor(t, "the streams of the services that publish", func() error {
		have := streamNames(t, s.natsMonitor)
		for _, e := range services {
			if want, ok := producerStreams[e.service]; ok && !slices.Contains(have, want) {
				return fmt.Errorf("no stream %s for %s; streams: %v", want, e.service, have)
			}
		}
		return nil
	})

	hasEvents := func(service string) bool {
		return slices.ContainsFunc(services, func(e eventful) bool { return e.service == service })
	}
	smtp := strings.Contains(s.serviceHelp("notification"), "-smtp-addr")
	// A customer of its own, so its mail can be told apart.
	c := &client{base: s.gateway, http: &http.Client{Timeout: 5 * time.Second}}
	email := "events-" + randomHex(t, 4) + "@example.com"
	if st, body := c.do("POST", "/api/v1/users", "", map[string]any{"email": email, "password": "correct-horse-42", "name": "Events"}); st != 202 {
		t.Fatalf("sign up: %d %s", st, body)
	}
	customer := c.login(t, email, "correct-horse-42")

	t.Run("an order placed through the gateway is paid", func(t *testing.T) {
		if !hasEvents("order") || !hasEvents("payment") {
			t.Skipf("SKIPPED: order (events: %v) and payment (events: %v) do not both take -nats-url yet", hasEvents("order"), hasEvents("payment"))
		}
		admin := c.login(t, "admin@kitshop.local", adminPassword)
		st, body := c.do("POST", "/api/v1/products", admin, map[string]any{
			"sku": "EVENTS-" + strings.ToUpper(randomHex(t, 3)), "name": "Events mug", "price_minor": 1500, "currency": "EUR", "stock": 10,
		})
		var p struct{ ID string }
		if st != 201 || json.Unmarshal(body, &p) != nil || p.ID == "" {
			t.Fatalf("create product: %d %s", st, body)
		}
		st, body = c.do("POST", "/api/v1/orders", customer, map[string]any{
			"items": []map[string]any{{"product_id": p.ID, "quantity": 1}}, "payment_method": "pm_card_visa",
		})
		var o struct{ ID, Status string }
		if st != 201 || json.Unmarshal(body, &o) != nil || o.ID == "" {
			t.Fatalf("place an order: %d %s", st, body)
		}
		placed := time.Now()
		deadline := placed.Add(eventsTimeout)
		for o.Status != "paid" {
			if time.Now().After(deadline) {
				t.Fatalf("order %s is %q %s after it was placed, want paid", o.ID, o.Status, eventsTimeout)
			}
			time.Sleep(500 * time.Millisecond)
			st, body = c.do("GET", "/api/v1/orders/"+o.ID, customer, nil)
			if st == 200 {
				_ = json.Unmarshal(body, &o)
			}
		}
		t.Logf("order %s paid %s after it was placed", o.ID, time.Since(placed).Round(100*time.Millisecond))
	})

	t.Run("the customer has mail in Mailpit", func(t *testing.T) {
		if !smtp {
			t.Skip("SKIPPED: the notification service has no -smtp-addr yet")
		}
		if !hasEvents("notification") {
			t.Fatal("the notification service has -smtp-addr but no -nats-url: nothing would make it send")
		}
		// The notification service learns addresses from user.registered.
		if !hasEvents("user") {
			t.Skip("SKIPPED: the user service does not take -nats-url yet, so no address reaches the notification service")
		}
		waitFor(t, "mail for "+email+" in Mailpit", func() error {
			var list struct {
				Messages []struct {
					Subject string
					To      []struct{ Address string }
				} `json:"messages"`
			}
			getJSON(t, s.mailpit+"/api/v1/search?query="+url.QueryEscape("to:"+email), &list)
			for _, m := range list.Messages {
				for _, to := range m.To {
					if strings.EqualFold(to.Address, email) {
						t.Logf("mail for %s: %q", email, m.Subject)
						return nil
					}
				}
			}
			return fmt.Errorf("no mail to %s among %d found", email, len(list.Messages))
		})
	})
}

// eventful lists the application containers whose service takes -nats-url,
// with the instance id each names its connection with.
func (s *stack) eventful() []eventful {
	var out []eventful
	for _, name := range s.services {
		if name == "secrets" || !s.isKitshop(name) {
			continue
		}
		help := s.serviceHelp(name)
		if !strings.Contains(help, "-http-addr") {
			s.t.Errorf("%s: `service -h` printed no flags:\n%s", name, help)
			continue
		}
		if !strings.Contains(help, "-nats-url") {
			continue
		}
		svc := strings.TrimSuffix(strings.TrimRight(name, "0123456789"), "-")
		e := eventful{container: name, service: svc}
		broker := ""
		for k, v := range s.containerEnv(name) {
			if strings.HasSuffix(k, "_INSTANCE_ID") {
				e.instanceID = v
			}
			if strings.HasSuffix(k, "_NATS_URL") {
				broker = v
			}
		}
		if broker != "nats://nats:4222" {
			s.t.Errorf("%s takes -nats-url but its environment names the broker %q, want nats://nats:4222", name, broker)
		}
		out = append(out, e)
	}
	return out
}

// isKitshop reports whether the service's container runs a kitshop image
// (they all have /usr/local/bin/service).
func (s *stack) isKitshop(name string) bool {
	out, err := s.inspect(name, "{{json .Config.Entrypoint}}")
	return err == nil && strings.Contains(out, "/usr/local/bin/service")
}

// serviceHelp runs `service -h` in the service's container: its flags.
func (s *stack) serviceHelp(name string) string {
	out, _ := s.cmd(time.Minute, "docker", "exec", s.container(name), "/usr/local/bin/service", "-h") // -h exits non-zero
	return out
}

// containerEnv returns the environment the service's container runs with.
func (s *stack) containerEnv(name string) map[string]string {
	out, err := s.inspect(name, `{{range .Config.Env}}{{println .}}{{end}}`)
	if err != nil {
		s.t.Fatalf("inspect %s: %v", name, err)
	}
	env := map[string]string{}
	for line := range strings.Lines(out) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok {
			env[k] = v
		}
	}
	return env
}

// connectionNames returns the names of the clients connected to NATS.
func connectionNames(t *testing.T, monitor string) []string {
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	getJSON(t, monitor+"/connz?limit=1024", &connz)
	var names []string
	for _, c := range connz.Connections {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return names
}

// streamNames returns the names of the JetStream streams.
func streamNames(t *testing.T, monitor string) []string {
	var jsz struct {
		AccountDetails []struct {
			StreamDetail []struct {
				Name string `json:"name"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	getJSON(t, monitor+"/jsz?streams=true", &jsz)
	var names []string
	for _, a := range jsz.AccountDetails {
		for _, st := range a.StreamDetail {
			names = append(names, st.Name)
		}
	}
	sort.Strings(names)
	return names
}

// waitFor polls cond every second until it holds, failing the test with its
// last error after eventsTimeout.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(eventsTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%s: not within %s: %v", what, eventsTimeout, err)
			return
		}
		time.Sleep(time.Second)
	}
}

// getJSON decodes the JSON answer of a GET into v, failing the test when
// there is none.
func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

// status returns the status of a GET, or 0 when none came.
func status(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
