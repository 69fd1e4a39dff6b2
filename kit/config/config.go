package config

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
)

// Parse parses args into fs, then sets every flag that args did not set from
// the environment variable EnvName(envPrefix, name), if that variable exists
// (even empty: an empty value is a deliberate setting, such as "" to disable
// an address). A value the flag rejects is an error naming the variable; the
// value itself is not repeated, as it may be a secret.
//
// Errors from fs.Parse (including flag.ErrHelp) are returned as they are.
func Parse(fs *flag.FlagSet, envPrefix string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errList []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(envPrefix, f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errList = append(errList, fmt.Errorf("environment variable %s (for -%s): %w", name, f.Name, err))
		}
	})
	return errors.Join(errList...)
}

// EnvName returns the environment variable Parse reads for the flag name:
// prefix and name joined by "_", upper case, dashes and dots replaced by
// underscores. EnvName("PRODUCT", "database-url") is "PRODUCT_DATABASE_URL";
// a trailing "_" on the prefix is allowed, and an empty prefix adds none.
func EnvName(prefix, name string) string {
	prefix = strings.TrimSuffix(prefix, "_")
	if prefix != "" {
		name = prefix + "_" + name
	}
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(name))
}

// Require returns an error naming every listed flag whose value is empty
// after Parse, for settings without a usable default such as -database-url.
func Require(fs *flag.FlagSet, envPrefix string, names ...string) error {
	var missing []string
	for _, name := range names {
		f := fs.Lookup(name)
		if f == nil {
			return fmt.Errorf("config: no flag -%s", name)
		}
		if f.Value.String() == "" {
			missing = append(missing, fmt.Sprintf("-%s (or %s)", name, EnvName(envPrefix, name)))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing required setting: %s", strings.Join(missing, ", "))
	}
	return nil
}
