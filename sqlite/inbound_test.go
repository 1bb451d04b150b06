package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/textback/textback"
)

func TestRecordInbound(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := textback.InboundText{Provider: "twilio", ProviderID: "SM1", From: "+13125550101", To: "+12125550100",
		Body: "STOP", Received: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	if fresh, err := db.RecordInbound(ctx, m); err != nil || !fresh {
		t.Fatalf("first RecordInbound = %v, %v", fresh, err)
	}
	if fresh, err := db.RecordInbound(ctx, m); err != nil || fresh {
		t.Fatalf("repeated RecordInbound = %v, %v; want false, nil", fresh, err)
	}
	m.Provider = "modem"
	if fresh, err := db.RecordInbound(ctx, m); err != nil || !fresh {
		t.Fatalf("same id from another provider = %v, %v", fresh, err)
	}
	if _, err := db.RecordInbound(ctx, textback.InboundText{Provider: "twilio"}); err == nil {
		t.Error("no provider id: no error")
	}
}

func TestRecordDelivery(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	v := textback.Verdict{Call: textback.Call{ID: "c1"}, Send: true, Reason: "send"}
	id, err := db.Record(ctx, v, &textback.Message{To: "+13125550101", Body: "hi"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSending(ctx, id, now); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkSent(ctx, id, textback.Receipt{Sender: "twilio", ProviderID: "SM9"}, now); err != nil {
		t.Fatal(err)
	}
	d := textback.Delivery{Provider: "twilio", ProviderID: "SM9", Status: textback.Delivered, Detail: "delivered", At: now.Add(time.Second)}
	for range 2 { // a repeated report changes nothing
		if err := db.RecordDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	es, err := db.History(ctx, time.Time{})
	if err != nil || len(es) != 1 || es[0].Text == nil || es[0].Text.Delivery != textback.Delivered {
		t.Fatalf("History after the report: %+v, %v", es, err)
	}
	d.ProviderID = "SM-unknown"
	if err := db.RecordDelivery(ctx, d); !errors.Is(err, textback.ErrUnknownText) {
		t.Errorf("report on an unknown text: %v, want ErrUnknownText", err)
	}
}

// TestDeliveryBeforeSent: a carrier's report that arrives before the
// sender's answer was written down is held, and given to the text when it
// is marked sent; the latest report held wins, and a stale one is dropped.
func TestDeliveryBeforeSent(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC()
	queue := func(call string) int64 {
		v := textback.Verdict{Call: textback.Call{ID: textback.CallID(call)}, Send: true, Reason: "send"}
		id, err := db.Record(ctx, v, &textback.Message{To: "+13125550101", Body: "hi"}, now)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.MarkSending(ctx, id, now); err != nil {
			t.Fatal(err)
		}
		return id
	}
	delivery := func(call string) textback.Delivery {
		for _, e := range must2(db.History(ctx, time.Time{})) {
			if string(e.Call.ID) == call {
				return textback.Delivery{Status: e.Text.Delivery}
			}
		}
		t.Fatalf("no call %s", call)
		return textback.Delivery{}
	}

	id := queue("c1")
	for _, st := range []textback.DeliveryStatus{textback.Delivered, textback.Undelivered} {
		err := db.RecordDelivery(ctx, textback.Delivery{Provider: "twilio", ProviderID: "SM1", Status: st, At: now})
		if !errors.Is(err, textback.ErrUnknownText) {
			t.Fatalf("early report: %v, want ErrUnknownText (held)", err)
		}
	}
	if err := db.MarkSent(ctx, id, textback.Receipt{Sender: "twilio", ProviderID: "SM1"}, now); err != nil {
		t.Fatal(err)
	}
	if got := delivery("c1").Status; got != textback.Undelivered {
		t.Errorf("delivery after MarkSent = %q, want the latest held report %q", got, textback.Undelivered)
	}
	var held int
	if err := db.db.QueryRow(`SELECT COUNT(*) FROM held_deliveries`).Scan(&held); err != nil || held != 0 {
		t.Errorf("%d reports still held after use (%v), want 0", held, err)
	}

	// Another sender's id, or the same id from another provider, is not ours.
	id = queue("c2")
	if err := db.RecordDelivery(ctx, textback.Delivery{Provider: "telnyx", ProviderID: "SM2", Status: textback.Delivered, At: now}); !errors.Is(err, textback.ErrUnknownText) {
		t.Fatal(err)
	}
	if err := db.MarkSent(ctx, id, textback.Receipt{Sender: "twilio", ProviderID: "SM2"}, now); err != nil {
		t.Fatal(err)
	}
	if got := delivery("c2").Status; got != "" {
		t.Errorf("delivery %q from another provider's report, want none", got)
	}

	// A report held longer than holdFor is dropped when the next one comes.
	if _, err := db.db.Exec(`UPDATE held_deliveries SET received = ?`, now.Add(-holdFor-time.Minute).UnixNano()); err != nil {
		t.Fatal(err)
	}
	if err := db.RecordDelivery(ctx, textback.Delivery{Provider: "twilio", ProviderID: "SM3", Status: textback.Delivered, At: now}); !errors.Is(err, textback.ErrUnknownText) {
		t.Fatal(err)
	}
	if err := db.db.QueryRow(`SELECT COUNT(*) FROM held_deliveries`).Scan(&held); err != nil || held != 1 {
		t.Errorf("%d reports held (%v), want only the fresh one", held, err)
	}
}

func must2[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
