package server

// ClientKey exposes clientKey to the external tests.
var ClientKey = clientKey

// LiveHandler exposes liveHandler, for a reference router with the same
// /healthz as Run's.
var LiveHandler = liveHandler
