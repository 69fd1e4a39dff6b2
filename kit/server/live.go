package server

import (
	"encoding/json"
	"net/http"

	"github.com/kitshop/kitshop/kit/version"
)

// liveBody is what /healthz answers: kit/health's {"status":"ok"} with the
// build that answers, so that an operator, a rollout script or a test can
// tell which version runs behind an address.
type liveBody struct {
	Status  string `json:"status"`
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// liveHandler serves /healthz: always 200 with liveBody. Like kit/health's
// LiveHandler it checks nothing, so a dependency outage never makes an
// orchestrator restart a healthy process. The body is the same for the
// life of the process and made once.
func liveHandler() http.Handler {
	v := version.Get()
	body, _ := json.Marshal(liveBody{Status: "ok", Version: v.Version, Commit: v.Commit}) // strings only; cannot fail
	body = append(body, '\n')
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		// Probes must see the current state, never a cached one.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
}
