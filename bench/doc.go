// Package bench is the measuring side of kitbench (bench/cmd/kitbench): it
// runs wrk and parses what it prints, drives closed- and open-loop load
// from Go for what wrk cannot do (gRPC, a fixed request rate), reads
// process memory from /proc, and lays the results out as one table in text,
// markdown and JSON.
//
// The numbers it produces are for comparing kitshop's layers with each
// other on one machine, in one run: the bare handler (bench/cmd/bare) is
// the limit, every other row is a ratio to it.
package bench
