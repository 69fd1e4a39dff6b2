package liveconfig

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
)

// Value is a setting bound to a service: the stored value when there is a
// valid one, the default (from flags and environment) otherwise. Get is one
// atomic load, cheap enough for every request's path.
type Value[T any] struct {
	def      Def[T]
	fallback T
	cur      atomic.Pointer[T]

	mu        sync.Mutex
	listeners []func(T)
}

// Get returns the value in force.
func (v *Value[T]) Get() T { return *v.cur.Load() }

// Key is the setting's key.
func (v *Value[T]) Key() string { return v.def.key }

// OnChange calls fn with the new value after every change, and once now
// with the current one, so a component configured through fn starts in
// step. fn runs on the store's goroutine with the store locked: it must not
// block or call the Store (Enabled, Bind).
func (v *Value[T]) OnChange(fn func(T)) {
	v.mu.Lock()
	v.listeners = append(v.listeners, fn)
	v.mu.Unlock()
	fn(v.Get())
}

// set stores x and tells the listeners; it returns the old value formatted.
func (v *Value[T]) set(x T) (old, new string) {
	prev := v.cur.Swap(&x)
	v.mu.Lock()
	ls := v.listeners
	v.mu.Unlock()
	for _, fn := range ls {
		fn(x)
	}
	return v.def.format(*prev), v.def.format(x)
}

// apply parses raw (present) or restores the default (absent).
func (v *Value[T]) apply(raw string, present bool) (old, new string, err error) {
	if !present {
		old, new = v.set(v.fallback)
		return old, new, nil
	}
	x, err := v.def.Parse(raw)
	if err != nil {
		return "", "", err
	}
	old, new = v.set(x)
	return old, new, nil
}

type binding interface {
	apply(raw string, present bool) (old, new string, err error)
}

// Options tune a Store.
type Options struct {
	// Logger receives one line per change and per refused value.
	Logger log.Logger
	// Registerer, when set, gets the store's metrics.
	Registerer prometheus.Registerer
	// WaitTime bounds one blocking query (default 1 minute).
	WaitTime time.Duration
}

// Store follows a service's settings in Consul and applies them to the
// Values bound to it. Consul being unreachable changes nothing: the values
// in force stay until Consul answers again.
type Store struct {
	kv      KV
	schema  Schema
	logger  log.Logger
	wait    time.Duration
	invalid *prometheus.CounterVec
	changes *prometheus.CounterVec

	cancel context.CancelFunc
	done   chan struct{}
	ready  chan struct{}
	once   sync.Once // closes ready without a KV

	mu       sync.Mutex
	bindings map[string]binding
	applied  map[string]uint64 // key -> ModifyIndex last handled (0: default)
	entries  map[string]Entry  // the last known stored settings
	flags    map[string]*Value[bool]
}

// NewStore returns a store of schema's service that reads kv. Bind the
// service's settings, then Start it.
func NewStore(kv KV, schema Schema, o Options) *Store {
	if o.Logger == nil {
		o.Logger = log.NewNopLogger()
	}
	if o.WaitTime <= 0 {
		o.WaitTime = time.Minute
	}
	s := &Store{
		kv: kv, schema: schema, logger: o.Logger, wait: o.WaitTime,
		invalid: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kitshop", Name: "liveconfig_invalid_total",
			Help: "Stored live settings refused as invalid (the previous value stayed), by key.",
		}, []string{"key"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "kitshop", Name: "liveconfig_changes_total",
			Help: "Live settings applied, by key.",
		}, []string{"key"}),
		done:     make(chan struct{}),
		ready:    make(chan struct{}),
		bindings: make(map[string]binding),
		applied:  make(map[string]uint64),
		entries:  make(map[string]Entry),
		flags:    make(map[string]*Value[bool]),
	}
	if o.Registerer != nil {
		o.Registerer.MustRegister(s.invalid, s.changes)
	}
	return s
}

// Schema is the schema the store checks values against.
func (s *Store) Schema() Schema { return s.schema }

