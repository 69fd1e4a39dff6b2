package liveconfig

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
)

// Root is the KV prefix of all live configuration: a service's settings are
// under Root/<service>/<key>.
const Root = "kitshop/config"

// writtenBy is the folder, under a service's prefix, of the records that say
// who wrote each setting. Consul's KV store has no author of its own, so
// Client.Set writes the record in the same transaction as the value; a
// value written another way (consul kv put, the UI) leaves the record's
// index behind the value's, and no author is claimed for it.
const writtenBy = ".written-by/"

// Prefix is the KV prefix of service's settings, with a trailing slash.
func Prefix(service string) string { return Root + "/" + service + "/" }

// Entry is a stored setting.
type Entry struct {
	Service string `json:"service"`
	Key     string `json:"key"`
	Value   string `json:"value"`
	// Index is Consul's ModifyIndex of the value.
	Index uint64 `json:"index"`
	// Author, when known, is who wrote the value and when.
	Author *Author `json:"author,omitempty"`
}

// Author says who wrote a value, and when.
type Author struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
	// Value is the value written, so that the record names its own write:
	// Consul leaves a key that is written unchanged as it was.
	Value string `json:"value"`
}

// KV is the part of Consul's KV API the watch uses; a Client is one.
type KV interface {
	// List returns the entries of service, blocking like a Consul blocking
	// query while index is not 0: it returns once Consul's index moves past
	// index or wait has elapsed. It also returns the new index.
	List(ctx context.Context, service string, index uint64, wait time.Duration) ([]Entry, uint64, error)
}

// Client reads and writes live settings in Consul.
type Client struct {
	kv *api.KV
}

// NewClient returns a Client of the Consul agent at addr ("host:port" or a
// URL). It does not contact the agent.
func NewClient(addr string) (*Client, error) {
	if addr == "" {
		return nil, errors.New("liveconfig: empty Consul address")
	}
	cfg := api.DefaultConfig()
	cfg.Address = addr
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("liveconfig: consul client for %s: %w", addr, err)
	}
	return &Client{kv: c.KV()}, nil
}

// List implements KV.
func (c *Client) List(ctx context.Context, service string, index uint64, wait time.Duration) ([]Entry, uint64, error) {
	q := (&api.QueryOptions{WaitIndex: index, WaitTime: wait}).WithContext(ctx)
	pairs, meta, err := c.kv.List(Prefix(service), q)
	if err != nil {
		return nil, 0, err
	}
	return entries(service, pairs), meta.LastIndex, nil
}

// entries turns a service's KV pairs into settings, with their authors
// where the author record was written with the value.
func entries(service string, pairs api.KVPairs) []Entry {
	prefix := Prefix(service)
	authors := make(map[string]*api.KVPair)
	for _, p := range pairs {
		if k, ok := strings.CutPrefix(p.Key, prefix+writtenBy); ok {
			authors[k] = p
		}
	}
	var out []Entry
	for _, p := range pairs {
		key := strings.TrimPrefix(p.Key, prefix)
		if strings.HasPrefix(key, ".") || key == "" || strings.HasSuffix(key, "/") {
			continue // metadata, or a folder
		}
		e := Entry{Service: service, Key: key, Value: string(p.Value), Index: p.ModifyIndex}
		// The record belongs to this version when it was written with it or
		// since (a rewrite of the same value leaves the value's index as
		// it was), and names the same value.
		if a, ok := authors[key]; ok && a.ModifyIndex >= p.ModifyIndex {
			var author Author
			if json.Unmarshal(a.Value, &author) == nil && author.Value == e.Value {
				e.Author = &author
			}
		}
		out = append(out, e)
	}
	return out
}

// Get returns the stored setting of service at key, and false when there
// is none (the service uses its default).
func (c *Client) Get(ctx context.Context, service, key string) (Entry, bool, error) {
	all, _, err := c.List(ctx, service, 0, 0)
	if err != nil {
		return Entry{}, false, err
	}
	for _, e := range all {
		if e.Key == key {
			return e, true, nil
		}
	}
	return Entry{}, false, nil
}

// Set checks value against schema and stores it, with by as its author, in
// one transaction.
func (c *Client) Set(ctx context.Context, schema Schema, key, value, by string) error {
	if err := schema.Check(key, value); err != nil {
		return err
	}
	value = strings.TrimSpace(value)
	author, err := json.Marshal(Author{By: by, At: time.Now().UTC().Truncate(time.Second), Value: value})
	if err != nil {
		return err
	}
	prefix := Prefix(schema.Service())
	return c.txn(ctx, api.KVTxnOps{
		{Verb: api.KVSet, Key: prefix + key, Value: []byte(value)},
		{Verb: api.KVSet, Key: prefix + writtenBy + key, Value: author},
	})
}

// Delete removes the setting of service at key, so the service goes back to
// its default. Deleting a setting that is not stored is not an error.
func (c *Client) Delete(ctx context.Context, service, key string) error {
	prefix := Prefix(service)
	return c.txn(ctx, api.KVTxnOps{
		{Verb: api.KVDelete, Key: prefix + key},
		{Verb: api.KVDelete, Key: prefix + writtenBy + key},
	})
}

func (c *Client) txn(ctx context.Context, ops api.KVTxnOps) error {
	ok, resp, _, err := c.kv.Txn(ops, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return fmt.Errorf("liveconfig: consul: %w", err)
	}
	if !ok {
		var msgs []string
		for _, e := range resp.Errors {
			msgs = append(msgs, e.What)
		}
		return fmt.Errorf("liveconfig: consul refused the write: %s", strings.Join(msgs, "; "))
	}
	return nil
}
