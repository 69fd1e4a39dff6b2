package server

// ClientKey exposes clientKey to the external tests.
var ClientKey = clientKey
