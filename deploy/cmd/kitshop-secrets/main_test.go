package main

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/user"
)

func read(t *testing.T, dir, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimRight(string(data), "\n")
}

func TestGenerate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	created, err := Generate(dir, true, defaultDatabases...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"order_database_url", "order_db_password", "order_service_secret", "product_database_url", "product_db_password",
		"signing-key.pem", "user_admin_password", "user_database_url", "user_db_password", "user_service_accounts", "web_cookie_secret"}
	if got := slices.Sorted(slices.Values(created)); !slices.Equal(got, want) {
		t.Fatalf("created %v, want %v", got, want)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Errorf("%d files in %s, want %d (no temporary files left)", len(entries), dir, len(want))
	}
	if info, _ := os.Stat(dir); info.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", info.Mode().Perm())
	}
	for _, name := range want {
		info, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o400 {
			t.Errorf("%s: mode %v, want 0400", name, info.Mode().Perm())
		}
	}

	for _, svc := range defaultDatabases {
		password := read(t, dir, svc+"_db_password")
		if len(password) < 32 {
			t.Errorf("%s password %d characters, want at least 32", svc, len(password))
		}
		u, err := url.Parse(read(t, dir, svc+"_database_url"))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := u.User.Password()
		if got != password || u.User.Username() != "kitshop_"+svc || u.Host != svc+"-db:5432" || u.Path != "/"+svc {
			t.Errorf("%s URL %s does not match its database and password", svc, u.Redacted())
		}
	}
	if read(t, dir, "product_db_password") == read(t, dir, "user_db_password") {
		t.Error("two databases share a password")
	}
	secret := read(t, dir, "order_service_secret")
	if got := read(t, dir, "user_service_accounts"); got != "order:"+secret {
		t.Errorf("service accounts %q do not list the order secret", got)
	}
	if _, err := user.ParsePrivateKey([]byte(read(t, dir, "signing-key.pem"))); err != nil {
		t.Errorf("signing key: %v", err)
	}

	// Again: nothing changes.
	before := read(t, dir, "user_admin_password")
	created, err = Generate(dir, true, defaultDatabases...)
	if err != nil || len(created) != 0 {
		t.Fatalf("second run created %v, %v; want nothing", created, err)
	}
	if read(t, dir, "user_admin_password") != before {
		t.Error("second run changed the admin password")
	}

	// A missing derived file is rebuilt from the value that exists.
	password := read(t, dir, "order_db_password")
	os.Remove(filepath.Join(dir, "order_database_url"))
	os.Remove(filepath.Join(dir, "user_service_accounts"))
	created, err = Generate(dir, false, defaultDatabases...)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []string{"order_database_url", "user_service_accounts"}) {
		t.Errorf("created %v", created)
	}
	if !strings.Contains(read(t, dir, "order_database_url"), ":"+password+"@") {
		t.Error("rebuilt URL does not carry the existing password")
	}
	if read(t, dir, "user_service_accounts") != "order:"+secret {
		t.Error("rebuilt accounts do not carry the existing secret")
	}
}

func TestGenerateIsRandom(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	if _, err := Generate(a, false, defaultDatabases...); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(b, false, "inventory"); err != nil {
		t.Fatal(err)
	}
	if read(t, a, "user_admin_password") == read(t, b, "user_admin_password") {
		t.Error("two runs made the same admin password")
	}
	if _, err := os.Stat(filepath.Join(b, "inventory_database_url")); err != nil {
		t.Errorf("no URL for the database named: %v", err)
	}
	if _, err := os.Stat(filepath.Join(b, "product_database_url")); !os.IsNotExist(err) {
		t.Error("product's URL written although only inventory was named")
	}
	if _, err := os.Stat(filepath.Join(a, "signing-key.pem")); !os.IsNotExist(err) {
		t.Error("signing key written without -signing-key")
	}
}

func TestRunUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run(nil, &out, &errOut); err == nil {
		t.Error("run without -dir succeeded")
	}
	if err := run([]string{"-dir", t.TempDir(), "../etc"}, &out, &errOut); err == nil {
		t.Error("run accepted a database name with a path in it")
	}
	dir := t.TempDir()
	if err := run([]string{"-dir", dir}, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "created "+filepath.Join(dir, "user_admin_password")) {
		t.Errorf("output %q", out.String())
	}
}
