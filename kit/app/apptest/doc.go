// Package apptest starts a real service, built by the same function its
// main runs, inside a test: on free loopback ports, with its logs captured,
// stopped when the test ends. Tests read the bound addresses from the App
// instead of scraping them from the logs.
package apptest
