package notification_test

import (
	"math"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kitshop/kitshop/notification"
)

func TestMoneyString(t *testing.T) {
	tests := []struct {
		m    notification.Money
		want string
	}{
		{notification.Money{Minor: 2500, Currency: "EUR"}, "25.00 EUR"},
		{notification.Money{Minor: 5, Currency: "USD"}, "0.05 USD"},
		{notification.Money{Minor: 0, Currency: "GBP"}, "0.00 GBP"},
		{notification.Money{Minor: -1999, Currency: "EUR"}, "-19.99 EUR"},
		{notification.Money{Minor: 1500, Currency: "JPY"}, "1500 JPY"},
		{notification.Money{Minor: 12345, Currency: "KWD"}, "12.345 KWD"},
		{notification.Money{Minor: 7, Currency: "CLF"}, "0.0007 CLF"},
		{notification.Money{Minor: math.MaxInt64, Currency: "EUR"}, "92233720368547758.07 EUR"},
		{notification.Money{Minor: math.MinInt64, Currency: "EUR"}, "-92233720368547758.08 EUR"},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.want {
			t.Errorf("%+v = %q, want %q", tt.m, got, tt.want)
		}
	}
}

// TestEveryKindHasOneTemplate renders each kind's template with empty
// facts: every kind has one, and none names a field Facts lacks.
func TestEveryKindHasOneTemplate(t *testing.T) {
	tmpl, err := notification.LoadTemplates()
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range notification.Kinds {
		title, body, err := tmpl.Render(kind, notification.Facts{Total: notification.Money{Currency: "EUR"}})
		if err != nil {
			t.Errorf("%s: %v", kind, err)
			continue
		}
		if strings.Contains(title+body, "<no value>") || strings.Contains(title, "\n") {
			t.Errorf("%s renders %q / %q", kind, title, body)
		}
	}
	if _, _, err := tmpl.Render("nope", notification.Facts{}); err == nil {
		t.Error("Render of an unknown kind: no error")
	}
}

// TestParseTemplatesRefusesIncompleteSets: a missing or extra template, or
// one without a title or body, stops the service at start-up.
func TestParseTemplatesRefusesIncompleteSets(t *testing.T) {
	full := fstest.MapFS{}
	for _, kind := range notification.Kinds {
		full["t/"+string(kind)+".tmpl"] = &fstest.MapFile{Data: []byte(`{{define "title"}}T{{end}}{{define "body"}}B{{end}}`)}
	}
	if _, err := notification.ParseTemplates(full, "t"); err != nil {
		t.Fatalf("a full set: %v", err)
	}
	tests := map[string]func(fstest.MapFS){
		"missing kind":   func(m fstest.MapFS) { delete(m, "t/welcome.tmpl") },
		"extra template": func(m fstest.MapFS) { m["t/order_shipped.tmpl"] = m["t/welcome.tmpl"] },
		"no body": func(m fstest.MapFS) {
			m["t/welcome.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "title"}}T{{end}}`)}
		},
		"syntax error": func(m fstest.MapFS) {
			m["t/welcome.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "title"}}{{.Name}`)}
		},
	}
	for name, change := range tests {
		t.Run(name, func(t *testing.T) {
			m := fstest.MapFS{}
			for k, v := range full {
				m[k] = v
			}
			change(m)
			if _, err := notification.ParseTemplates(m, "t"); err == nil {
				t.Error("ParseTemplates succeeded")
			}
		})
	}

	// A template that names a field Facts lacks fails when rendering,
	// as a bug (not as bad input).
	m := fstest.MapFS{}
	for k, v := range full {
		m[k] = v
	}
	m["t/welcome.tmpl"] = &fstest.MapFile{Data: []byte(`{{define "title"}}{{.Nickname}}{{end}}{{define "body"}}B{{end}}`)}
	tmpl, err := notification.ParseTemplates(m, "t")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tmpl.Render(notification.KindWelcome, notification.Facts{}); err == nil {
		t.Error("Render with an unknown field: no error")
	}
}

// TestSubscriptionsMatchTheRules: the service subscribes to exactly the
// subjects it has a template for, each once, on the stream of its source.
func TestSubscriptionsMatchTheRules(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range notification.Subscriptions() {
		if s.Consumer.Durable != notification.Consumer {
			t.Errorf("stream %s: durable %q, want %q", s.Stream.Name, s.Consumer.Durable, notification.Consumer)
		}
		prefix := strings.TrimSuffix(s.Stream.Subjects[0], ">")
		for _, subject := range s.Consumer.Subjects {
			if !strings.HasPrefix(subject, prefix) {
				t.Errorf("subject %s is not in stream %s (%s)", subject, s.Stream.Name, s.Stream.Subjects[0])
			}
			if seen[subject] {
				t.Errorf("subject %s subscribed twice", subject)
			}
			seen[subject] = true
		}
	}
	kinds := map[notification.Kind]bool{}
	for _, s := range samples("0b7e9d3c-8a44-4b8f-9f4e-3c2b1a0d9e8f") {
		if !seen[s.subject] {
			t.Errorf("subject %s (%s) has a rule but no subscription", s.subject, s.kind)
		}
		delete(seen, s.subject)
		kinds[s.kind] = true
	}
	for subject := range seen {
		t.Errorf("subject %s is subscribed but has no sample", subject)
	}
	if len(kinds) != len(notification.Kinds) {
		t.Errorf("samples cover %d kinds, want %d", len(kinds), len(notification.Kinds))
	}
}
