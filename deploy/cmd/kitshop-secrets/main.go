// Command kitshop-secrets writes the secrets of a kitshop deployment into a
// directory, one file each, creating only the files that are absent:
//
//	kitshop-secrets -dir /run/secrets product user order      (compose's secrets service)
//	kitshop-secrets -dir deploy/k8s/overlays/local/secrets -signing-key
//
// The arguments name the services with a database of their own (product,
// user and order when there are none; a service kitgen adds is appended to
// the list in docker-compose.yml).
//
// Every value is random (crypto/rand), so nothing that works as a
// credential is ever committed: docker-compose.yml runs it once as a
// one-shot service before anything else starts, and the Kubernetes overlay's
// secretGenerator reads the files it writes into a gitignored directory.
// Running it again keeps what exists, so databases initialised with a
// password keep working; delete the directory (or the volume) to start over.
//
// The files, named as the services' <PREFIX>_<FLAG>_FILE variables expect
// them under /run/secrets:
//
//	<svc>_db_password      the PostgreSQL password of product, user and order
//	<svc>_database_url     postgres://kitshop_<svc>:<password>@<svc>-db:5432/<svc>
//	user_admin_password    the bootstrapped admin's password
//	order_service_secret   the order service's client secret at the user service
//	user_service_accounts  "order:<that secret>", the user service's -service-accounts
//	web_cookie_secret      the storefront's key for its signed cookies (-cookie-secret)
//	signing-key.pem        with -signing-key: the user service's Ed25519 key (PKCS #8 PEM)
//
// Files are created with mode 0400 (the directory 0700), atomically: a file
// exists complete or not at all.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
)

// defaultDatabases are kitshop's services with a PostgreSQL of their own.
var defaultDatabases = []string{"product", "user", "order"}

// databaseName is what a database argument may be: a service name as kitgen
// accepts it, safe in a file name and a URL.
var databaseName = regexp.MustCompile(`^[a-z][a-z0-9]{0,29}$`)

// fileMode is the mode of every secret file: readable by its owner (the
// containers' user 65532) only.
const fileMode = 0o400

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "kitshop-secrets:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fset := flag.NewFlagSet("kitshop-secrets", flag.ContinueOnError)
	fset.SetOutput(stderr)
	dir := fset.String("dir", "", "directory to write the secret files into (created if absent; required)")
	signingKey := fset.Bool("signing-key", false, "also write signing-key.pem, the user service's token signing key")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		fset.Usage()
		return errors.New("-dir is required")
	}
	databases := fset.Args()
	if len(databases) == 0 {
		databases = defaultDatabases
	}
	for _, db := range databases {
		if !databaseName.MatchString(db) {
			return fmt.Errorf("database %q: want a service name (lower-case letters and digits)", db)
		}
	}
	created, err := Generate(*dir, *signingKey, databases...)
	for _, name := range created {
		fmt.Fprintf(stdout, "created %s\n", filepath.Join(*dir, name))
	}
	if err == nil && len(created) == 0 {
		fmt.Fprintf(stdout, "every secret in %s exists; nothing changed\n", *dir)
	}
	return err
}
