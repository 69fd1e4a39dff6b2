package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kitshop/kitshop/bench"
)

// storefrontTarget is the storefront's catalog page through the gateway, as
// a guest's browser asks for it (GET /, no cookie), sent open loop at
// -page-rate pages a second: the latency a shopper sees at that load, not
// the peak. Its goal is p99 under 20 ms at 200 pages/s.
func (h *harness) storefrontTarget(ctx context.Context) target {
	const key = "storefront"
	url := h.env.gatewayURL + "/"
	t := target{key: key, name: fmt.Sprintf("gateway: storefront catalog page GET / (open loop, %s pages/s)", bench.FormatCount(h.o.pageRate))}
	// A browser asks for a compressed page.
	newPage, err := bench.HTTPGet(url, http.Header{"Accept-Encoding": {"gzip"}}, func(resp *http.Response) error {
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return fmt.Errorf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return nil
	})
	if err != nil {
		t.na = err.Error()
		return t
	}
	page := newPage()
	if err := page(ctx); err != nil {
		t.na = "no storefront at the gateway's / (" + err.Error() + ")"
		return t
	}
	t.run = func(ctx context.Context, d time.Duration) (bench.Measurement, string, error) {
		res := bench.OpenLoop(ctx, h.o.pageRate, d, 64, 10*time.Second, newPage)
		return res.Measurement(), "the first failed page: " + res.FirstError, nil
	}
	return t
}
