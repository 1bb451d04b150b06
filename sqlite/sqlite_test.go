package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/textback/textback"
	modernc "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// t0 is a Monday morning, with nanoseconds to show they survive.
var t0 = time.Date(2025, 3, 3, 9, 30, 0, 123456789, time.UTC)

func openTest(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "textback.db")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q) = %v", path, err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return d, path
}

// missed returns the verdict on a missed call id from caller, with every
// field set.
func missed(id string, caller textback.Number, at time.Time) textback.Verdict {
	return textback.Verdict{
		Call: textback.Call{
			ID:         textback.CallID(id),
			Source:     "ami",
			Direction:  textback.Inbound,
			Outcome:    textback.NoAnswer,
			CallerNum:  string(caller),
			CallerName: "Robert'); DROP TABLE calls;--",
			Withheld:   true,
			DID:        "3125550100",
			Context:    "from-trunk",
			Started:    at.Add(-40 * time.Second),
			Ended:      at.Add(-time.Second),
			Rang:       25*time.Second + 7,
			Decided:    at,
		},
		Caller: caller,
		Send:   true,
		Reason: "send",
		Detail: "missed in hours",
		Rule:   "main",
	}
}

func text(id string, to textback.Number) *textback.Message {
	return &textback.Message{
		CallID: textback.CallID(id),
		Rule:   "main",
		To:     to,
		From:   "+13125550100",
		Body:   "Sorry we missed you ✓",
	}
}

// record records a missed call with its text and returns the text's id.
func record(t testing.TB, d *DB, id string, to textback.Number, now time.Time) int64 {
	t.Helper()
	tid, err := d.Record(t.Context(), missed(id, to, now), text(id, to), now)
	if err != nil {
		t.Fatalf("Record(%s) = %v", id, err)
	}
	return tid
}

func ids(ts []textback.Text) []int64 {
	var out []int64
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	chicago := time.FixedZone("CST", -6*3600)

	full := missed("1700000000.1", "+13125550101", t0.In(chicago))
	m := text("", "+13125550101") // an empty CallID is the verdict's
	tid, err := d.Record(ctx, full, m, t0)
	if err != nil {
		t.Fatal(err)
	}
	if tid == 0 {
		t.Fatal("Record() returned text id 0")
	}
	// A journal-only verdict: answered, no times from the PBX, no text.
	bare := textback.Verdict{
		Call:   textback.Call{ID: "1700000000.2", Source: "esl", Direction: textback.Inbound, Outcome: textback.Answered},
		Reason: "answered",
	}
	if id, err := d.Record(ctx, bare, nil, t0.Add(time.Minute)); err != nil || id != 0 {
		t.Fatalf("Record(no text) = %d, %v; want 0, nil", id, err)
	}

	// The whole life, so every Text field holds something.
	steps := []error{
		d.MarkSending(ctx, tid, t0.Add(time.Second)),
		d.MarkRetry(ctx, tid, "twilio: 503", t0.Add(time.Minute)),
		d.MarkSending(ctx, tid, t0.Add(time.Minute)),
		d.MarkSent(ctx, tid, textback.Receipt{Sender: "twilio", ProviderID: "SM123"}, t0.Add(61*time.Second)),
	}
	if err := errors.Join(steps...); err != nil {
		t.Fatal(err)
	}

	got, err := d.History(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	wantMsg := *m
	wantMsg.ID, wantMsg.CallID = tid, full.Call.ID
	want := []textback.Entry{
		{Verdict: bare, Recorded: t0.Add(time.Minute)},
		{Verdict: full, Recorded: t0, Text: &textback.Text{
			Message:     wantMsg,
			State:       textback.Sent,
			Attempts:    2,
			Created:     t0,
			NextAttempt: t0.Add(time.Minute),
			Attempted:   t0.Add(time.Minute),
			Done:        t0.Add(61 * time.Second),
			Receipt:     textback.Receipt{Sender: "twilio", ProviderID: "SM123"},
			LastError:   "twilio: 503",
		}},
	}
	// cmp compares times with their Equal method: the instant, not the zone.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("History() mismatch (-want +got):\n%s", diff)
	}
	if loc := got[1].Call.Started.Location(); loc != time.UTC {
		t.Errorf("History() times in %v, want UTC", loc)
	}
}

