package tracefile_test

import (
	"os"
	"time"

	"github.com/kitshop/kitshop/kit/tracing/tracefile"
)

func ExampleWriteText() {
	start := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	spans := []tracefile.Span{
		{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Service: "gateway", Name: "GET /api/v1/products", Start: at(0), End: at(12)},
		{TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "00f067aa0ba902b7", ParentID: "b7ad6b7169203331", Service: "product", Name: "product.ListProducts", Start: at(2), End: at(9)},
	}
	_ = tracefile.WriteText(os.Stdout, spans)
	// Output:
	// trace 0af7651916cd43dd8448eb211c80319c: 2 spans, 2 services, 12ms
	// └─ gateway GET /api/v1/products  12ms  +0s
	//    └─ product product.ListProducts  7ms  +2ms
}
