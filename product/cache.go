package product

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/postgres"
)

// ChangeChannel is the Postgres channel on which the schema announces every
// committed change to a product (migrations/product/00003): the payload is
// the product's id, or empty when every product may have changed.
const ChangeChannel = "product_changed"

// Default bounds of a Cache: the whole catalog of a small shop, and the
// first pages of the common searches.
const (
	DefaultCacheItems = 10000
	DefaultCacheLists = 256
)

// Cache is a Repository that serves Get and List from memory and passes
// every other call, and every miss, to the Repository it wraps.
//
// It stays correct with other writers (other instances, the stock
// reservations, anyone with psql) because it only serves while it hears
// every change: the schema notifies ChangeChannel on commit, Listen(ctx,
// pool) feeds those notifications to Invalidate, and while the listening
// connection is down the cache stores nothing and reads go to the
// database. A change
// made by another process is visible here as soon as its notification
// arrives (well under a millisecond on one host); one made through this
// Cache is visible at once.
//
// A read that raced with a change never lands in the cache: every
// invalidation bumps a generation, and a row read from the database is kept
// only if no invalidation happened while it was being read.
//
// When the database cannot be read, the cache keeps answering what it
// holds, marked as possibly stale (MarkStale, Stale): entries it heard
// every change of up to the outage are served (marked) while ServeStale's
// function reports the database down, and entries kept from before the
// listening connection was lost are served (marked) in place of the
// database's Unavailable error. Those may have missed changes made while
// this instance could not hear them, which is what the mark says. As soon
// as the database answers again, reads are fresh again: the kept entries
// yield to the database's rows, and listening again empties the cache.
type Cache struct {
	next     Repository
	maxItems int
	maxLists int

	mu    sync.RWMutex
	down  func() bool // reports the database unreachable; nil: never
	live  bool        // hearing every change: entries may be served and stored
	gen   uint64      // bumped by every invalidation
	items map[string]Product
	lists map[Filter][]Product
	// waiters are writers of this instance waiting for the notification of
	// their change to a product (see awaitNotification).
	waiters map[string][]chan struct{}
}

// writeWait bounds how long an update or delete waits for its own
// notification before answering.
const writeWait = 250 * time.Millisecond

var _ Repository = (*Cache)(nil)

// NewCache returns a Cache in front of next holding at most maxItems
// products and maxLists list pages (the defaults when zero). It serves
// nothing until Listen has connected (or SetLive is called, in tests of a
// single process).
func NewCache(next Repository, maxItems, maxLists int) *Cache {
	if maxItems <= 0 {
		maxItems = DefaultCacheItems
	}
	if maxLists <= 0 {
		maxLists = DefaultCacheLists
	}
	return &Cache{
		next:     next,
		maxItems: maxItems,
		maxLists: maxLists,
		items:    make(map[string]Product),
		lists:    make(map[Filter][]Product),
		waiters:  make(map[string][]chan struct{}),
	}
}

// ListenHandler returns the handler that feeds kit/postgres.Listen's events
// on ChangeChannel to the cache, logging connection changes to logger.
func (c *Cache) ListenHandler(logger log.Logger) postgres.ListenHandler {
	return postgres.ListenHandler{
		Notify: c.Invalidate,
		Connected: func() {
			c.SetLive(true)
			level.Info(logger).Log("msg", "product cache on: listening for changes", "channel", ChangeChannel)
		},
		Lost: func(err error) {
			c.SetLive(false)
			level.Warn(logger).Log("msg", "product cache off until listening again", "err", err)
		},
	}
}

// SetLive turns serving on or off. Turning it on empties the cache, since
// changes may have been missed while it was off. Turning it off keeps the
// entries, but only as a fallback for when the database cannot be read:
// reads go to the database again.
func (c *Cache) SetLive(live bool) {
	c.mu.Lock()
	c.gen++
	c.live = live
	if live {
		clear(c.items)
		clear(c.lists)
	} else { // their notifications may never come
		c.releaseLocked("")
	}
	c.mu.Unlock()
}

