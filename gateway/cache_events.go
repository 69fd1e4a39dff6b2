package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/kitshop/kitshop/proto/events/v1"
	productv1 "github.com/kitshop/kitshop/proto/product/v1"
)

// InvalidationRule maps change events to the cached paths they make stale:
// an event on Subject in Stream about the entity "<kind>/<id>" (its
// envelope's subject) drops Collection, whatever the query (the lists),
// and Collection/<id> (the entity). An event that names no entity drops
// everything.
type InvalidationRule struct {
	Stream, Subject, Collection string
}

// DefaultInvalidations makes product.changed drop the catalog's lists and
// the changed product.
var DefaultInvalidations = []InvalidationRule{
	{Stream: productv1.Stream, Subject: productv1.SubjectChanged, Collection: "/api/v1/products"},
}

// ParseInvalidations parses "STREAM:subject=/collection" entries separated
// by commas.
func ParseInvalidations(value string) ([]InvalidationRule, error) {
	var rules []InvalidationRule
	for entry := range strings.SplitSeq(value, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		stream, rest, ok1 := strings.Cut(entry, ":")
		subject, collection, ok2 := strings.Cut(rest, "=")
		if !ok1 || !ok2 || stream == "" || subject == "" || strings.ContainsAny(stream+subject, " *>") {
			return nil, fmt.Errorf("invalidation %q: want STREAM:subject=/collection, without wildcards", entry)
		}
		p, err := CleanPrefix(collection)
		if err != nil {
			return nil, fmt.Errorf("invalidation %q: %w", entry, err)
		}
		rules = append(rules, InvalidationRule{Stream: stream, Subject: subject, Collection: p})
	}
	return rules, nil
}

// Invalidations feeds a Cache the services' change events from JetStream.
// Every gateway instance reads them through ordered consumers of its own
// (ephemeral, from the newest message on), so every instance sees every
// event. The cache serves fresh answers only while they run: when the
// connection drops or a consumer fails, it stops doing so, and when they
// are back it drops everything and serves again.
type Invalidations struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	cache  *Cache
	rules  []InvalidationRule
	logger log.Logger

	restart chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// StartInvalidations starts following the events of rules on nc; Stop ends
// it. It takes over nc's disconnect and reconnect handlers.
func StartInvalidations(nc *nats.Conn, cache *Cache, rules []InvalidationRule, logger log.Logger) (*Invalidations, error) {
	if len(rules) == 0 {
		return nil, errors.New("gateway: no invalidation rules")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	inv := &Invalidations{
		nc: nc, js: js, cache: cache, rules: rules, logger: log.With(logger, "component", "cache_invalidations"),
		restart: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}),
	}
	nc.SetDisconnectErrHandler(func(_ *nats.Conn, err error) {
		cache.SetLive(false)
		level.Warn(inv.logger).Log("msg", "disconnected from the broker; the cache revalidates every read", "err", err)
	})
	nc.SetReconnectHandler(func(*nats.Conn) { inv.kick() })
	go inv.run(ctx)
	return inv, nil
}

// Stop ends the consumers; the cache is no longer live.
func (inv *Invalidations) Stop() {
	inv.cancel()
	<-inv.done
	inv.cache.SetLive(false)
}

func (inv *Invalidations) kick() {
	select {
	case inv.restart <- struct{}{}:
	default:
	}
}

// run keeps the consumers going: it (re)starts them whenever kicked, and
// retries every second until they start.
func (inv *Invalidations) run(ctx context.Context) {
	defer close(inv.done)
	var running []jetstream.ConsumeContext
	stopAll := func() {
		for _, cc := range running {
			cc.Stop()
		}
		running = nil
	}
	defer stopAll()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-inv.restart:
		case <-retry.C:
		}
		inv.cache.SetLive(false)
		stopAll()
		var err error
		if running, err = inv.start(ctx); err != nil {
			level.Warn(inv.logger).Log("msg", "cannot follow change events yet; the cache revalidates every read", "err", err)
			stopAll()
			retry.Reset(time.Second)
			continue
		}
		inv.cache.SetLive(true)
		level.Info(inv.logger).Log("msg", "following change events; the cache serves fresh answers")
	}
}

// start creates one ordered consumer per stream, from the newest message.
func (inv *Invalidations) start(ctx context.Context) ([]jetstream.ConsumeContext, error) {
	if !inv.nc.IsConnected() {
		return nil, errors.New("not connected to the broker")
	}
	byStream := map[string][]InvalidationRule{}
	for _, r := range inv.rules {
		byStream[r.Stream] = append(byStream[r.Stream], r)
	}
	var out []jetstream.ConsumeContext
	for stream, rules := range byStream {
		var subjects []string
		for _, r := range rules {
			subjects = append(subjects, r.Subject)
		}
		slices.Sort(subjects)
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		cons, err := inv.js.OrderedConsumer(sctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: slices.Compact(subjects),
			DeliverPolicy:  jetstream.DeliverNewPolicy,
		})
		cancel()
		if err != nil {
			return out, fmt.Errorf("stream %s: %w", stream, err)
		}
		cc, err := cons.Consume(func(msg jetstream.Msg) { inv.handle(rules, msg) },
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				// A consumer that missed heartbeats or lost its
				// server-side state may have missed events too.
				level.Warn(inv.logger).Log("msg", "change event consumer failed; restarting it", "err", err)
				inv.cache.SetLive(false)
				inv.kick()
			}))
		if err != nil {
			return out, fmt.Errorf("stream %s: %w", stream, err)
		}
		out = append(out, cc)
	}
	return out, nil
}

// handle drops what one event makes stale.
func (inv *Invalidations) handle(rules []InvalidationRule, msg jetstream.Msg) {
	var env eventsv1.Envelope
	_ = proto.Unmarshal(msg.Data(), &env) // a bad envelope names no entity: drop everything
	_, id, _ := strings.Cut(env.GetSubject(), "/")
	for _, r := range rules {
		if r.Subject != msg.Subject() {
			continue
		}
		if id == "" || strings.ContainsAny(id, "/?") {
			inv.cache.InvalidateAll()
			return
		}
		inv.cache.Invalidate(r.Collection, r.Collection+"/"+id)
	}
}