func TestHistorySince(t *testing.T) {
	d, _ := openTest(t)
	for i := range 3 {
		record(t, d, fmt.Sprint("c", i), "+13125550101", t0.Add(time.Duration(i)*time.Hour))
	}
	for _, tt := range []struct {
		since time.Time
		want  []textback.CallID
	}{
		{t0.Add(-time.Hour), []textback.CallID{"c2", "c1", "c0"}},
		{t0.Add(time.Hour), []textback.CallID{"c2", "c1"}}, // inclusive
		{t0.Add(3 * time.Hour), nil},
	} {
		es, err := d.History(t.Context(), tt.since)
		if err != nil {
			t.Fatal(err)
		}
		var got []textback.CallID
		for _, e := range es {
			got = append(got, e.Call.ID)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("History(%v) mismatch (-want +got):\n%s", tt.since, diff)
		}
	}
}

func TestDuplicateCall(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	record(t, d, "c1", "+13125550101", t0)

	// Around a reconnect the PBX reports the call again, perhaps with
	// different details.
	again := missed("c1", "+13125550199", t0.Add(time.Minute))
	id, err := d.Record(ctx, again, text("c1", "+13125550199"), t0.Add(time.Minute))
	if !errors.Is(err, textback.ErrDuplicateCall) || id != 0 {
		t.Fatalf("Record(again) = %d, %v; want 0, ErrDuplicateCall", id, err)
	}
	st, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != 1 || st.Texts[textback.Queued] != 1 {
		t.Errorf("Stats() = %+v, want 1 call and 1 queued text", st)
	}
	es, err := d.History(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 || es[0].Caller != "+13125550101" || es[0].Text.To != "+13125550101" {
		t.Errorf("History() = %+v, want the first record only", es)
	}
}

func TestRecordRefuses(t *testing.T) {
	d, _ := openTest(t)
	for name, tt := range map[string]struct {
		v         textback.Verdict
		m         *textback.Message
		now       time.Time
		cancelled bool
	}{
		"no call id":        {textback.Verdict{}, nil, t0, false},
		"zero time":         {missed("c1", "+13125550101", t0), nil, time.Time{}, false},
		"other call's text": {missed("c1", "+13125550101", t0), text("c2", "+13125550101"), t0, false},
		"cancelled ctx":     {missed("c1", "+13125550101", t0), text("c1", "+13125550101"), t0, true},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			if id, err := d.Record(ctx, tt.v, tt.m, tt.now); err == nil {
				t.Errorf("Record() = %d, nil; want an error", id)
			}
		})
	}
	if st, err := d.Stats(t.Context()); err != nil || st.Calls != 0 {
		t.Errorf("Stats() = %+v, %v; want no calls", st, err)
	}
}

func TestDue(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	// Four texts queued a minute apart; the first was tried and is due
	// again only at +10m; the last is sending.
	var id [4]int64
	for i := range id {
		id[i] = record(t, d, fmt.Sprint("c", i), "+13125550101", t0.Add(time.Duration(i)*time.Minute))
	}
	if err := errors.Join(
		d.MarkSending(ctx, id[0], t0),
		d.MarkRetry(ctx, id[0], "timeout", t0.Add(10*time.Minute)),
		d.MarkSending(ctx, id[3], t0.Add(3*time.Minute)),
	); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		now   time.Time
		limit int
		want  []int64
	}{
		"before any":     {t0.Add(-time.Second), 10, nil},
		"at first":       {t0, 10, nil}, // id[0] waits for its retry
		"at second":      {t0.Add(time.Minute), 10, []int64{id[1]}},
		"later":          {t0.Add(5 * time.Minute), 10, []int64{id[1], id[2]}},
		"retry due":      {t0.Add(10 * time.Minute), 10, []int64{id[0], id[1], id[2]}}, // oldest first
		"limited":        {t0.Add(10 * time.Minute), 2, []int64{id[0], id[1]}},
		"limited to one": {t0.Add(time.Hour), 1, []int64{id[0]}},
	} {
		t.Run(name, func(t *testing.T) {
			ts, err := d.Due(ctx, tt.now, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, ids(ts)); diff != "" {
				t.Errorf("Due(%v, %d) mismatch (-want +got):\n%s", tt.now.Sub(t0), tt.limit, diff)
			}
		})
	}
	if _, err := d.Due(ctx, t0, 0); err == nil {
		t.Error("Due(limit 0) = nil error, want one")
	}
}

