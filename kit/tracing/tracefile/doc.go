// Package tracefile reads the spans kit/tracing writes to a trace
// directory (one JSON line per span, one file per process) and renders a
// trace as a tree, for "kitctl trace <id>" on a stack without a collector.
package tracefile
