package esl

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo"
	"github.com/percipia/eslgo/command"
	"github.com/textback/textback/esl/esltest"
)

// TestEslgoHeaders: the vendored eslgo, whose event reader is patched
// (third_party/eslgo/PATCHES.md), hands over the headers textproto parses
// from the same bodies (what eslgo v1.5.1 did), for every recorded event,
// over TCP.
func TestEslgoHeaders(t *testing.T) {
	for name := range captures {
		t.Run(name, func(t *testing.T) {
			evs := loadEvents(t, name)
			want := map[string]eslgo.Event{} // by Event-Sequence
			for _, m := range evs {
				h, err := parseBody(m.Body)
				if err != nil {
					t.Fatal(err)
				}
				want[h.Get("Event-Sequence")] = eslgo.Event{Headers: h}
			}
			if len(want) != len(evs) {
				t.Fatalf("Event-Sequence not unique: %d of %d", len(want), len(evs))
			}
			srv := &esltest.Server{Password: "ClueCon", Streams: [][]esltest.Message{evs}}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			conn, err := eslgo.InboundOptions{
				Options:  eslgo.Options{Context: ctx, Logger: eslgo.NilLogger{}, ExitTimeout: time.Second},
				Network:  "tcp",
				Password: "ClueCon", AuthTimeout: 5 * time.Second,
			}.Dial(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var mu sync.Mutex
			got := map[string]*eslgo.Event{}
			done := make(chan struct{})
			conn.RegisterEventListener(eslgo.EventListenAll, func(ev *eslgo.Event) {
				mu.Lock()
				defer mu.Unlock()
				got[ev.Headers.Get("Event-Sequence")] = ev
				if len(got) == len(want) {
					close(done)
				}
			})
			if _, err := conn.SendCommand(ctx, command.Event{Format: "plain", Listen: []string{"ALL"}}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-done:
			case <-ctx.Done():
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%d of %d events", len(got), len(want))
			}
			mu.Lock()
			defer mu.Unlock()
			for seq, w := range want {
				g := got[seq]
				if g == nil {
					t.Errorf("event %s missing", seq)
					continue
				}
				if !reflect.DeepEqual(g.Headers, w.Headers) || len(g.Body) != 0 {
					t.Errorf("event %s: headers differ from textproto's", seq)
				}
			}
		})
	}
}
