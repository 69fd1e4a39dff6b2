package validate

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// MainModule is the module path of the repository this module validates.
const MainModule = "github.com/kitshop/kitshop"

// RepoRoot returns the root of the kitshop repository: the nearest directory
// at or above the working directory whose go.mod declares MainModule (this
// module's own go.mod, one level down, declares another path).
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if modulePath(filepath.Join(dir, "go.mod")) == MainModule {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("validate: no go.mod of " + MainModule + " above the working directory")
		}
		dir = parent
	}
}

// modulePath returns the module path declared in the go.mod at path, or ""
// if there is none.
func modulePath(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
