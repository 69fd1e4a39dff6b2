package gateway

import (
	"fmt"
	"net/http"

	"github.com/kitshop/kitshop/kit/httpx"
)

// forward sends the request to an instance of rt's service through the
// proxy, or answers 503 when the service has no healthy instance.
func (g *Gateway) forward(w http.ResponseWriter, r *http.Request, rt *Route, info *requestInfo) {
	if len(rt.Instances) == 0 {
		httpx.WriteError(w, r, g.logger, unavailable(fmt.Errorf("service %s has no healthy instance", rt.Service),
			msgUnavailable, noInstanceRetry))
		return
	}
	b, err := prepareBody(w, r, g.maxBody, g.bufBody)
	if err != nil {
		httpx.WriteError(w, r, g.logger, err)
		return
	}
	info.call = call{route: rt, body: b, info: info}
	g.proxy.ServeHTTP(w, r)
}
