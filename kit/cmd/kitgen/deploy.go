package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// The deployment files kitgen adds a service to.
const (
	composeFile = "docker-compose.yml"
	baseKustom  = "deploy/k8s/base/kustomization.yaml"
	localKustom = "deploy/k8s/overlays/local/kustomization.yaml"
)

// editDeployFiles returns the changed docker-compose.yml and kustomization
// files, each with the service's entries appended to its lists. Nothing is
// rewritten: every original line stays as it is, comments included, and new
// lines only go at the end of a top-level section (or before a known
// neighbour, to keep compose's databases and services grouped).
func editDeployFiles(root string, d data) ([]file, error) {
	var changed []file
	edits := []struct {
		path string
		edit func([]string, data) ([]string, error)
	}{
		{composeFile, editCompose},
		{baseKustom, editBaseKustomization},
		{localKustom, editLocalKustomization},
	}
	for _, e := range edits {
		p := filepath.Join(root, filepath.FromSlash(e.path))
		original, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("adding the service to %s: %w", e.path, err)
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		lines := strings.Split(strings.TrimSuffix(string(original), "\n"), "\n")
		lines, err = e.edit(lines, d)
		if err != nil {
			return nil, fmt.Errorf("adding the service to %s: %w (add it by hand, see docs/adding-a-service.md)", e.path, err)
		}
		out := []byte(strings.Join(lines, "\n") + "\n")
		if !sameLinesInOrder(original, out) {
			// A bug here, not in the file: an edit only inserts lines.
			return nil, fmt.Errorf("adding the service to %s: the edit would lose lines", e.path)
		}
		changed = append(changed, file{
			path:     e.path,
			data:     out,
			perm:     info.Mode().Perm(),
			original: original,
		})
	}
	return changed, nil
}

