package validate

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// Dockerignore is a parsed .dockerignore, matching paths the way the Docker
// builder does (github.com/moby/patternmatcher is its implementation).
type Dockerignore struct {
	pm *patternmatcher.PatternMatcher
}

// LoadDockerignore reads the .dockerignore at path.
func LoadDockerignore(path string) (*Dockerignore, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("validate: %s: %w", path, err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("validate: %s: %w", path, err)
	}
	return &Dockerignore{pm: pm}, nil
}

// Excluded reports whether the build context leaves out the file at rel, a
// slash-separated path relative to the context root.
func (d *Dockerignore) Excluded(rel string) (bool, error) {
	return d.pm.MatchesOrParentMatches(filepath.FromSlash(rel))
}

// ContextFiles returns the regular files under root that the build context
// holds, as slash-separated paths relative to root. Excluded directories are
// not descended into unless an exception pattern (!path) may re-include
// something inside them.
func (d *Dockerignore) ContextFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		excluded, err := d.Excluded(rel)
		if err != nil {
			return err
		}
		if e.IsDir() {
			if excluded && !d.mayReinclude(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !excluded && e.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

// mayReinclude reports whether an exception pattern could match something
// under the directory dir.
func (d *Dockerignore) mayReinclude(dir string) bool {
	for _, p := range d.pm.Patterns() {
		if !p.Exclusion() {
			continue
		}
		s := filepath.ToSlash(p.String())
		if strings.HasPrefix(s, dir+"/") || strings.ContainsAny(strings.SplitN(s, "/", 2)[0], "*?[") {
			return true
		}
	}
	return false
}
