package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// FileSuffix ends the name of the environment variable that names a file
// holding a flag's value: CATALOG_DATABASE_URL_FILE=/run/secrets/catalog_db
// sets -database-url to the file's content. This is the convention of Docker
// and Kubernetes secrets (and of the official postgres image's
// POSTGRES_PASSWORD_FILE), which keeps secrets out of the environment and
// out of `docker inspect`.
const FileSuffix = "_FILE"

// maxFileSize bounds what Parse reads from a _FILE variable: values are
// secrets and URLs, and a mistaken path (a log, /dev/zero) must fail rather
// than fill memory.
const maxFileSize = 1 << 20

// Parse parses args into fs, then sets every flag that args did not set from
// the environment:
//
//  1. the variable EnvName(envPrefix, name), if it exists (even empty: an
//     empty value is a deliberate setting, such as "" to disable an
//     address);
//  2. otherwise the content of the file named by that variable plus
//     FileSuffix (PRODUCT_DATABASE_URL_FILE), trailing newlines removed, so
//     a secret mounted as a file never has to be copied into a variable.
//     The variable is ignored when its name is also the plain variable of
//     another flag (a flag -signing-key-file is set by
//     USER_SIGNING_KEY_FILE, not read from it on behalf of -signing-key).
//
// A value the flag rejects, or a file that cannot be read, is an error
// naming the variable; the value itself is not repeated, as it may be a
// secret. Every such error is reported, joined.
//
// Errors from fs.Parse (including flag.ErrHelp) are returned as they are.
func Parse(fs *flag.FlagSet, envPrefix string, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	plain := map[string]bool{} // every flag's own variable name
	fs.VisitAll(func(f *flag.Flag) { plain[EnvName(envPrefix, f.Name)] = true })

	var errList []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] {
			return
		}
		name := EnvName(envPrefix, f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if err := fs.Set(f.Name, v); err != nil {
				errList = append(errList, fmt.Errorf("environment variable %s (for -%s): %w", name, f.Name, err))
			}
			return
		}
		fileVar := name + FileSuffix
		if plain[fileVar] {
			return
		}
		path, ok := os.LookupEnv(fileVar)
		if !ok {
			return
		}
		v, err := readValueFile(path)
		if err != nil {
			errList = append(errList, fmt.Errorf("environment variable %s (for -%s): %w", fileVar, f.Name, err))
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errList = append(errList, fmt.Errorf("environment variable %s (for -%s): value in %s: %w", fileVar, f.Name, path, err))
		}
	})
	return errors.Join(errList...)
}

// readValueFile returns the content of the file at path without its
// trailing newlines (echo and most editors add one; a secret never ends in
// one). An empty path, a directory or an oversized file is an error.
func readValueFile(path string) (string, error) {
	if path == "" {
		return "", errors.New("empty file name")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err // *PathError: names the file, not its content
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxFileSize {
		return "", fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
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