// ServeStale tells the cache how to know that the database is unreachable
// (kit/postgres.Guard.Up, negated): while down reports true, what the
// cache serves is marked as possibly stale. Call it before serving.
func (c *Cache) ServeStale(down func() bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// Warm reports whether the cache holds anything it could serve without the
// database: readiness stays up (degraded) while it does.
func (c *Cache) Warm() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.items) > 0 || len(c.lists) > 0
}

// dbDown reports whether the database is known to be unreachable.
func (c *Cache) dbDown() bool {
	c.mu.RLock()
	down := c.down
	c.mu.RUnlock()
	return down != nil && down()
}

// Invalidate drops what the cache holds about the product with id, or
// everything when id is empty: the notification of a change has arrived.
func (c *Cache) Invalidate(id string) {
	c.mu.Lock()
	c.forgetLocked(id)
	c.releaseLocked(id)
	c.mu.Unlock()
}

// releaseLocked ends the waits of the writers of product id, or of every
// writer when id is empty.
func (c *Cache) releaseLocked(id string) {
	release := func(wid string) {
		for _, ch := range c.waiters[wid] {
			close(ch)
		}
		delete(c.waiters, wid)
	}
	if id != "" {
		release(id)
		return
	}
	for wid := range c.waiters {
		release(wid)
	}
}

// forget is Invalidate for a change this instance has just made, ahead of
// its notification, which writers may still be waiting for.
func (c *Cache) forget(id string) {
	c.mu.Lock()
	c.forgetLocked(id)
	c.mu.Unlock()
}

// forgetAfter is forget after a write to id (every product when empty)
// that ended with err. A write that failed because the database is
// unreachable forgets nothing: had it committed before the outage cut its
// reply, its notification is delivered when the database answers again
// (or, if the listening connection is lost meanwhile, listening again
// empties the cache), and until then what the cache holds is only served
// marked stale. Forgetting would take from the cache the very products
// being ordered, which the outage leaves it alone to answer for.
func (c *Cache) forgetAfter(id string, err error) {
	if err != nil && errs.Is(err, errs.Unavailable) && c.dbDown() {
		return
	}
	c.forget(id)
}

func (c *Cache) forgetLocked(id string) {
	c.gen++
	if id == "" {
		clear(c.items)
	} else {
		delete(c.items, id)
	}
	// Any change may move a product into, out of or within any page.
	clear(c.lists)
}

// awaitNotification registers, before a write to product id, a wait for
// the write's notification, and returns the function to call after the
// write: with wait set (the write succeeded) it waits for the notification,
// at most writeWait and not at all while not listening; either way it
// withdraws the registration. Postgres signals every listener when the
// write commits, so once this instance has heard of it the others have been
// told too: an update or delete answered after the wait is, in practice,
// seen by the next read on any instance, not only on this one.
func (c *Cache) awaitNotification(ctx context.Context, id string) (done func(wait bool)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return func(bool) {}
	}
	ch := make(chan struct{})
	c.waiters[id] = append(c.waiters[id], ch)
	return func(wait bool) {
		if wait {
			t := time.NewTimer(writeWait)
			defer t.Stop()
			select {
			case <-ch:
				return // released and withdrawn by Invalidate
			case <-t.C:
			case <-ctx.Done():
			}
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.waiters[id] = slices.DeleteFunc(c.waiters[id], func(w chan struct{}) bool { return w == ch })
		if len(c.waiters[id]) == 0 {
			delete(c.waiters, id)
		}
	}
}