// Bind returns the Value of d, fallback until a valid value is stored. d
// must be in the store's schema (or be a feature flag), and bound once;
// anything else is a programming error and panics. A setting bound after
// Start gets the last known stored value at once.
func Bind[T any](s *Store, d Def[T], fallback T) *Value[T] {
	if _, ok := s.schema.Lookup(d.key); !ok && s.schema.Check(d.key, "false") != nil {
		panic(fmt.Sprintf("liveconfig: %s is not in the schema of %s", d.key, s.schema.service))
	}
	v := &Value[T]{def: d, fallback: fallback}
	v.cur.Store(&fallback)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.bindings[d.key]; dup {
		panic(fmt.Sprintf("liveconfig: %s bound twice", d.key))
	}
	s.bindings[d.key] = v
	if e, ok := s.entries[d.key]; ok {
		s.applyLocked(d.key, v, e, true)
	}
	return v
}

// Start begins following Consul. Stop ends it. A store without a KV (nil,
// for a process without Consul) keeps its defaults and is ready at once.
func (s *Store) Start() {
	if s.kv == nil {
		s.once.Do(func() { close(s.ready) })
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.run(ctx)
}

// Stop ends the watch and waits for it.
func (s *Store) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

// Ready waits for the first answer from Consul, so a process can start with
// the stored values rather than switch to them a moment later. It returns
// ctx's error when Consul does not answer in time; the defaults are then
// in force and the store keeps trying.
func (s *Store) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) run(ctx context.Context) {
	defer close(s.done)
	var (
		index   uint64
		backoff = 100 * time.Millisecond
		failing bool
		first   = true
	)
	for {
		qctx, cancel := context.WithTimeout(ctx, s.wait+s.wait/16+5*time.Second)
		got, next, err := s.kv.List(qctx, s.schema.service, index, s.wait)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if !failing {
				level.Warn(s.logger).Log("msg", "live configuration unreachable; keeping the values in force", "err", err)
				failing = true
			}
			index = 0
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		if failing {
			level.Info(s.logger).Log("msg", "live configuration reachable again")
			failing = false
		}
		backoff = 100 * time.Millisecond
		switch {
		case next < index:
			index = 0 // Consul's state was rebuilt: start over
		case next == 0:
			index = 1
		default:
			index = next
		}
		s.update(got)
		if first {
			first = false
			close(s.ready)
		}
	}
}

// update applies a full listing of the service's settings.
func (s *Store) update(got []Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[string]Entry, len(got))
	for _, e := range got {
		seen[e.Key] = e
	}
	for _, e := range got {
		b, ok := s.bindings[e.Key]
		if !ok {
			if s.applied[e.Key] != e.Index && s.schema.Check(e.Key, e.Value) != nil {
				s.refuse(e, s.schema.Check(e.Key, e.Value))
				s.applied[e.Key] = e.Index
			}
			continue
		}
		s.applyLocked(e.Key, b, e, true)
	}
	for key, old := range s.entries {
		if _, still := seen[key]; still {
			continue
		}
		if b, ok := s.bindings[key]; ok && s.applied[key] != 0 {
			s.applyLocked(key, b, old, false)
		}
		delete(s.applied, key)
	}
	s.entries = seen
}

// applyLocked applies e (present) or the default (absent) to b, once per
// stored version. It must be called with s.mu held.
func (s *Store) applyLocked(key string, b binding, e Entry, present bool) {
	if present && s.applied[key] == e.Index {
		return // this version was applied or refused already
	}
	old, new, err := b.apply(e.Value, present)
	if err != nil {
		s.refuse(e, err)
		s.applied[key] = e.Index
		return
	}
	kv := []any{"msg", "live setting changed", "key", key, "old", old, "new", new}
	if old == new {
		kv[1] = "live setting rewritten unchanged"
	}
	if !present {
		kv = append(kv, "source", "default")
		s.applied[key] = 0
	} else {
		s.applied[key] = e.Index
		if e.Author != nil {
			kv = append(kv, "by", e.Author.By, "at", e.Author.At.Format(time.RFC3339))
		}
	}
	s.changes.WithLabelValues(key).Inc()
	level.Info(s.logger).Log(kv...)
}

func (s *Store) refuse(e Entry, err error) {
	s.invalid.WithLabelValues(e.Key).Inc()
	level.Error(s.logger).Log("msg", "invalid live setting ignored; the previous value stays", "key", e.Key, "err", err)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
