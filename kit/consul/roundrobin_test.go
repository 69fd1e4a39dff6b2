package consul_test

import (
	"sync"
	"testing"

	"github.com/kitshop/kitshop/kit/consul"
)

func TestRoundRobin(t *testing.T) {
	abc := []consul.Instance{{ID: "a"}, {ID: "b"}, {ID: "c"}}
	skip := func(ids ...string) func(consul.Instance) bool {
		return func(i consul.Instance) bool {
			for _, id := range ids {
				if i.ID == id {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		name      string
		instances []consul.Instance
		skip      func(consul.Instance) bool
		picks     int
		want      string // concatenated IDs; "" with ok false for every pick
	}{
		{"rotates", abc, nil, 7, "abcabca"},
		{"skips one", abc, skip("b"), 6, "accacc"},
		{"skips all but one", abc, skip("a", "c"), 3, "bbb"},
		{"single", abc[:1], nil, 3, "aaa"},
		{"all skipped", abc, skip("a", "b", "c"), 3, ""},
		{"empty", nil, nil, 2, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := consul.NewRoundRobin()
			var got string
			for range tt.picks {
				in, ok := rr.Next(tt.instances, tt.skip)
				if ok != (tt.want != "") {
					t.Fatalf("ok = %v, want %v", ok, tt.want != "")
				}
				got += in.ID
			}
			if got != tt.want {
				t.Errorf("picked %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRoundRobinConcurrentIsFair(t *testing.T) {
	instances := []consul.Instance{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "d"}}
	var rr consul.RoundRobin // the zero value works
	const goroutines, picks = 8, 1000

	counts := make(map[string]int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			local := make(map[string]int)
			for range picks {
				in, _ := rr.Next(instances, nil)
				local[in.ID]++
			}
			mu.Lock()
			defer mu.Unlock()
			for id, n := range local {
				counts[id] += n
			}
		})
	}
	wg.Wait()
	for _, in := range instances {
		if got, want := counts[in.ID], goroutines*picks/len(instances); got != want {
			t.Errorf("%s picked %d times, want exactly %d", in.ID, got, want)
		}
	}
}
