package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var staticFS embed.FS

// StaticPrefix is where the assets are served.
const StaticPrefix = "/static/"

// Assets are the embedded static files, each served under a name that
// carries a hash of its content ("style.3f2a9c1d.css"), so that it can be
// cached for a year: a new version has a new name.
type Assets struct {
	byName map[string]string // "style.css" -> "/static/style.3f2a9c1d.css"
	files  map[string][]byte // "style.3f2a9c1d.css" -> content
}

// NewAssets fingerprints the embedded files.
func NewAssets() (*Assets, error) {
	a := &Assets{byName: map[string]string{}, files: map[string][]byte{}}
	err := fs.WalkDir(staticFS, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := staticFS.ReadFile(p)
		if err != nil {
			return err
		}
		name := path.Base(p)
		sum := sha256.Sum256(data)
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:])[:12] + ext
		a.byName[name] = StaticPrefix + hashed
		a.files[hashed] = data
		return nil
	})
	return a, err
}

// Path returns the fingerprinted path of a file; templates call it as
// {{asset "style.css"}}. An unknown name is a bug in a template.
func (a *Assets) Path(name string) (string, error) {
	p, ok := a.byName[name]
	if !ok {
		return "", fmt.Errorf("no static file %q", name)
	}
	return p, nil
}

// ServeHTTP serves a fingerprinted file with a year's cache lifetime.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, StaticPrefix)
	data, ok := a.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	ctype := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}[path.Ext(name)]
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(data)
}
