package main

import (
	"sync"
	"time"

	"github.com/textback/textback"
)

// maxConnections caps the numbers connections remembers: a flood of calls
// from distinct numbers costs a forgotten redial, not memory.
const maxConnections = 100_000

// connections remembers, for a while, who lately spoke with a person here:
// the callers of answered inbound calls and the numbers answered outbound
// calls reached, each with the time of its latest answer. The event loop
// adds; the outbox asks, before sending a text held for a grace delay, so
// it is safe for concurrent use. What it forgets (a restart, an entry older
// than keep) the journal still answers, once the call has ended.
type connections struct {
	mu    sync.Mutex
	last  map[textback.Number]textback.Connection
	swept time.Time
}

func newConnections() *connections {
	return &connections{last: make(map[textback.Number]textback.Connection)}
}

// add notes that n connected, as c says. keep is the longest grace delay of
// the rules: entries older than that are of no use and go; zero keeps none.
func (cs *connections) add(n textback.Number, c textback.Connection, keep time.Duration) {
	if cs == nil || n == "" {
		return
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if keep <= 0 {
		clear(cs.last)
		return
	}
	if c.At.Sub(cs.swept) >= time.Minute || c.At.Before(cs.swept) || len(cs.last) >= maxConnections {
		cs.swept = c.At
		for k, v := range cs.last {
			if c.At.Sub(v.At) > keep {
				delete(cs.last, k)
			}
		}
		if len(cs.last) >= maxConnections {
			clear(cs.last)
		}
	}
	if old, ok := cs.last[n]; !ok || !c.At.Before(old.At) {
		cs.last[n] = c
	}
}

// since returns the latest connection with n at or after since.
func (cs *connections) since(n textback.Number, since time.Time) (textback.Connection, bool) {
	if cs == nil {
		return textback.Connection{}, false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c, ok := cs.last[n]
	if !ok || c.At.Before(since) {
		return textback.Connection{}, false
	}
	return c, true
}

// len returns how many numbers are remembered.
func (cs *connections) len() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.last)
}
