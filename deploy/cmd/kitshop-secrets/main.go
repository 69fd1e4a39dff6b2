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
//	signing-key.pem        with -signing-key: the user service's Ed25519 key (PKCS #8 PEM)
//
// Files are created with mode 0400 (the directory 0700), atomically: a file
// exists complete or not at all.
package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
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

// Generate writes every absent secret file into dir, with a password and
// URL for each of databases, and returns the names of the files it created. A value another file is derived from (a
// database password in its URL, the order service's secret in the user
// service's accounts) is read back when it exists, so the files always
// agree.
func Generate(dir string, signingKey bool, databases ...string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	var created []string
	ensure := func(name string, make func() ([]byte, error)) (string, error) {
		path := filepath.Join(dir, name)
		if data, err := os.ReadFile(path); err == nil {
			return strings.TrimRight(string(data), "\r\n"), nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		data, err := make()
		if err != nil {
			return "", err
		}
		if err := writeNew(path, data); err != nil {
			return "", err
		}
		created = append(created, name)
		return strings.TrimRight(string(data), "\r\n"), nil
	}
	// No trailing newline: kustomize's secretGenerator would keep it in the
	// Secret, and so in POSTGRES_PASSWORD.
	random := func() ([]byte, error) { return []byte(randomHex(24)), nil }

	for _, svc := range databases {
		password, err := ensure(svc+"_db_password", random)
		if err != nil {
			return created, err
		}
		url := fmt.Sprintf("postgres://kitshop_%s:%s@%s-db:5432/%s?sslmode=disable", svc, password, svc, svc)
		if _, err := ensure(svc+"_database_url", func() ([]byte, error) { return []byte(url), nil }); err != nil {
			return created, err
		}
	}
	if _, err := ensure("user_admin_password", random); err != nil {
		return created, err
	}
	secret, err := ensure("order_service_secret", random)
	if err != nil {
		return created, err
	}
	if _, err := ensure("user_service_accounts", func() ([]byte, error) { return []byte("order:" + secret), nil }); err != nil {
		return created, err
	}
	if signingKey {
		if _, err := ensure("signing-key.pem", newSigningKey); err != nil {
			return created, err
		}
	}
	return created, nil
}

// writeNew creates path with data, mode fileMode, or fails if it exists. The
// data goes to a temporary file first and is linked into place, so a crash
// never leaves a truncated secret that a later run would keep.
func writeNew(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(fileMode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Link(tmp.Name(), path) // fails if path appeared meanwhile
}

// randomHex returns n random bytes in hex: safe in URLs and in
// "name:secret" lists without escaping.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return short)
	return hex.EncodeToString(b)
}

// newSigningKey returns a new Ed25519 private key as the user service reads
// it (-signing-key-file): a PKCS #8 "PRIVATE KEY" PEM block.
func newSigningKey() ([]byte, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}
