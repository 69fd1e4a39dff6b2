package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// errInjected is the failure the test hook (failAfterEnv) causes.
var errInjected = errors.New("failing on purpose: " + failAfterEnv + " is set")

// apply writes the plan: new files (never over an existing one) and changed
// files (atomically, through a temporary file renamed over the original,
// keeping its mode). On the first failure it undoes every write already
// made, in reverse order — new files and the directories created for them
// are removed, changed files get their original content back — and returns
// the failure. failAfter >= 0 fails on purpose after that many writes, for
// kitgen's tests.
func (p *plan) apply(failAfter int) (err error) {
	var undo []func() error
	defer func() {
		if err == nil {
			return
		}
		var undoErrs []error
		for _, u := range slices.Backward(undo) {
			if uerr := u(); uerr != nil {
				undoErrs = append(undoErrs, uerr)
			}
		}
		if len(undoErrs) > 0 {
			err = fmt.Errorf("%w\nand undoing the writes failed, check `git status`:\n%w", err, errors.Join(undoErrs...))
		} else {
			err = fmt.Errorf("%w\nnothing was left behind: the files written were removed, the ones changed restored", err)
		}
	}()
	for i, f := range p.files {
		if i == failAfter {
			return errInjected
		}
		target := filepath.Join(p.root, filepath.FromSlash(f.path))
		if f.original == nil {
			dirs, err := mkdirs(filepath.Dir(target))
			for _, d := range dirs {
				undo = append(undo, func() error { return os.Remove(d) })
			}
			if err != nil {
				return err
			}
			if err := createFile(target, f.data, f.perm); err != nil {
				return err
			}
			undo = append(undo, func() error { return os.Remove(target) })
			continue
		}
		current, err := os.ReadFile(target)
		if err != nil {
			return err
		}
		if !bytes.Equal(current, f.original) {
			return fmt.Errorf("%s changed while kitgen ran; run it again", f.path)
		}
		if err := replaceFile(target, f.data, f.perm); err != nil {
			return err
		}
		undo = append(undo, func() error { return replaceFile(target, f.original, f.perm) })
	}
	return nil
}

// mkdirs creates dir and its missing parents, and returns the directories
// it created, outermost first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	slices.Reverse(missing)
	var created []string
	for _, d := range missing {
		if err := os.Mkdir(d, 0o755); err != nil {
			return created, err
		}
		created = append(created, d)
	}
	return created, nil
}

// createFile writes a new file, failing if one exists, with exactly perm
// (the umask does not apply: compose's secret files must be world-readable).
func createFile(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(path, perm)
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// replaceFile replaces path's content atomically: a reader sees the old
// file or the new one, never half of it.
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".kitgen-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), perm)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}