func TestNextAttempt(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	check := func(want time.Time, wantOK bool) {
		t.Helper()
		got, ok, err := d.NextAttempt(ctx)
		if err != nil || ok != wantOK || !got.Equal(want) {
			t.Errorf("NextAttempt() = %v, %v, %v; want %v, %v, nil", got, ok, err, want, wantOK)
		}
	}
	check(time.Time{}, false)
	a := record(t, d, "a", "+13125550101", t0)
	record(t, d, "b", "+13125550102", t0.Add(time.Minute))
	check(t0, true)
	if err := d.MarkSending(ctx, a, t0); err != nil {
		t.Fatal(err)
	}
	check(t0.Add(time.Minute), true) // sending texts don't count
	if err := d.MarkRetry(ctx, a, "busy", t0.Add(30*time.Second)); err != nil {
		t.Fatal(err)
	}
	check(t0.Add(30*time.Second), true)
}

func TestLife(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	id := record(t, d, "c1", "+13125550101", t0)

	get := func() textback.Text {
		t.Helper()
		es, err := d.History(ctx, time.Time{})
		if err != nil || len(es) != 1 || es[0].Text == nil {
			t.Fatalf("History() = %+v, %v; want one entry with a text", es, err)
		}
		return *es[0].Text
	}
	expect := func(step string, state textback.State, attempts int, due, interrupted []int64) {
		t.Helper()
		got := get()
		if got.State != state || got.Attempts != attempts {
			t.Errorf("after %s: state %s, %d attempts; want %s, %d", step, got.State, got.Attempts, state, attempts)
		}
		dueTs, err := d.Due(ctx, t0.Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(due, ids(dueTs)); diff != "" {
			t.Errorf("after %s: Due() mismatch (-want +got):\n%s", step, diff)
		}
		intTs, err := d.Interrupted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(interrupted, ids(intTs)); diff != "" {
			t.Errorf("after %s: Interrupted() mismatch (-want +got):\n%s", step, diff)
		}
	}

	expect("record", textback.Queued, 0, []int64{id}, nil)
	must(t, d.MarkSending(ctx, id, t0))
	expect("sending", textback.Sending, 1, nil, []int64{id})
	must(t, d.MarkRetry(ctx, id, "twilio: 429", t0.Add(time.Minute)))
	expect("retry", textback.Queued, 1, []int64{id}, nil)
	if got := get(); got.LastError != "twilio: 429" || !got.NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Errorf("after retry: last error %q, next attempt %v", got.LastError, got.NextAttempt)
	}
	must(t, d.MarkSending(ctx, id, t0.Add(time.Minute)))
	expect("second sending", textback.Sending, 2, nil, []int64{id})
	must(t, d.MarkSent(ctx, id, textback.Receipt{Sender: "twilio", ProviderID: "SM1"}, t0.Add(61*time.Second)))
	expect("sent", textback.Sent, 2, nil, nil)
	if got := get(); got.Receipt.ProviderID != "SM1" || !got.Done.Equal(t0.Add(61*time.Second)) {
		t.Errorf("after sent: receipt %+v, done %v", got.Receipt, got.Done)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTransitions(t *testing.T) {
	type op func(ctx context.Context, d *DB, id int64) error
	var (
		sending = func(ctx context.Context, d *DB, id int64) error { return d.MarkSending(ctx, id, t0) }
		sent    = func(ctx context.Context, d *DB, id int64) error {
			return d.MarkSent(ctx, id, textback.Receipt{Sender: "log"}, t0)
		}
		retry = func(ctx context.Context, d *DB, id int64) error {
			return d.MarkRetry(ctx, id, "again", t0.Add(time.Minute))
		}
		done = func(s textback.State) op {
			return func(ctx context.Context, d *DB, id int64) error { return d.MarkDone(ctx, id, s, "why", t0) }
		}
	)
	// To reach a state from queued.
	path := map[textback.State][]op{
		textback.Queued:    nil,
		textback.Sending:   {sending},
		textback.Sent:      {sending, sent},
		textback.Failed:    {sending, done(textback.Failed)},
		textback.Expired:   {done(textback.Expired)},
		textback.Unknown:   {sending, done(textback.Unknown)},
		textback.Cancelled: {done(textback.Cancelled)},
	}
	ops := map[string]struct {
		op   op
		from []textback.State // where op is allowed
	}{
		"MarkSending":         {sending, []textback.State{textback.Queued}},
		"MarkSent":            {sent, []textback.State{textback.Sending, textback.Unknown}},
		"MarkRetry":           {retry, []textback.State{textback.Sending, textback.Unknown}},
		"MarkDone(failed)":    {done(textback.Failed), []textback.State{textback.Queued, textback.Sending}},
		"MarkDone(expired)":   {done(textback.Expired), []textback.State{textback.Queued, textback.Sending, textback.Unknown}},
		"MarkDone(unknown)":   {done(textback.Unknown), []textback.State{textback.Sending}},
		"MarkDone(cancelled)": {done(textback.Cancelled), []textback.State{textback.Queued}},
	}
	d, _ := openTest(t)
	ctx := t.Context()
	n := 0
	for name, o := range ops {
		for state, steps := range path {
			t.Run(fmt.Sprintf("%s from %s", name, state), func(t *testing.T) {
				n++
				id := record(t, d, fmt.Sprint("c", n), "+13125550101", t0)
				for _, step := range steps {
					must(t, step(ctx, d, id))
				}
				err := o.op(ctx, d, id)
				allowed := false
				for _, s := range o.from {
					allowed = allowed || s == state
				}
				if allowed && err != nil {
					t.Errorf("got %v, want nil", err)
				}
				if !allowed {
					if !errors.Is(err, ErrState) {
						t.Errorf("got %v, want ErrState", err)
					}
					// A refused transition changes nothing.
					ts, err := d.History(ctx, t0)
					if err != nil {
						t.Fatal(err)
					}
					for _, e := range ts {
						if e.Text.ID == id && e.Text.State != state {
							t.Errorf("state after refusal = %s, want %s", e.Text.State, state)
						}
					}
				}
			})
		}
	}

	t.Run("unknown id", func(t *testing.T) {
		for name, o := range ops {
			if err := o.op(ctx, d, 9999); !errors.Is(err, ErrNotFound) {
				t.Errorf("%s(9999) = %v, want ErrNotFound", name, err)
			}
		}
	})
	t.Run("MarkDone to a live state", func(t *testing.T) {
		id := record(t, d, "live", "+13125550101", t0)
		for _, s := range []textback.State{textback.Queued, textback.Sending, textback.Sent, ""} {
			if err := d.MarkDone(ctx, id, s, "", t0); err == nil {
				t.Errorf("MarkDone(%q) = nil, want an error", s)
			}
		}
	})
}

func TestLastTexted(t *testing.T) {
	const (
		alice textback.Number = "+13125550101"
		bob   textback.Number = "+13125550102"
	)
	d, _ := openTest(t)
	ctx := t.Context()
	check := func(to textback.Number, want time.Time, wantOK bool) {
		t.Helper()
		got, ok, err := d.LastTexted(ctx, to)
		if err != nil || ok != wantOK || !got.Equal(want) {
			t.Errorf("LastTexted(%s) = %v, %v, %v; want %v, %v, nil", to.Masked(), got, ok, err, want, wantOK)
		}
	}
	check(alice, time.Time{}, false)

	id := record(t, d, "a0", alice, t0)
	check(alice, t0, true) // queued counts
	check(bob, time.Time{}, false)
	must(t, d.MarkSending(ctx, id, t0))
	must(t, d.MarkSent(ctx, id, textback.Receipt{}, t0))

	// Later texts that never left don't count.
	id = record(t, d, "a1", alice, t0.Add(time.Hour))
	must(t, d.MarkSending(ctx, id, t0.Add(time.Hour)))
	must(t, d.MarkDone(ctx, id, textback.Failed, "landline", t0.Add(time.Hour)))
	id = record(t, d, "a2", alice, t0.Add(2*time.Hour))
	must(t, d.MarkDone(ctx, id, textback.Expired, "carrier down", t0.Add(3*time.Hour)))
	id = record(t, d, "a-grace", alice, t0.Add(3*time.Hour))
	must(t, d.MarkDone(ctx, id, textback.Cancelled, "caller got through", t0.Add(3*time.Hour)))
	check(alice, t0, true)

	// One that may have left does.
	id = record(t, d, "a3", alice, t0.Add(4*time.Hour))
	must(t, d.MarkSending(ctx, id, t0.Add(4*time.Hour)))
	check(alice, t0.Add(4*time.Hour), true) // sending
	must(t, d.MarkDone(ctx, id, textback.Unknown, "interrupted", t0.Add(5*time.Hour)))
	check(alice, t0.Add(4*time.Hour), true)
	check(bob, time.Time{}, false)
}

// TestReopen checks that what was committed survives Close and Open, and
// that a text left sending comes back from Interrupted.
func TestReopen(t *testing.T) {
	d, path := openTest(t)
	ctx := t.Context()
	a := record(t, d, "a", "+13125550101", t0)
	b := record(t, d, "b", "+13125550102", t0)
	must(t, d.MarkSending(ctx, a, t0))
	must(t, d.Close())

	for i := range 2 { // twice: the migrations must not run again
		d, err := Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		ts, err := d.Interrupted(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(ts) != 1 || ts[0].ID != a || ts[0].Attempts != 1 || ts[0].To != "+13125550101" {
			t.Errorf("reopen %d: Interrupted() = %+v, want text %d once tried", i, ts, a)
		}
		due, err := d.Due(ctx, t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]int64{b}, ids(due)); diff != "" {
			t.Errorf("reopen %d: Due() mismatch (-want +got):\n%s", i, diff)
		}
		must(t, d.Close())
	}
}

func TestSchema(t *testing.T) {
	d, path := openTest(t)
	ctx := t.Context()
	for _, tt := range []struct {
		pragma string
		want   string
	}{
		{"user_version", fmt.Sprint(len(migrations))},
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"}, // NORMAL: durable writes sync after their commit
		{"busy_timeout", fmt.Sprint(busyTimeout.Milliseconds())},
	} {
		var got string
		if err := d.db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("PRAGMA %s = %s, want %s", tt.pragma, got, tt.want)
		}
	}

	// The file as another process sees it.
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var v int
	if err := raw.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil || v != len(migrations) {
		t.Errorf("user_version on disk = %d, %v; want %d", v, err, len(migrations))
	}
}

func TestNewerSchema(t *testing.T) {
	d, path := openTest(t)
	if _, err := d.db.ExecContext(t.Context(), fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	must(t, d.Close())
	if d, err := Open(t.Context(), path); err == nil {
		d.Close()
		t.Fatal("Open(newer schema) = nil error, want one")
	}
}

func TestOpenCreates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "textback")
	path := filepath.Join(dir, "textback.db")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("mode of %s = %v, want %v", p, fi.Mode(), want)
		}
	}
}

