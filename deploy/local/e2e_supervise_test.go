package local_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/kitshop/kitshop/deploy/local"
)

// testSupervise runs the supervisor that `make run` uses over a stack whose
// first product instance was SIGKILLed (by the failover test, or here), and
// checks that it brings the instance back on its own: a new process, ready
// on the same port, and that Supervise returns nil once its context ends.
func testSupervise(t *testing.T, stack *local.Stack) {
	old := stack.Instances("product")[0]
	select {
	case <-old.Process.Done():
	default:
		if err := old.Process.Kill(); err != nil {
			t.Fatalf("kill %s: %v", old.ID, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- stack.Supervise(ctx) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		cur := stack.Instances("product")[0]
		if cur.Process != old.Process {
			select {
			case <-cur.Process.Done():
			default:
				if ready(cur.HTTPAddr) {
					t.Logf("%s restarted by the supervisor: pid %d -> %d", cur.ID, old.Process.Pid(), cur.Process.Pid())
					cancel()
					if err := <-done; err != nil {
						t.Fatalf("Supervise returned %v after its context ended, want nil", err)
					}
					return
				}
			}
		}
		select {
		case err := <-done:
			t.Fatalf("Supervise gave up: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not restarted within 30s", old.ID)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func ready(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}
