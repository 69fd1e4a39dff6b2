package tracing

// AppendSpan exports appendSpan to the tests.
var AppendSpan = appendSpan
