package main

import (
	"context"
	"fmt"
	"io"
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
	const maxInFlight = 256
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns:        maxInFlight,
		MaxIdleConnsPerHost: maxInFlight,
		IdleConnTimeout:     30 * time.Second,
	}}
	page := func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			return fmt.Errorf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return err
	}
	if err := page(ctx); err != nil {
		t.na = "no storefront at the gateway's / (" + err.Error() + ")"
		return t
	}
	t.run = func(ctx context.Context, d time.Duration) (bench.Measurement, string, error) {
		res := bench.OpenLoop(ctx, h.o.pageRate, d, maxInFlight, 10*time.Second, page)
		return res.Measurement(), "the first failed page: " + res.FirstError, nil
	}
	return t
}