// editCompose adds the service's database and service blocks to services
// (the database after the other databases, the service before the
// gateway), its database to the secrets generator's list (so its password
// and URL are generated, never committed) and its data volume to volumes.
func editCompose(lines []string, d data) ([]string, error) {
	for _, taken := range []struct{ section, key string }{
		{"services", d.Name},
		{"services", d.Name + "-db"},
		{"volumes", d.Name + "-db-data"},
	} {
		if hasEntry(lines, taken.section, taken.key) {
			return nil, fmt.Errorf("%s already has %s", taken.section, taken.key)
		}
	}
	database, err := fragment("compose-database.yaml", d)
	if err != nil {
		return nil, err
	}
	service, err := fragment("compose-service.yaml", d)
	if err != nil {
		return nil, err
	}
	start, end, ok := section(lines, "services")
	if !ok {
		return nil, fmt.Errorf("no indented top-level services section")
	}
	// The service goes before the gateway's block (and the comment above
	// it), or at the end of services.
	at := end
	if i := slices.Index(lines[start:end], "  gateway:"); i >= 0 {
		at = start + i
		for at > start+1 && strings.HasPrefix(lines[at-1], "  #") {
			at--
		}
	} else {
		service = append([]string{""}, trimBlankEnd(service)...)
	}
	// The database goes before the services' heading comment, after the
	// other databases; without that heading, just before the service.
	dbAt := at
	if i := slices.IndexFunc(lines[start:at], func(l string) bool { return strings.HasPrefix(l, "  # ---- services") }); i >= 0 {
		dbAt = start + i
	}
	lines = insert(lines, at, service...)
	lines = insert(lines, dbAt, database...)

	if lines, err = appendGeneratorDatabase(lines, d.Name); err != nil {
		return nil, err
	}
	for _, add := range []struct{ section, fragment string }{
		{"volumes", "compose-volumes.yaml"},
	} {
		entries, err := fragment(add.fragment, d)
		if err != nil {
			return nil, err
		}
		if lines, err = appendToSection(lines, add.section, entries); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// appendGeneratorDatabase appends name to the command list of the compose
// service that runs kitshop-secrets: its "command:" block of "      - db"
// lines.
func appendGeneratorDatabase(lines []string, name string) ([]string, error) {
	start, end, ok := section(lines, "services")
	if !ok {
		return nil, fmt.Errorf("no indented top-level services section")
	}
	gen := slices.IndexFunc(lines[start:end], func(l string) bool { return strings.Contains(l, "/usr/local/bin/kitshop-secrets") })
	if gen < 0 {
		return nil, fmt.Errorf("no service runs kitshop-secrets")
	}
	cmd := -1
	for i := start + gen; i < end && cmd < 0; i++ {
		if lines[i] == "    command:" {
			cmd = i
		}
		if i > start+gen && strings.HasPrefix(lines[i], "  ") && !strings.HasPrefix(lines[i], "   ") {
			break // the next service
		}
	}
	if cmd < 0 {
		return nil, fmt.Errorf("the kitshop-secrets service has no command: block listing the databases")
	}
	at := cmd + 1
	for at < end && strings.HasPrefix(lines[at], "      - ") {
		if strings.TrimPrefix(lines[at], "      - ") == name {
			return nil, fmt.Errorf("the kitshop-secrets service already lists %s", name)
		}
		at++
	}
	return insert(lines, at, "      - "+name), nil
}

// editBaseKustomization adds the manifests to resources and the service's
// ConfigMap to configMapGenerator.
func editBaseKustomization(lines []string, d data) ([]string, error) {
	text := strings.Join(lines, "\n")
	for _, taken := range []string{"- " + d.Name + ".yaml", "- " + d.Name + "-db.yaml", "name: " + d.Name + "-config"} {
		if containsLine(text, taken) {
			return nil, fmt.Errorf("it already has %q", taken)
		}
	}
	return appendFragments(lines, d, map[string]string{
		"resources":          "kustomization-resources.yaml",
		"configMapGenerator": "kustomization-config.yaml",
	})
}

// editLocalKustomization adds the image tag and the database Secret, read
// from the files kitshop-secrets writes.
func editLocalKustomization(lines []string, d data) ([]string, error) {
	text := strings.Join(lines, "\n")
	for _, taken := range []string{"- name: kitshop/" + d.Name, "- name: " + d.Name + "-db"} {
		if containsLine(text, taken) {
			return nil, fmt.Errorf("it already has %q", taken)
		}
	}
	return appendFragments(lines, d, map[string]string{
		"images":          "overlay-images.yaml",
		"secretGenerator": "overlay-secrets.yaml",
	})
}

// appendFragments appends each rendered fragment to its section, in
// section name order so the result does not depend on map order.
func appendFragments(lines []string, d data, bySection map[string]string) ([]string, error) {
	keys := make([]string, 0, len(bySection))
	for k := range bySection {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, key := range keys {
		entries, err := fragment(bySection[key], d)
		if err != nil {
			return nil, err
		}
		if lines, err = appendToSection(lines, key, entries); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// topLevelKey matches a top-level mapping key line ("services:", with an
// optional comment), capturing the key.
var topLevelKey = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_-]*):\s*(#.*)?$`)

// section finds the block of the top-level key: start is the key's line,
// end the line after the block's last indented line (so top-level comments
// that introduce the next key stay with it). ok is false if the key is
// missing or its block has no indented line: kitshop's files indent their
// lists, and a layout this code does not know is better left alone.
func section(lines []string, key string) (start, end int, ok bool) {
	start = slices.IndexFunc(lines, func(l string) bool {
		m := topLevelKey.FindStringSubmatch(l)
		return m != nil && m[1] == key
	})
	if start < 0 {
		return 0, 0, false
	}
	end = start + 1
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
		case l[0] == ' ' || l[0] == '\t':
			end = i + 1
		case l[0] == '#':
		default:
			return start, end, end > start+1 // the next top-level key or document
		}
	}
	return start, end, end > start+1
}

// appendToSection inserts entries after the last indented line of the
// top-level key's block.
func appendToSection(lines []string, key string, entries []string) ([]string, error) {
	_, end, ok := section(lines, key)
	if !ok {
		return nil, fmt.Errorf("no indented top-level %s section", key)
	}
	return insert(lines, end, trimBlankEnd(entries)...), nil
}

// hasEntry reports whether the top-level key's block has the two-space
// indented key entry.
func hasEntry(lines []string, key, entry string) bool {
	start, end, ok := section(lines, key)
	if !ok {
		return false
	}
	return slices.ContainsFunc(lines[start+1:end], func(l string) bool {
		return strings.HasPrefix(l, "  "+entry+":")
	})
}

// containsLine reports whether a line of text, without its indentation, is
// s or starts with s followed by a space.
func containsLine(text, s string) bool {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == s || strings.HasPrefix(l, s+" ") {
			return true
		}
	}
	return false
}

func insert(lines []string, at int, add ...string) []string {
	return slices.Insert(slices.Clip(lines), at, add...)
}

func trimBlankEnd(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// sameLinesInOrder reports whether every line of before appears in after in
// the same order: what an edit that only inserts must leave true.
func sameLinesInOrder(before, after []byte) bool {
	a := bytes.Split(after, []byte("\n"))
	i := 0
	for _, l := range bytes.Split(before, []byte("\n")) {
		for i < len(a) && !bytes.Equal(a[i], l) {
			i++
		}
		if i == len(a) {
			return false
		}
		i++
	}
	return true
}
