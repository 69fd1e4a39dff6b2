// Package liveconfig is kitshop's live configuration: settings kept in
// Consul's KV store that every instance applies within a second, without a
// restart.
//
// A service's settings live under kitshop/config/<service>/<key>. Each is
// declared once, as a Def with a parser and a validator (Int, Float,
// Duration, Bool, Enum, JSON, Feature), and a service's Defs form its
// Schema. The same Schema serves both sides: a Store in every instance
// binds a Value to each Def, with the default its flags and environment
// gave; kitctl checks a value against the Def before Client.Set writes it.
//
// A Store follows its service's prefix with one Consul blocking query, so a
// write reaches every instance as soon as Consul commits it. For each
// change it logs the old and the new value; a value that does not pass its
// Def is logged as an error, counted in kitshop_liveconfig_invalid_total,
// and ignored: the previous value stays. Deleting a setting brings back the
// default. While Consul is unreachable nothing changes: the values in force
// stay, and the watch retries with backoff.
//
// Consul's KV store records no author. Client.Set therefore writes, in the
// same transaction as the value, a record under
// kitshop/config/<service>/.written-by/<key> naming who wrote it and when;
// a Store logs that author only when the record belongs to the very
// version it applies, so a value written by other means (consul kv put, the
// UI) is never attributed to the last kitctl user.
//
// Value.Get is one atomic load, for the request path; Value.OnChange
// reconfigures components that hold their own copy (a rate limiter, a log
// level). Feature flags are booleans under feature/<name>, read through the
// small Flags interface: any feature/<name> is a valid key, so a flag can
// be switched on before the code that reads it ships.
package liveconfig
