package testlog_test

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/internal/testlog"
)

func TestBufferLines(t *testing.T) {
	var b testlog.Buffer
	fmt.Fprint(&b, "level=info msg=started\n\nlevel=warn msg=slow key=a\nlevel=warn msg=slow key=b\n")
	tests := []struct {
		subs []string
		want []string
	}{
		{nil, []string{"level=info msg=started", "level=warn msg=slow key=a", "level=warn msg=slow key=b"}},
		{[]string{"msg=slow"}, []string{"level=warn msg=slow key=a", "level=warn msg=slow key=b"}},
		{[]string{"msg=slow", "key=b"}, []string{"level=warn msg=slow key=b"}},
		{[]string{"msg=started", "key=b"}, nil},
	}
	for _, tt := range tests {
		if got := b.Lines(tt.subs...); !slices.Equal(got, tt.want) {
			t.Errorf("Lines(%q) = %q, want %q", tt.subs, got, tt.want)
		}
	}
}

// TestBufferWait writes from other goroutines while the test waits and
// reads, as a server under test does; run it with -race.
func TestBufferWait(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 50 {
				fmt.Fprintf(&b, "writer=%d line=%d\n", i, j)
			}
		})
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		fmt.Fprintln(&b, "msg=ready addr=127.0.0.1:1")
	}()
	if got := b.Wait(t, 5*time.Second, "msg=ready"); got != "msg=ready addr=127.0.0.1:1" {
		t.Errorf("Wait = %q", got)
	}
	wg.Wait()
	if n := len(b.Lines("writer=")); n != 200 {
		t.Errorf("%d writer lines, want 200", n)
	}
}
