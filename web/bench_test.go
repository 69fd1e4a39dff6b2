package web_test

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkCatalogPage is a guest's catalog page (GET /), the storefront's
// busiest, on the fake catalog over gRPC: what the web service itself
// costs per page, apart from the gateway and the product service.
func BenchmarkCatalogPage(b *testing.B) {
	s := newShop(b)
	client := &http.Client{}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := client.Get(s.url + "/")
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
