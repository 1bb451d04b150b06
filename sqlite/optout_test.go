package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/textback/textback"
)

func TestOptOut(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	const n = textback.Number("+13125550101")
	if out, err := db.OptedOut(ctx, n); err != nil || out {
		t.Fatalf("OptedOut before = %v, %v", out, err)
	}
	if err := db.SetOptOut(ctx, n, true, "sms:STOP", t0); err != nil {
		t.Fatal(err)
	}
	// A repeated STOP (a webhook delivered twice) keeps the first.
	if err := db.SetOptOut(ctx, n, true, "twilio:21610", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if out, err := db.OptedOut(ctx, n); err != nil || !out {
		t.Fatalf("OptedOut after STOP = %v, %v", out, err)
	}
	list, err := db.OptOuts(ctx)
	if err != nil || len(list) != 1 || list[0].Source != "sms:STOP" || !list[0].At.Equal(t0) {
		t.Fatalf("OptOuts = %+v, %v", list, err)
	}
	if err := db.SetOptOut(ctx, n, false, "sms:START", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if out, _ := db.OptedOut(ctx, n); out {
		t.Error("still opted out after START")
	}
}

func TestCountTexts(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	record := func(id, rule string, at time.Time) int64 {
		v := textback.Verdict{Call: textback.Call{ID: textback.CallID(id)}, Send: true, Reason: "send", Rule: rule}
		mid, err := db.Record(ctx, v, &textback.Message{Rule: rule, To: "+13125550101", Body: "hi"}, at)
		if err != nil {
			t.Fatal(err)
		}
		return mid
	}
	record("a", "main", t0)
	record("b", "main", t0.Add(30*time.Minute))
	record("c", "sales", t0.Add(40*time.Minute))
	failed := record("d", "main", t0.Add(50*time.Minute))
	if err := db.MarkDone(ctx, failed, textback.Failed, "landline", t0.Add(50*time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		rule  string
		since time.Time
		want  int
	}{
		{"", t0, 3},                       // the failed one never left
		{"main", t0, 2},                   //
		{"main", t0.Add(time.Minute), 1},  // the first is older
		{"sales", t0, 1},                  //
		{"", t0.Add(time.Hour), 0},        // nothing since
		{"nobody", t0.Add(-time.Hour), 0}, //
	} {
		if got, err := db.CountTexts(ctx, tt.rule, tt.since); err != nil || got != tt.want {
			t.Errorf("CountTexts(%q, %s) = %d, %v; want %d", tt.rule, tt.since.Format(time.Kitchen), got, err, tt.want)
		}
	}
}
