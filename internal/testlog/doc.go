// Package testlog is the log sink of tests whose code under test logs
// from goroutines of its own: a server, a relay, a watcher. Reading the
// log while they write is then safe, and a test can wait for a line
// instead of reading the log once and racing the writer.
package testlog
