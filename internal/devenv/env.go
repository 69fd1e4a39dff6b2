package devenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ModulePath is the module path of the kitshop repository; RepoRoot looks for
// the go.mod that declares it, so nested modules such as tools/consul are not
// mistaken for the root.
const ModulePath = "github.com/kitshop/kitshop"

// Environment variables that override where binaries are looked up.
const (
	// EnvConsul names a Consul binary to use instead of <root>/bin/consul.
	EnvConsul = "KITSHOP_CONSUL"
	// EnvPostgresBinDir names a directory holding initdb and postgres.
	EnvPostgresBinDir = "KITSHOP_PG_BINDIR"
)

// errDeps is appended to every "binary not found" error so the fix is obvious.
const errDeps = "run `make deps` to install it"

// RepoRoot returns the absolute, symlink-free path of the kitshop repository
// that contains the working directory. Tests run in their package directory
// and `make run` runs at the root, so walking up finds it in both cases.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	return RepoRootFrom(dir)
}

// RepoRootFrom is RepoRoot starting from dir instead of the working
// directory (a program started elsewhere can start from its executable's
// directory).
func RepoRootFrom(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("repo root: %w", err)
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for start := dir; ; {
		if isRootModule(filepath.Join(dir, "go.mod")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("repo root: no go.mod declaring module %s in %s or above", ModulePath, start)
		}
		dir = parent
	}
}

// isRootModule reports whether the go.mod at path declares ModulePath.
func isRootModule(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "module" {
			return strings.Trim(fields[1], `"`) == ModulePath
		}
	}
	return false
}

// CheckPortFree returns an error naming the port and its intended user when
// something already listens on 127.0.0.1:port. Fixed ports (the local stack's
// 8080, 8500, 55432) are checked up front so a clash is reported clearly
// instead of as a crash deep inside a child's log.
func CheckPortFree(port int, user string) error {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("port %d (for %s) is already in use by another process: %w", port, user, err)
	}
	return l.Close()
}

// PostgresBinDir returns the directory holding the PostgreSQL server binaries
// (initdb, postgres). It tries $KITSHOP_PG_BINDIR, then Debian's
// /usr/lib/postgresql/<version>/bin (newest version first), then PATH.
func PostgresBinDir() (string, error) {
	if dir := os.Getenv(EnvPostgresBinDir); dir != "" {
		if !hasPostgres(dir) {
			return "", fmt.Errorf("$%s=%s does not contain initdb and postgres", EnvPostgresBinDir, dir)
		}
		return dir, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(matches, func(i, j int) bool { return pgVersion(matches[i]) > pgVersion(matches[j]) })
	for _, dir := range matches {
		if hasPostgres(dir) {
			return dir, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(path); hasPostgres(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found in /usr/lib/postgresql/*/bin or PATH; %s", errDeps)
}

// pgVersion extracts the major version from /usr/lib/postgresql/<v>/bin.
func pgVersion(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func hasPostgres(dir string) bool {
	return isExecutable(filepath.Join(dir, "initdb")) && isExecutable(filepath.Join(dir, "postgres"))
}

// ConsulBinary returns the Consul binary to run: $KITSHOP_CONSUL, then
// <repo root>/bin/consul (what `make deps` builds), then consul on PATH.
func ConsulBinary() (string, error) {
	if path := os.Getenv(EnvConsul); path != "" {
		if !isExecutable(path) {
			return "", fmt.Errorf("$%s=%s is not an executable file", EnvConsul, path)
		}
		return path, nil
	}
	if root, err := RepoRoot(); err == nil {
		if path := filepath.Join(root, "bin", "consul"); isExecutable(path) {
			return path, nil
		}
	}
	if path, err := exec.LookPath("consul"); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("consul binary not found in $%s, <repo>/bin/consul or PATH; %s", EnvConsul, errDeps)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// WaitHTTP polls url with GET until it answers wantStatus or ctx is done. The
// error on timeout carries the last status or transport error seen, which is
// usually the most useful clue.
func WaitHTTP(ctx context.Context, url string, wantStatus int) error {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	last := "no response yet"
	for {
		got, err := getStatus(ctx, client, url)
		switch {
		case err == nil && got == wantStatus:
			return nil
		case err != nil && ctx.Err() != nil:
			// Cut short by our own deadline: keep the earlier, more
			// telling answer.
		case err != nil:
			last = err.Error()
		default:
			last = fmt.Sprintf("status %d", got)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for GET %s to answer %d: %w (last: %s)", url, wantStatus, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

func getStatus(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

// TailFile returns at most the last n lines of the file at path, for error
// messages that should show why a child process failed. A missing or
// unreadable file yields a short note instead of an error.
func TailFile(path string, n int) string {
	if path == "" || path == os.DevNull {
		return "(no log file)"
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		if _, err := f.Seek(-maxTail, io.SeekEnd); err != nil {
			return fmt.Sprintf("(cannot read %s: %v)", path, err)
		}
	}
	data, err := io.ReadAll(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
