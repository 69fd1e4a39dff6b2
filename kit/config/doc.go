// Package config fills a flag.FlagSet from the command line and, for flags
// not given there, from environment variables.
//
// Every kitshop command declares its settings as flags (so -h documents them)
// and calls Parse with its environment prefix: "-database-url" can then also
// come from PRODUCT_DATABASE_URL, which suits containers and keeps secrets off
// the command line. Precedence is flag, then environment, then the flag's
// default.
//
// A secret is better still kept out of the environment, which `docker
// inspect` and crash reports show: PRODUCT_DATABASE_URL_FILE names a file
// (a Docker or Kubernetes secret mounted under /run/secrets) whose content
// is the value. The plain variable and the flag win over the file.
package config