// Get implements Repository.
func (c *Cache) Get(ctx context.Context, id string) (Product, error) {
	c.mu.RLock()
	kept, ok := c.items[id]
	gen, live := c.gen, c.live
	c.mu.RUnlock()
	if ok && live {
		if c.dbDown() {
			MarkStale(ctx)
		}
		return kept, nil
	}
	p, err := c.next.Get(ctx, id)
	if err != nil {
		if ok && errs.Is(err, errs.Unavailable) {
			MarkStale(ctx)
			return kept, nil
		}
		return p, err
	}
	c.mu.Lock()
	// Not live, a kept entry is only refreshed (it stays a fallback).
	if c.gen == gen && (c.live || ok) {
		if _, present := c.items[id]; !present && len(c.items) >= c.maxItems {
			evictOne(c.items)
		}
		c.items[id] = p
	}
	c.mu.Unlock()
	return p, nil
}

// List implements Repository.
func (c *Cache) List(ctx context.Context, f Filter) ([]Product, error) {
	c.mu.RLock()
	kept, ok := c.lists[f]
	gen, live := c.gen, c.live
	c.mu.RUnlock()
	if ok && live {
		if c.dbDown() {
			MarkStale(ctx)
		}
		return slices.Clone(kept), nil // callers may reslice or modify theirs
	}
	page, err := c.next.List(ctx, f)
	if err != nil {
		if ok && errs.Is(err, errs.Unavailable) {
			MarkStale(ctx)
			return slices.Clone(kept), nil
		}
		return page, err
	}
	c.mu.Lock()
	// Not live, a kept page is only refreshed (it stays a fallback).
	if c.gen == gen && (c.live || ok) {
		if _, present := c.lists[f]; !present && len(c.lists) >= c.maxLists {
			evictOne(c.lists)
		}
		c.lists[f] = slices.Clone(page)
	}
	c.mu.Unlock()
	return page, nil
}

// Create implements Repository.
func (c *Cache) Create(ctx context.Context, p NewProduct) (Product, error) {
	created, err := c.next.Create(ctx, p)
	if err == nil {
		c.forget(created.ID) // new lists; the notification may come later
	}
	return created, err
}

// Update implements Repository.
func (c *Cache) Update(ctx context.Context, id string, patch Patch) (Product, error) {
	done := c.awaitNotification(ctx, id)
	p, err := c.next.Update(ctx, id, patch)
	// Invalidated even on error: a failure after commit (a lost reply) must
	// not leave the old row served here until the notification arrives.
	// Except in an outage: the entry is then what reads are answered with,
	// marked stale, and the notification (or listening again) still comes.
	c.forgetAfter(id, err)
	done(err == nil)
	return p, err
}

// Delete implements Repository.
func (c *Cache) Delete(ctx context.Context, id string) error {
	done := c.awaitNotification(ctx, id)
	err := c.next.Delete(ctx, id)
	c.forgetAfter(id, err)
	done(err == nil)
	return err
}

// evictOne removes an arbitrary entry (Go's map order is randomised), which
// is as good as LRU for a catalog that mostly fits and costs nothing to
// track.
func evictOne[K comparable, V any](m map[K]V) {
	for k := range m {
		delete(m, k)
		return
	}
}

// StockRepository returns next with this cache told at once about the stock
// it changes, so that this instance never serves a product's old stock
// after answering a reservation for it (other instances hear of it through
// the notification, moments later). A release does not name its products,
// so it empties the cache.
func (c *Cache) StockRepository(next StockRepository) StockRepository {
	return &cachedStock{StockRepository: next, cache: c}
}

type cachedStock struct {
	StockRepository
	cache *Cache
}

func (s *cachedStock) Reserve(ctx context.Context, orderID string, items []StockItem) ([]Shortage, error) {
	shortages, err := s.StockRepository.Reserve(ctx, orderID, items)
	for _, it := range items {
		s.cache.forgetAfter(it.ProductID, err)
	}
	return shortages, err
}

func (s *cachedStock) Release(ctx context.Context, orderID string) error {
	err := s.StockRepository.Release(ctx, orderID)
	s.cache.forgetAfter("", err)
	return err
}
