package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/kitshop/kitshop/bench"
	"github.com/kitshop/kitshop/internal/devenv"
)

// The go-zero peer's row: bench/gozero, a module of its own that `make
// bench` builds into bin/gozero-peer.
const (
	gozeroKey    = "gozero"
	gozeroName   = "go-zero peer (rest + sqlx): GET /api/v1/products/{id}"
	gozeroBinary = "gozero-peer"
)

// startGoZero starts the go-zero peer on the product database beside the
// bare handler, when its row is selected. A peer that is missing or does
// not start costs its row, not the run: env.gozeroNA says why, and the row
// shows it. It fails only when ctx is done.
func (env *environment) startGoZero(ctx context.Context, o options, log io.Writer) error {
	if len(o.only) > 0 && !slices.Contains(o.only, gozeroKey) {
		return nil
	}
	path := filepath.Join(o.binDir, gozeroBinary)
	if _, err := os.Stat(path); err != nil {
		env.gozeroNA = fmt.Sprintf("%s not built: make bench builds it from bench/gozero", path)
		fmt.Fprintf(log, "kitbench: go-zero peer: %s\n", env.gozeroNA)
		return nil
	}
	port, err := devenv.FreePort()
	if err != nil {
		return err
	}
	devPort, err := devenv.FreePort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proc, err := startHelper(ctx, o, "gozero", gozeroBinary, "/healthz",
		[]string{
			"-addr", addr,
			"-dev-addr", "127.0.0.1:" + strconv.Itoa(devPort),
			// bare's pool, pgxpool's default, which the product service
			// runs with too, so the rows compare code, not pool sizes
			// (go-zero's own is 64).
			"-max-conns", strconv.Itoa(max(4, runtime.NumCPU())),
			// go-zero's load shedding is a limit like the services' rate
			// limits, which kitbench raises out of the way: at wrk's
			// saturation it would answer 503 (it reads its cgroup's CPU,
			// here the machine's, which wrk and Postgres fill), and the
			// row would measure the limiter.
			"-cpu-threshold", "0",
		},
		[]string{"GOZERO_DATABASE_URL=" + env.productDB}, // not on the command line: it holds a password
		addr)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		env.gozeroNA = "did not start: " + firstLine(err.Error())
		fmt.Fprintf(log, "kitbench: go-zero peer: %v\n", err)
		return nil
	}
	env.gozero, env.gozeroURL = proc, "http://"+addr
	fmt.Fprintf(log, "kitbench: go-zero peer ready on %s\n", addr)
	return nil
}

// gozeroTarget is the go-zero peer's GET of the bench product, once its
// answer is checked against the bare handler's body (bareBody); a note
// in rep says whether the bytes match.
func (h *harness) gozeroTarget(ctx context.Context, a api, rep *bench.Report, get func(key, name, url string) target, itemPath string, bareBody []byte) target {
	t := target{key: gozeroKey, name: gozeroName}
	if h.env.gozeroURL == "" {
		t.na = cmp.Or(h.env.gozeroNA, "not started")
		return t
	}
	url := h.env.gozeroURL + itemPath
	status, body, err := a.get(ctx, url)
	note, na := comparePeer("the go-zero peer", bareBody, status, body, err)
	if note != "" {
		rep.Notes = append(rep.Notes, note)
	}
	if na != "" {
		t.na = na
		return t
	}
	return get(t.key, t.name, url)
}

// comparePeer judges a peer's answer for the bench product against the
// bare handler's body: a peer that fails to answer 200 is not measured (na
// says why); otherwise note says whether the bytes match. A different body
// is measured anyway, as the product row is, and the note shows it.
func comparePeer(peer string, bare []byte, status int, body []byte, err error) (note, na string) {
	switch {
	case err != nil:
		return "", "GET failed: " + err.Error()
	case status != http.StatusOK:
		return "", fmt.Sprintf("GET answered %d: %s", status, strings.TrimSpace(string(body[:min(len(body), 200)])))
	default:
		return bodyNote(peer, bare, body), ""
	}
}

// bodyNote says whether body, what peer answered for the bench product,
// is the bare handler's byte for byte: a different one makes the ratio
// unfair, and the report must show it.
func bodyNote(peer string, bare, body []byte) string {
	if !bytes.Equal(bare, body) {
		return fmt.Sprintf("the bare handler's body (%d bytes) differs from %s's (%d bytes)", len(bare), peer, len(body))
	}
	return fmt.Sprintf("the bare handler and %s return the same %d-byte body", peer, len(body))
}
