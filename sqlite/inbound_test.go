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