// TestOddPath checks that a path is a path, not a DSN: "?" and "#" are
// escaped.
func TestOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a?mode=ro#b%20c.db")
	d, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	record(t, d, "c1", "+13125550101", t0)
	must(t, d.Close())
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestOpenFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a database, and long enough to have a header of sorts....................................................................."), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"empty":            "",
		"parent is a file": filepath.Join(file, "textback.db"),
		"not a database":   file,
		"a directory":      t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			if d, err := Open(t.Context(), path); err == nil {
				d.Close()
				t.Errorf("Open(%q) = nil error, want one", path)
			}
		})
	}
}

func TestMemory(t *testing.T) {
	d, err := Open(t.Context(), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id := record(t, d, "c1", "+13125550101", t0)
	due, err := d.Due(t.Context(), t0, 1)
	if err != nil || len(due) != 1 || due[0].ID != id {
		t.Errorf("Due() = %+v, %v; want text %d", due, err, id)
	}
}

// TestLocked checks that a write lock held by another process makes Record
// fail, after busy_timeout, with an error and no change.
func TestLocked(t *testing.T) {
	defer func(d time.Duration) { busyTimeout = d }(busyTimeout)
	busyTimeout = 50 * time.Millisecond
	d, path := openTest(t)
	ctx := t.Context()

	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	_, err = d.Record(ctx, missed("c1", "+13125550101", t0), text("c1", "+13125550101"), t0)
	var se *modernc.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY {
		t.Errorf("Record() while locked = %v, want SQLITE_BUSY", err)
	}
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	// Unlocked, the same call records: the failed attempt left nothing.
	record(t, d, "c1", "+13125550101", t0)
}

func TestConcurrentRecord(t *testing.T) {
	const (
		workers = 8
		calls   = 40
	)
	d, _ := openTest(t)
	ctx := t.Context()
	// Every call is reported by two workers, as around a reconnect.
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		recorded  int
		dupes     int
		textIDs   = map[int64]bool{}
		otherErrs []error
	)
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				id := fmt.Sprintf("c%d-%d", w/2, i)
				tid, err := d.Record(ctx, missed(id, "+13125550101", t0), text(id, "+13125550101"), t0.Add(time.Duration(i)))
				mu.Lock()
				switch {
				case err == nil:
					recorded++
					textIDs[tid] = true
				case errors.Is(err, textback.ErrDuplicateCall):
					dupes++
				default:
					otherErrs = append(otherErrs, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(otherErrs...); err != nil {
		t.Fatal(err)
	}
	want := workers / 2 * calls
	if recorded != want || dupes != want || len(textIDs) != want {
		t.Errorf("%d recorded (%d text ids), %d duplicates; want %d each", recorded, len(textIDs), dupes, want)
	}
	st, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Calls != int64(want) || st.Texts[textback.Queued] != int64(want) {
		t.Errorf("Stats() = %+v, want %d calls and queued texts", st, want)
	}
}

func TestStats(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	a := record(t, d, "a", "+13125550101", t0)
	b := record(t, d, "b", "+13125550102", t0)
	record(t, d, "c", "+13125550103", t0)
	if _, err := d.Record(ctx, textback.Verdict{Call: textback.Call{ID: "d"}, Reason: "answered"}, nil, t0); err != nil {
		t.Fatal(err)
	}
	must(t, d.MarkSending(ctx, a, t0))
	must(t, d.MarkSent(ctx, a, textback.Receipt{}, t0))
	must(t, d.MarkDone(ctx, b, textback.Expired, "late", t0))
	got, err := d.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{Calls: 4, Texts: map[textback.State]int64{
		textback.Queued: 1, textback.Sending: 0, textback.Sent: 1,
		textback.Failed: 0, textback.Expired: 1, textback.Unknown: 0, textback.Cancelled: 0,
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

// BenchmarkRecord measures one text's whole way through the outbox's
// journal: Record, Due, MarkSending, MarkSent, each its own commit, none
// synced (the outbox syncs with Sync; BenchmarkCallPath counts it).
func BenchmarkRecord(b *testing.B) {
	d, _ := openTest(b)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprint("bench-", i)
		now := t0.Add(time.Duration(i) * time.Millisecond)
		if _, err := d.Record(ctx, missed(id, "+13125550101", now), text(id, "+13125550101"), now); err != nil {
			b.Fatal(err)
		}
		due, err := d.Due(ctx, now, 1)
		if err != nil || len(due) != 1 {
			b.Fatalf("Due() = %v, %v", due, err)
		}
		if err := d.MarkSending(ctx, due[0].ID, now); err != nil {
			b.Fatal(err)
		}
		if err := d.MarkSent(ctx, due[0].ID, textback.Receipt{Sender: "log"}, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkCallPath measures the journal's part of the event loop's work
// for a missed call texted at once, as the daemon does it: the reads of the
// decision (opt-out, cooldown, hourly cap), RecordSending, then MarkSent and
// a shared Sync from the worker, with 10,000 calls of the day before yesterday in the journal.
//
//	go test ./sqlite -run '^$' -bench CallPath
func BenchmarkCallPath(b *testing.B) {
	d, _ := openTest(b)
	ctx := b.Context()
	for i := range 10_000 {
		to := textback.Number(fmt.Sprintf("+1312555%04d", i))
		record(b, d, fmt.Sprint("old-", i), to, t0.Add(-48*time.Hour+time.Duration(i)*time.Second))
	}
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprint("bench-", i)
		to := textback.Number(fmt.Sprintf("+1646555%04d", i%10_000))
		// 100 texts an hour, the default max_per_hour: the count of the
		// last hour's texts stays what a capped daemon counts.
		now := t0.Add(time.Duration(i) * 36 * time.Second)
		if _, err := d.OptedOut(ctx, to); err != nil {
			b.Fatal(err)
		}
		if _, _, err := d.LastTexted(ctx, to); err != nil {
			b.Fatal(err)
		}
		if _, err := d.CountTexts(ctx, "main", now.Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
		tid, err := d.RecordSending(ctx, missed(id, to, now), *text(id, to), now)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.MarkSent(ctx, tid, textback.Receipt{Sender: "log", ProviderID: id}, now); err != nil {
			b.Fatal(err)
		}
		if err := d.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRecordNotBefore: a deferred text is due at its NotBefore, which
// reads back; an earlier NotBefore is as good as none.
func TestRecordNotBefore(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	later := t0.Add(9 * time.Hour)
	m := text("c1", "+13125550101")
	m.NotBefore = later
	if _, err := d.Record(ctx, missed("c1", "+13125550101", t0), m, t0); err != nil {
		t.Fatal(err)
	}
	past := text("c2", "+13125550102")
	past.NotBefore = t0.Add(-time.Hour)
	id2, err := d.Record(ctx, missed("c2", "+13125550102", t0), past, t0)
	if err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		now  time.Time
		want int
	}{
		"before its time": {t0, 1},
		"at its time":     {later, 2},
	} {
		t.Run(name, func(t *testing.T) {
			ts, err := d.Due(ctx, tt.now, 10)
			if err != nil || len(ts) != tt.want {
				t.Fatalf("Due() = %d texts, %v; want %d", len(ts), err, tt.want)
			}
			for _, x := range ts {
				switch {
				case x.ID == id2 && !x.NotBefore.IsZero():
					t.Errorf("text with a past NotBefore reads NotBefore %v, want zero", x.NotBefore)
				case x.ID != id2 && !x.NotBefore.Equal(later):
					t.Errorf("NotBefore = %v, want %v", x.NotBefore, later)
				}
			}
		})
	}
}

// TestConnectedSince: only answered calls with the number, inbound from it
// or outbound to it, journaled at or after the time, count; the earliest
// is returned.
func TestConnectedSince(t *testing.T) {
	const alice, bob textback.Number = "+13125550101", "+13125550102"
	d, _ := openTest(t)
	ctx := t.Context()
	journal := func(id string, dir textback.Direction, o textback.Outcome, party textback.Number, at time.Time) {
		t.Helper()
		v := textback.Verdict{Call: textback.Call{ID: textback.CallID(id), Direction: dir, Outcome: o}, Reason: "x", Party: party}
		if dir == textback.Outbound {
			v.Call.Dialed = string(party)
		}
		if _, err := d.Record(ctx, v, nil, at); err != nil {
			t.Fatal(err)
		}
	}
	journal("before", textback.Inbound, textback.Answered, alice, t0.Add(-time.Second))
	journal("missed", textback.Inbound, textback.NoAnswer, alice, t0.Add(time.Second))
	journal("internal", textback.Internal, textback.Answered, alice, t0.Add(2*time.Second))
	journal("bob", textback.Inbound, textback.Answered, bob, t0.Add(3*time.Second))
	journal("callback", textback.Outbound, textback.Answered, alice, t0.Add(4*time.Second))
	journal("redial", textback.Inbound, textback.Answered, alice, t0.Add(5*time.Second))
	for name, tt := range map[string]struct {
		n     textback.Number
		since time.Time
		want  textback.Connection
		ok    bool
	}{
		"call back first":   {alice, t0, textback.Connection{At: t0.Add(4 * time.Second), Direction: textback.Outbound}, true},
		"then the redial":   {alice, t0.Add(5 * time.Second), textback.Connection{At: t0.Add(5 * time.Second), Direction: textback.Inbound}, true},
		"nothing after":     {alice, t0.Add(6 * time.Second), textback.Connection{}, false},
		"another number":    {bob, t0, textback.Connection{At: t0.Add(3 * time.Second), Direction: textback.Inbound}, true},
		"a stranger":        {"+13125550199", t0.Add(-time.Hour), textback.Connection{}, false},
		"no number matches": {"", t0.Add(-time.Hour), textback.Connection{}, false},
	} {
		t.Run(name, func(t *testing.T) {
			got, ok, err := d.ConnectedSince(ctx, tt.n, tt.since)
			if err != nil || ok != tt.ok || !got.At.Equal(tt.want.At) || got.Direction != tt.want.Direction {
				t.Errorf("ConnectedSince() = %+v, %v, %v; want %+v, %v, nil", got, ok, err, tt.want, tt.ok)
			}
		})
	}
	// The journal keeps what it was given.
	hs, err := d.History(ctx, t0.Add(4*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 2 || hs[1].Call.Dialed != string(alice) || hs[1].Party != alice || hs[0].Party != alice {
		t.Errorf("History() = %+v, want the call back with Dialed and Party %s", hs, alice)
	}
}

// TestGraceRoundTrip: a text's grace comes back from Due.
func TestGraceRoundTrip(t *testing.T) {
	d, _ := openTest(t)
	m := text("g", "+13125550101")
	m.NotBefore, m.Grace = t0.Add(2*time.Minute), t0
	if _, err := d.Record(t.Context(), missed("g", "+13125550101", t0), m, t0); err != nil {
		t.Fatal(err)
	}
	due, err := d.Due(t.Context(), t0.Add(2*time.Minute), 10)
	if err != nil || len(due) != 1 || !due[0].Grace.Equal(t0) {
		t.Fatalf("Due() = %+v, %v; want one text with Grace %v", due, err, t0)
	}
}

func TestUnresolved(t *testing.T) {
	d, _ := openTest(t)
	ctx := t.Context()
	unknown := func(call string, at time.Time) int64 {
		id := record(t, d, call, "+13125550101", at)
		must(t, d.MarkSending(ctx, id, at.Add(time.Second)))
		must(t, d.MarkDone(ctx, id, textback.Unknown, "timeout", at.Add(20*time.Second)))
		return id
	}
	unknown("old", t0.Add(-25*time.Hour))
	fresh := unknown("fresh", t0)
	sent := record(t, d, "sent", "+13125550102", t0)
	must(t, d.MarkSending(ctx, sent, t0))
	must(t, d.MarkSent(ctx, sent, textback.Receipt{Sender: "log"}, t0))

	got, err := d.Unresolved(ctx, t0.Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].ID != fresh {
		t.Fatalf("Unresolved = %+v, want only text %d", got, fresh)
	}
	if !got[0].Attempted.Equal(t0.Add(time.Second)) {
		t.Errorf("Attempted = %s, want the last MarkSending %s", got[0].Attempted, t0.Add(time.Second))
	}
	// Found at the carrier afterwards: unknown → sent, and no longer unresolved.
	must(t, d.MarkSent(ctx, fresh, textback.Receipt{Sender: "twilio", ProviderID: "SM1"}, t0.Add(6*time.Minute)))
	if got, err := d.Unresolved(ctx, t0.Add(-24*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("Unresolved after resolving = %v, %v; want none", got, err)
	}
}
