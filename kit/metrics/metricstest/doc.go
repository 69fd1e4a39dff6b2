// Package metricstest reads Prometheus metrics back in tests: Scrape fetches
// a /metrics endpoint (or Parse reads exposition text) and the result
// answers questions such as "how many ListProducts calls succeeded?" by
// metric name and a subset of labels, so a test states the series it
// expects without depending on label order, other labels or the help text.
package metricstest
