package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hashicorp/consul/api"
)

// Client is the part of the Consul HTTP API this package uses. It is small on
// purpose: the rest of kitshop names the concept (register, watch), never the
// vendor, and tests replace Consul with an in-memory fake.
//
// Every method honours ctx: cancelling it aborts the request, including a
// blocking query that is waiting for a change.
type Client interface {
	// Register adds a service instance and its checks to the local agent, or
	// replaces them if the instance ID is already registered. It returns an
	// api.StatusError when the agent rejects the registration.
	Register(ctx context.Context, r *api.AgentServiceRegistration) error

	// Deregister removes a service instance and its checks from the local
	// agent. Removing an instance the agent does not know is not an error.
	Deregister(ctx context.Context, serviceID string) error

	// Registered reports whether the local agent knows the service instance.
	Registered(ctx context.Context, serviceID string) (bool, error)

	// Service lists the instances of a service with their health, optionally
	// only those with a tag and only those whose checks all pass. With
	// q.WaitIndex set it is a blocking query: it returns once the result's
	// index moves past WaitIndex or q.WaitTime has elapsed.
	Service(ctx context.Context, service, tag string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error)

	// CatalogServices lists every service name in the catalog with the union
	// of its instances' tags. It supports blocking queries like Service.
	CatalogServices(ctx context.Context, q *api.QueryOptions) (map[string][]string, *api.QueryMeta, error)
}

type client struct {
	consul *api.Client
}

// NewClient returns a Client for the Consul agent at addr ("host:port", or a
// URL with an http, https or unix scheme). It does not contact the agent, so
// it succeeds while Consul is still down; the rest of the package retries.
func NewClient(addr string) (Client, error) {
	if addr == "" {
		return nil, errors.New("consul: empty agent address")
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("consul: client for %s: %w", addr, err)
	}
	return &client{consul: c}, nil
}

func (c *client) Register(ctx context.Context, r *api.AgentServiceRegistration) error {
	// Replacing existing checks makes registration idempotent: registering the
	// same ID again leaves exactly the checks we describe now.
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	return c.consul.Agent().ServiceRegisterOpts(r, opts)
}

func (c *client) Deregister(ctx context.Context, serviceID string) error {
	err := c.consul.Agent().ServiceDeregisterOpts(serviceID, (&api.QueryOptions{}).WithContext(ctx))
	if isNotFound(err) {
		return nil
	}
	return err
}

func (c *client) Registered(ctx context.Context, serviceID string) (bool, error) {
	_, _, err := c.consul.Agent().Service(serviceID, (&api.QueryOptions{}).WithContext(ctx))
	switch {
	case err == nil:
		return true, nil
	case isNotFound(err):
		return false, nil
	default:
		return false, err
	}
}

func (c *client) Service(ctx context.Context, service, tag string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	return c.consul.Health().Service(service, tag, passingOnly, withContext(ctx, q))
}

func (c *client) CatalogServices(ctx context.Context, q *api.QueryOptions) (map[string][]string, *api.QueryMeta, error) {
	return c.consul.Catalog().Services(withContext(ctx, q))
}

func withContext(ctx context.Context, q *api.QueryOptions) *api.QueryOptions {
	if q == nil {
		q = &api.QueryOptions{}
	}
	return q.WithContext(ctx) // a copy: the caller's options stay untouched
}

func isNotFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}
