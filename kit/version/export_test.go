package version

// Resolve exposes resolve to the tests, which feed it build information
// they make up.
var Resolve = resolve
