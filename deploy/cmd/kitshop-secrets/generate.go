package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

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
	// The storefront's cookie key: every instance signs with the same one.
	if _, err := ensure("web_cookie_secret", random); err != nil {
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
