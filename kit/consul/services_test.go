package consul_test

import (
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/kitshop/kitshop/kit/consul"
)

func TestServicesWatcher(t *testing.T) {
	tests := []struct {
		name string
		tag  string
		want []string
	}{
		{"tagged api", consul.TagAPI, []string{"order", "product"}},
		{"all", "", []string{"internal", "order", "product"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := newFakeConsul()
			fc.add(fakeInstance("product", "p1", 8081, 9081))
			fc.add(fakeInstance("product", "p2", 8082, 9082))
			fc.add(fakeInstance("order", "o1", 8091, 9091))
			fc.add(&api.AgentServiceRegistration{ID: "i1", Name: "internal", Address: "127.0.0.1", Port: 7000})

			s := consul.NewServicesWatcher(fc, tt.tag, testLogger(t), fast()...)
			t.Cleanup(s.Stop)
			ready(t, s)
			if got := s.Services(); !slices.Equal(got, tt.want) {
				t.Errorf("Services() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServicesWatcherFollowsChangesAndOutages(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	s := consul.NewServicesWatcher(fc, consul.TagAPI, testLogger(t), fast()...)
	t.Cleanup(s.Stop)
	ch, unsubscribe := s.Subscribe()
	defer unsubscribe()
	if got := receive(t, ch, 2*time.Second); !slices.Equal(got, []string{"product"}) {
		t.Fatalf("first = %v, want [product]", got)
	}

	fc.add(fakeInstance("cart", "c1", 8071, 9071))
	if got := receive(t, ch, 2*time.Second); !slices.Equal(got, []string{"cart", "product"}) {
		t.Fatalf("after adding cart = %v, want [cart product]", got)
	}

	fc.setDown(true)
	before := fc.callCount("CatalogServices")
	eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("CatalogServices") >= before+3 })
	if got := s.Services(); !slices.Equal(got, []string{"cart", "product"}) {
		t.Errorf("Services() during outage = %v, want the last known [cart product]", got)
	}

	fc.setDown(false)
	// Once the watcher has heard the agent again with everything it knew,
	// changes are followed at once. (A removal it only learns of in the
	// first answer after the outage waits for the recovery grace.)
	eventually(t, 2*time.Second, "a query after the outage", func() bool { return fc.callCount("CatalogServices") >= before+5 })
	fc.remove("c1")
	if got := receive(t, ch, 2*time.Second); !slices.Equal(got, []string{"product"}) {
		t.Errorf("after recovery = %v, want [product]", got)
	}

	s.Stop()
	s.Stop()
	if _, ok := <-ch; ok {
		t.Error("subscription open after Stop")
	}
}

// TestServicesWatcherKeepsServicesNotYetBackAfterRestart: a restarted agent
// hears from the services one by one; until the grace ends, a service not
// yet back stays listed (the gateway keeps routing to it).
func TestServicesWatcherKeepsServicesNotYetBackAfterRestart(t *testing.T) {
	fc := newFakeConsul()
	fc.add(fakeInstance("product", "p1", 8081, 9081))
	fc.add(fakeInstance("user", "u1", 8083, 9083))
	s := consul.NewServicesWatcher(fc, consul.TagAPI, testLogger(t), fast(consul.WithRecoveryGrace(time.Hour))...)
	t.Cleanup(s.Stop)
	ready(t, s)

	fc.setDown(true)
	before := fc.callCount("CatalogServices")
	eventually(t, 2*time.Second, "retries during the outage", func() bool { return fc.callCount("CatalogServices") >= before+2 })
	fc.restart(1)
	fc.add(fakeInstance("user", "u1", 8083, 9083))
	fc.add(fakeInstance("cart", "c1", 8071, 9071))
	eventually(t, 2*time.Second, "cart listed", func() bool { return slices.Contains(s.Services(), "cart") })
	if got, want := s.Services(), []string{"cart", "product", "user"}; !slices.Equal(got, want) {
		t.Errorf("Services() after a restart = %v, want %v (product kept)", got, want)
	}
}
