package config_test

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/config"
)

// writeFile writes content to a new file in a test directory and returns
// its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestParseFromFile(t *testing.T) {
	const url = "postgres://product:s3cret@db:5432/product"
	tests := []struct {
		name    string
		files   map[string]string // file name -> content; "$name" in env values is replaced by its path
		env     map[string]string
		args    []string
		want    settings
		wantErr string // substring; "" means success
	}{
		{name: "value from file",
			files: map[string]string{"url": url},
			env:   map[string]string{"PRODUCT_DATABASE_URL_FILE": "$url"},
			want:  withURL(url)},
		{name: "trailing newline trimmed",
			files: map[string]string{"url": url + "\n"},
			env:   map[string]string{"PRODUCT_DATABASE_URL_FILE": "$url"},
			want:  withURL(url)},
		{name: "trailing CRLF and blank lines trimmed",
			files: map[string]string{"url": url + "\r\n\n"},
			env:   map[string]string{"PRODUCT_DATABASE_URL_FILE": "$url"},
			want:  withURL(url)},
		{name: "other whitespace kept",
			files: map[string]string{"url": " " + url + "\t\n"},
			env:   map[string]string{"PRODUCT_DATABASE_URL_FILE": "$url"},
			want:  withURL(" " + url + "\t")},
		{name: "empty file is an empty value",
			files: map[string]string{"addr": ""},
			env:   map[string]string{"PRODUCT_CONSUL_ADDR_FILE": "$addr"},
			want:  settings{HTTPAddr: ":8081", Drain: defaults.Drain, RateLimit: 100}},
		{name: "typed flag from file",
			files: map[string]string{"drain": "3s\n", "seed": "true\n"},
			env:   map[string]string{"PRODUCT_DRAIN_TIMEOUT_FILE": "$drain", "PRODUCT_SEED_FILE": "$seed"},
			want:  settings{HTTPAddr: ":8081", ConsulAddr: "127.0.0.1:8500", Seed: true, Drain: 3 * time.Second, RateLimit: 100}},
		{name: "plain variable wins over file",
			files: map[string]string{"url": "postgres://from-file/x"},
			env:   map[string]string{"PRODUCT_DATABASE_URL": url, "PRODUCT_DATABASE_URL_FILE": "$url"},
			want:  withURL(url)},
		{name: "flag wins over file",
			files: map[string]string{"url": "postgres://from-file/x"},
			env:   map[string]string{"PRODUCT_DATABASE_URL_FILE": "$url"},
			args:  []string{"-database-url", url},
			want:  withURL(url)},
		{name: "flag wins over an unreadable file",
			env:  map[string]string{"PRODUCT_DATABASE_URL_FILE": "/nonexistent/kitshop/url"},
			args: []string{"-database-url", url},
			want: withURL(url)},
		{name: "missing file names variable and path",
			env:     map[string]string{"PRODUCT_DATABASE_URL_FILE": "/nonexistent/kitshop/url"},
			wantErr: "environment variable PRODUCT_DATABASE_URL_FILE (for -database-url): open /nonexistent/kitshop/url"},
		{name: "empty file name",
			env:     map[string]string{"PRODUCT_DATABASE_URL_FILE": ""},
			wantErr: "PRODUCT_DATABASE_URL_FILE (for -database-url): empty file name"},
		{name: "directory",
			env:     map[string]string{"PRODUCT_DATABASE_URL_FILE": os.TempDir()},
			wantErr: "PRODUCT_DATABASE_URL_FILE (for -database-url): reading"},
		{name: "bad value in file",
			files:   map[string]string{"drain": "soon"},
			env:     map[string]string{"PRODUCT_DRAIN_TIMEOUT_FILE": "$drain"},
			wantErr: "environment variable PRODUCT_DRAIN_TIMEOUT_FILE (for -drain-timeout): value in "},
		{name: "oversized file",
			files:   map[string]string{"big": strings.Repeat("x", 1<<20+1)},
			env:     map[string]string{"PRODUCT_DATABASE_URL_FILE": "$big"},
			wantErr: "is larger than 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			paths := map[string]string{}
			for name, content := range tt.files {
				paths["$"+name] = writeFile(t, name, content)
			}
			for k, v := range tt.env {
				if p, ok := paths[v]; ok {
					v = p
				}
				t.Setenv(k, v)
			}
			var got settings
			err := config.Parse(newFlagSet(&got), "PRODUCT", tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func withURL(url string) settings {
	s := defaults
	s.DatabaseURL = url
	return s
}

// A flag whose own name ends in -file is set by its plain variable; that
// variable is never read as the _FILE source of a shorter flag.
func TestParseFileVariableOfAnotherFlag(t *testing.T) {
	tests := []struct {
		name        string
		env         map[string]string
		wantKey     string
		wantKeyFile string
	}{
		{name: "variable belongs to -signing-key-file",
			env:         map[string]string{"USER_SIGNING_KEY_FILE": "/keys/signing.pem"},
			wantKeyFile: "/keys/signing.pem"},
		{name: "double suffix reads the file for -signing-key-file",
			env:         map[string]string{"USER_SIGNING_KEY_FILE_FILE": "$path"},
			wantKeyFile: "/keys/from-file.pem"},
		{name: "plain variable of -signing-key",
			env:     map[string]string{"USER_SIGNING_KEY": "inline"},
			wantKey: "inline"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, "name", "/keys/from-file.pem\n")
			for k, v := range tt.env {
				if v == "$path" {
					v = path
				}
				t.Setenv(k, v)
			}
			fs := flag.NewFlagSet("user", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			key := fs.String("signing-key", "", "inline key")
			keyFile := fs.String("signing-key-file", "", "key file")
			if err := config.Parse(fs, "USER", nil); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if *key != tt.wantKey || *keyFile != tt.wantKeyFile {
				t.Errorf("got -signing-key %q -signing-key-file %q, want %q %q", *key, *keyFile, tt.wantKey, tt.wantKeyFile)
			}
		})
	}
}

func TestParseFileErrorDoesNotShowContent(t *testing.T) {
	t.Setenv("PRODUCT_RATE_LIMIT_FILE", writeFile(t, "limit", "hunter2\n"))
	var s settings
	err := config.Parse(newFlagSet(&s), "PRODUCT", nil)
	if err == nil {
		t.Fatal("Parse succeeded")
	}
	// strconv's own message quotes the value; ours must not add more.
	if got := strings.Count(err.Error(), "hunter2"); got > 1 {
		t.Errorf("error %q repeats the value %d times", err, got)
	}
}
