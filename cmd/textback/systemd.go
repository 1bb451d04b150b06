package main

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	sd "github.com/coreos/go-systemd/v22/daemon"
)

// heartbeat is a loop's sign of life for the watchdog. The loop beats it
// each time round, and a ticker of every wakes an idle loop so that it
// beats while there is nothing to do. A loop stuck in a store call or a
// send stops beating, and the watchdog stops pinging systemd. A nil
// *heartbeat does nothing. It is safe for concurrent use.
type heartbeat struct {
	every time.Duration // 0: no ticker (no watchdog)
	last  atomic.Int64  // Unix nanoseconds of the last beat
}

func newHeartbeat(every time.Duration) *heartbeat {
	h := &heartbeat{every: every}
	h.beat()
	return h
}

func (h *heartbeat) beat() {
	if h != nil {
		h.last.Store(time.Now().UnixNano())
	}
}

// age is how long ago the loop last beat.
func (h *heartbeat) age(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, h.last.Load()))
}

// ticker returns a channel that wakes an idle loop to beat, and its stop.
// Without a watchdog the channel is nil and never fires.
func (h *heartbeat) ticker() (<-chan time.Time, func()) {
	if h == nil || h.every <= 0 {
		return nil, func() {}
	}
	t := time.NewTicker(h.every)
	return t.C, t.Stop
}

// notify sends a state to systemd over $NOTIFY_SOCKET. Outside systemd
// (no socket) it does nothing.
func notify(log *slog.Logger, state string) {
	if _, err := sd.SdNotify(false, state); err != nil {
		log.Warn("systemd notify", "state", state, "err", err)
	}
}

// watchdogInterval is the unit's WatchdogSec, zero when the watchdog is off.
func watchdogInterval(log *slog.Logger) time.Duration {
	d, err := sd.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn("systemd watchdog", "err", err)
		return 0
	}
	return d
}

// watchdog pings systemd every interval/2 while every loop has beaten
// within the last 3/4 of the interval (they beat at least every quarter of
// it), until ctx is done. When a loop hangs the pings stop, and systemd
// kills and restarts the daemon after WatchdogSec. Pinging from a timer
// alone would keep a daemon whose loops are stuck looking alive.
func watchdog(ctx context.Context, interval time.Duration, log *slog.Logger, ping func(), loops map[string]*heartbeat) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval / 2)
	defer t.Stop()
	stale := interval * 3 / 4
	warned := false
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			alive := true
			for name, h := range loops {
				if age := h.age(now); age > stale {
					alive = false
					if !warned {
						log.Error("watchdog: a loop is stuck; not pinging systemd", "loop", name, "since", age.Round(time.Second))
						warned = true
					}
				}
			}
			if alive {
				warned = false
				ping()
			}
		}
	}
}
