package local

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/kitshop/kitshop/internal/devenv"
)

// StartGateway starts one more gateway instance beside the stack's, on a
// free port, with the same Consul, NATS and environment: what a deployment
// with several gateways behind a load balancer runs. It returns once the
// instance answers /readyz, with its URL; stopping it is the caller's
// (Process.Stop), Stack.Stop does not know it.
func (s *Stack) StartGateway(ctx context.Context, name string) (*devenv.Process, string, error) {
	port, err := devenv.FreePort()
	if err != nil {
		return nil, "", err
	}
	metricsPort, err := devenv.FreePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	proc, err := devenv.StartProcess(ctx, devenv.ProcessConfig{
		Name: name,
		Path: filepath.Join(s.cfg.BinDir, "gateway"),
		Args: []string{"-http-addr", addr, "-consul-addr", s.consul.Addr(),
			"-metrics-addr", "127.0.0.1:" + strconv.Itoa(metricsPort)},
		Env:     append([]string{s.natsEnv("gateway")}, s.cfg.GatewayEnv...),
		LogPath: s.logPath(name),
		Dir:     s.cfg.Root,
	})
	if err != nil {
		return nil, "", err
	}
	url := "http://" + addr
	err = s.await(ctx, fmt.Sprintf("%s to answer GET %s/readyz", name, url), proc, func(ctx context.Context) error {
		return statusIs(ctx, http.MethodGet, url+"/readyz", "", http.StatusOK)
	})
	if err != nil {
		proc.Kill()
		return nil, "", err
	}
	return proc, url, nil
}
