package gateway

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"go.yaml.in/yaml/v3"

	"github.com/kitshop/kitshop/kit/httpx"
)

// OpenAPIPath is where the gateway serves the OpenAPI 3.1 description of the
// public API, to anyone and without a token. No service can claim it as a
// route (see CleanPrefix).
const OpenAPIPath = "/api/openapi.json"

// openAPIYAML is the description, kept as YAML for people to read and edit
// (gateway/openapi.yaml).
//
//go:embed openapi.yaml
var openAPIYAML []byte

// OpenAPIYAML returns the OpenAPI document as written, in YAML.
func OpenAPIYAML() []byte { return bytes.Clone(openAPIYAML) }

// OpenAPIJSON returns the OpenAPI document converted to JSON, as the gateway
// serves it at OpenAPIPath.
func OpenAPIJSON() ([]byte, error) {
	var doc any
	if err := yaml.Unmarshal(openAPIYAML, &doc); err != nil {
		return nil, fmt.Errorf("gateway: openapi.yaml: %w", err)
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("gateway: openapi.yaml as JSON: %w", err)
	}
	return out, nil
}

// newOpenAPIHandler returns the handler of OpenAPIPath: GET and HEAD, with
// an ETag for conditional requests; a kit/httpx router answers other
// methods with a 405 problem.
func newOpenAPIHandler(logger log.Logger) (http.Handler, error) {
	doc, err := OpenAPIJSON()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	r := httpx.NewRouter(logger)
	r.Handle(http.MethodGet, OpenAPIPath, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(doc))
	}))
	return r, nil
}
