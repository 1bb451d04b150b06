package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/creack/pty"
	modernc "modernc.org/sqlite"

	"github.com/textback/textback/ami/amitest"
	"github.com/textback/textback/modem/modemtest"
	"github.com/textback/textback/sqlite"
)

// startDaemonCmd is startDaemon for a command of the test's own making
// (the binary under prlimit, say).
func startDaemonCmd(t *testing.T, cmd *exec.Cmd) *daemonProc {
	t.Helper()
	d := &daemonProc{t: t, cmd: cmd, log: &logBuffer{}, exited: make(chan error, 1)}
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case err := <-d.exited:
			d.exited <- err
		default:
			d.cmd.Process.Kill()
			d.exited <- <-d.exited
		}
		if t.Failed() {
			t.Logf("textback's log:\n%s", d.log.String())
		}
	})
	d.waitLog(`msg="textback started"`, 20*time.Second)
	return d
}

// httpAddr is the address the daemon's listener took ("127.0.0.1:0" in
// the config), from its log.
func (d *daemonProc) httpAddr() string {
	d.t.Helper()
	l := d.waitLog(`msg="http listening"`, 10*time.Second)
	m := regexp.MustCompile(`addr=(127\.0\.0\.1:\d+)`).FindStringSubmatch(l)
	if m == nil {
		d.t.Fatalf("no address in %q", l)
	}
	return m[1]
}

// alive fails the test if the daemon has exited.
func (d *daemonProc) alive() {
	d.t.Helper()
	select {
	case err := <-d.exited:
		d.exited <- err
		d.t.Fatalf("textback exited: %v", err)
	default:
	}
}

// readyz gets /readyz: its status and body.
func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("/readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitReadyz polls /readyz until its status is code and its body matches
// re, and returns the body.
func waitReadyz(t *testing.T, d *daemonProc, addr string, code int, re string, within time.Duration) string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(within)
	for {
		d.alive()
		c, body := readyz(t, addr)
		if c == code && rx.MatchString(body) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q after %v, want %d matching %s", c, body, within, code, re)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// journalPath is the store.path writeConfig puts in the config.
func journalPath(cfgPath string) string { return filepath.Join(filepath.Dir(cfgPath), "textback.db") }

// lockJournal takes the journal's write lock from another connection, as
// the sqlite3 shell or a backup in another process can, and holds it until
// the function it returns is called.
func lockJournal(t *testing.T, path string) (release func()) {
	t.Helper()
	c, err := modernc.NewConnector((&url.URL{Scheme: "file", Path: path}).String() + "?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Errorf("ROLLBACK: %v", err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// callText waits until the journal has the call whose id starts with
// prefix with a text in one of the states given, and returns the text.
func callText(t *testing.T, cfgPath, prefix string, within time.Duration, states ...string) *textJSON {
	t.Helper()
	return waitText(t, cfgPath, "of call "+prefix, func(h historyJSON) bool { return strings.HasPrefix(h.CallID, prefix) }, within, states...)
}

// reasons is the journal's calls by id prefix ("lock-a"), with their reasons.
func reasons(t *testing.T, cfgPath string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range history(t, cfgPath) {
		prefix, _, _ := strings.Cut(h.CallID, "-1")
		out[prefix] = h.Reason
	}
	return out
}

// TestStoreLockedE2E: another process holds the journal's write lock for
// longer than the busy timeout while missed calls come in. The daemon stays
// up, says what failed and how many calls wait, /readyz is not ready; once
// the lock goes every call is journaled, in order (the caller's second call
// falls in the cooldown of the first), and each caller is texted once.
func TestStoreLockedE2E(t *testing.T) {
	c := newCarrier(t, 0, nil)
	srv, cfgPath := crashSetup(t, c, 0)
	d := startDaemon(t, cfgPath)
	addr := d.httpAddr()
	waitReadyz(t, d, addr, http.StatusOK, "ready", 10*time.Second)

	release := lockJournal(t, journalPath(cfgPath))
	const a, b = "+13125557201", "+13125557202"
	srv.Play(call(t, "ring_no_answer_hangup", "lock-a", a))
	srv.Play(call(t, "ring_no_answer_hangup", "lock-b", b))
	srv.Play(call(t, "ring_no_answer_hangup", "lock-c", a)) // a again: the cooldown, once a's call is in
	// The first write waits out the busy timeout (5s), then fails.
	d.waitLog(`level=ERROR msg="store failed: the call is held in memory and will be journaled when the store takes it" call_id=lock-a-.* waiting=1 .*database is locked`, 15*time.Second)
	waitReadyz(t, d, addr, http.StatusServiceUnavailable, `(?m)^store: 3 calls waiting to be journaled$`, 10*time.Second)
	d.waitLog(`msg="call waiting for the store, behind earlier calls" call_id=lock-c-.* waiting=3`, time.Second)
	if req, _ := c.counts(); len(req) != 0 {
		t.Errorf("texts sent for calls not journaled: %v", req)
	}

	release()
	d.waitLog(`msg="store back: the calls that waited are journaled" journaled=3 dropped=0`, 10*time.Second)
	waitReadyz(t, d, addr, http.StatusOK, "ready", 10*time.Second)
	for _, p := range []string{"lock-a", "lock-b"} {
		if tx := callText(t, cfgPath, p, 10*time.Second, "sent", "failed", "unknown", "expired"); tx.State != "sent" || tx.Attempts != 1 {
			t.Errorf("%s: text %s after %d attempts, want sent after 1", p, tx.State, tx.Attempts)
		}
	}
	time.Sleep(500 * time.Millisecond) // time for a wrong second text
	want := map[string]string{"lock-a": "send", "lock-b": "send", "lock-c": "cooldown"}
	if got := reasons(t, cfgPath); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("journal %v, want %v", got, want)
	}
	if req, acc := c.counts(); fmt.Sprint(req) != fmt.Sprint(map[string]int{a: 1, b: 1}) || fmt.Sprint(acc) != fmt.Sprint(req) {
		t.Errorf("carrier saw %v and took %v, want one text to each of %s and %s", req, acc, a, b)
	}
	d.stop(15 * time.Second)
	if strings.Contains(d.log.String(), "call lost") {
		t.Error("a call was lost")
	}
}

// TestDiskFullE2E: the journal cannot grow (a file size limit on the daemon
// process, which SQLite meets as EFBIG: the disk is full as far as it can
// tell). Calls keep coming; the daemon neither crashes nor drops them: it
// says the store fails, holds them in memory, /readyz says so. Once the
// limit is lifted they are journaled and the missed callers texted once.
func TestDiskFullE2E(t *testing.T) {
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Skip("prlimit (util-linux) is not installed: cannot set a file size limit on the daemon")
	}
	c := newCarrier(t, 0, nil)
	srv, cfgPath := crashSetup(t, c, 0)
	// The journal exists, its schema written, before the limit applies:
	// the daemon starts on it with an empty WAL.
	db, err := sqlite.Open(context.Background(), journalPath(cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := os.Stat(journalPath(cfgPath))
	if err != nil {
		t.Fatal(err)
	}
	// Room for the WAL of a few calls. The soft limit only, so that it
	// can be raised again without privileges.
	limit := st.Size() + 96<<10
	d := startDaemonCmd(t, exec.Command(prlimit, fmt.Sprintf("--fsize=%d:unlimited", limit), binary, "run", "-c", cfgPath))
	addr := d.httpAddr()

	// Answered calls grow the journal until writes fail for good. The
	// first failures may pass: the background checkpoint moves the WAL
	// into the database file and the WAL starts again from its beginning,
	// until the database file too has reached the limit.
	answered := 0
	for ; answered < 400; answered++ {
		srv.Play(call(t, "answered", fmt.Sprintf("full-%03d", answered), "+13125557300"))
		if strings.Contains(d.log.String(), `msg="store still failing`) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	line := d.waitLog(`level=ERROR msg="store failed: the call is held in memory and will be journaled when the store takes it"`, 10*time.Second)
	if !strings.Contains(line, "disk I/O error") && !strings.Contains(line, "database or disk is full") {
		t.Errorf("the error does not say the disk failed: %s", line)
	}
	journaled := len(history(t, cfgPath))
	if journaled == 0 || journaled >= answered+1 {
		t.Fatalf("%d of %d calls journaled before the limit: want some, not all", journaled, answered+1)
	}
	wal, _ := os.Stat(journalPath(cfgPath) + "-wal")
	t.Logf("%d answered calls played, %d journaled before the store failed; WAL %d bytes, limit %d", answered+1, journaled, wal.Size(), limit)

	// Missed calls wait behind them, in memory, not texted.
	const a, b = "+13125557301", "+13125557302"
	srv.Play(call(t, "ring_no_answer_hangup", "full-a", a))
	srv.Play(call(t, "ring_no_answer_hangup", "full-b", b))
	d.waitLog(`msg="call waiting for the store, behind earlier calls" call_id=full-b-`, 10*time.Second)
	d.waitLog(`level=ERROR msg="store still failing: calls wait in memory to be journaled"`, 10*time.Second)
	waitReadyz(t, d, addr, http.StatusServiceUnavailable, `(?m)^store: \d+ calls waiting to be journaled$`, 5*time.Second)
	if n := len(history(t, cfgPath)); n != journaled {
		t.Errorf("%d calls journaled while the store fails, want still %d", n, journaled)
	}
	if req, _ := c.counts(); len(req) != 0 {
		t.Errorf("texts sent for calls not journaled: %v", req)
	}
	d.alive()

	// Space again.
	backs := strings.Count(d.log.String(), `msg="store back`)
	if out, err := exec.Command(prlimit, "--pid", fmt.Sprint(d.cmd.Process.Pid), "--fsize=unlimited").CombinedOutput(); err != nil {
		t.Fatalf("prlimit --pid: %v\n%s", err, out)
	}
	for deadline := time.Now().Add(10 * time.Second); strings.Count(d.log.String(), `msg="store back`) == backs; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal(`no "store back" log within 10s of the limit raised`)
		}
	}
	waitReadyz(t, d, addr, http.StatusOK, "ready", 10*time.Second)
	waitHistory(t, cfgPath, answered+3)
	for _, p := range []string{"full-a", "full-b"} {
		if tx := callText(t, cfgPath, p, 10*time.Second, "sent", "failed", "unknown", "expired"); tx.State != "sent" || tx.Attempts != 1 {
			t.Errorf("%s: text %s after %d attempts, want sent after 1", p, tx.State, tx.Attempts)
		}
	}
	time.Sleep(500 * time.Millisecond) // time for a wrong second text
	if n := len(history(t, cfgPath)); n != answered+3 {
		t.Errorf("%d calls journaled, want %d", n, answered+3)
	}
	if req, acc := c.counts(); fmt.Sprint(req) != fmt.Sprint(map[string]int{a: 1, b: 1}) || fmt.Sprint(acc) != fmt.Sprint(req) {
		t.Errorf("carrier saw %v and took %v, want one text to each of %s and %s", req, acc, a, b)
	}
	d.stop(15 * time.Second)
	if strings.Contains(d.log.String(), "call lost") {
		t.Error("a call was lost")
	}
}

// TestCarrierDownE2E: the carrier answers 503 for longer than max_delay.
// The text is given up as expired, the journal saying why (max_delay and
// the carrier's last error); the caller's next missed call, once the
// carrier is back, is texted once (an expired text never left, so it
// starts no cooldown).
func TestCarrierDownE2E(t *testing.T) {
	t.Parallel()
	var down atomic.Bool
	down.Store(true)
	c := newCarrier(t, 0, func() int {
		if down.Load() {
			return http.StatusServiceUnavailable
		}
		return http.StatusCreated
	})
	srv, cfgPath := crashSetup(t, c, 0)
	editConfig(t, cfgPath, "max_per_hour = 0", "max_per_hour = 0\nmax_delay = \"3s\"")
	d := startDaemon(t, cfgPath)
	const caller = "+13125557401"
	srv.Play(call(t, "ring_no_answer_hangup", "down-a", caller))
	tx := callText(t, cfgPath, "down-a", 15*time.Second, "expired", "sent", "failed", "unknown")
	if tx.State != "expired" {
		t.Fatalf("text while the carrier is down: %s, want expired", tx.State)
	}
	if !strings.Contains(tx.LastError, "max_delay 3s") || !strings.Contains(tx.LastError, "Service unavailable") {
		t.Errorf("expired text's reason %q: want max_delay 3s and the carrier's 503", tx.LastError)
	}
	if tx.Attempts < 2 {
		t.Errorf("expired after %d attempts, want retries first", tx.Attempts)
	}
	d.waitLog(`level=WARN msg="sms expired".*call_id=down-a-`, time.Second)
	before, acc := c.counts()
	if len(acc) != 0 {
		t.Errorf("the carrier took %v while down", acc)
	}

	down.Store(false)
	srv.Play(call(t, "ring_no_answer_hangup", "down-b", caller))
	if tx := callText(t, cfgPath, "down-b", 15*time.Second, "sent", "expired", "failed", "unknown"); tx.State != "sent" || tx.Attempts != 1 {
		t.Errorf("text after the carrier is back: %s after %d attempts, want sent after 1", tx.State, tx.Attempts)
	}
	time.Sleep(time.Second) // time for a wrong second text
	req, acc := c.counts()
	if req[caller] != before[caller]+1 || acc[caller] != 1 {
		t.Errorf("after the carrier came back it saw %d more requests and took %d texts, want 1 and 1", req[caller]-before[caller], acc[caller])
	}
	d.stop(15 * time.Second)
}

// TestCarrierRateLimitedE2E: the carrier answers 429 with Retry-After: 3
// twice, then takes the text, all within max_delay. The text goes out once,
// and no attempt comes before the carrier said (the outbox's own backoff
// would try after about 1s and 2s).
func TestCarrierRateLimitedE2E(t *testing.T) {
	t.Parallel()
	c := newCarrier(t, 0, nil)
	var mu sync.Mutex
	var at []time.Time
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			c.serve(w, r)
			return
		}
		mu.Lock()
		at = append(at, time.Now())
		n := len(at)
		mu.Unlock()
		if n <= 2 {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"code": 20429, "message": "Too Many Requests", "status": 429}`)
			return
		}
		c.serve(w, r)
	}))
	t.Cleanup(limited.Close)
	c.url = limited.URL
	srv, cfgPath := crashSetup(t, c, 0)
	editConfig(t, cfgPath, "max_per_hour = 0", "max_per_hour = 0\nmax_delay = \"12s\"")
	d := startDaemon(t, cfgPath)
	const caller = "+13125557501"
	srv.Play(call(t, "ring_no_answer_hangup", "rate-a", caller))
	tx := callText(t, cfgPath, "rate-a", 15*time.Second, "sent", "expired", "failed", "unknown")
	if tx.State != "sent" || tx.Attempts != 3 {
		t.Errorf("text: %s after %d attempts, want sent after 3", tx.State, tx.Attempts)
	}
	time.Sleep(time.Second) // time for a wrong second text
	mu.Lock()
	times := append([]time.Time(nil), at...)
	mu.Unlock()
	if len(times) != 3 {
		t.Fatalf("%d requests, want 3 (two rate limited, one taken)", len(times))
	}
	for i := 1; i < len(times); i++ {
		// The next attempt is due 3s after the 429 was read, which came
		// after the request arrived.
		if gap := times[i].Sub(times[i-1]); gap < 3*time.Second {
			t.Errorf("attempt %d came %v after the 429 with Retry-After: 3", i+1, gap.Round(time.Millisecond))
		}
	}
	if _, acc := c.counts(); acc[caller] != 1 || len(acc) != 1 {
		t.Errorf("the carrier took %v, want one text to %s", acc, caller)
	}
	d.waitLog(`msg="sms send failed, will retry".*call_id=rate-a-.*retry_in=3s`, time.Second)
	d.stop(15 * time.Second)
}

// TestModemReplugE2E: the modem is named by a link (a udev rule's
// /dev/textback-modem, a /dev/serial/by-id name). The stick is pulled and
// the link goes; a missed call comes in: its text waits in the outbox,
// the daemon stays up and says the modem is gone. The stick comes back on
// another pseudo-terminal and the link with it: the text goes out through
// it, once.
func TestModemReplugE2E(t *testing.T) {
	mdm, err := modemtest.New(modemtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mdm.Close() })
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	dir := t.TempDir()
	link := filepath.Join(dir, "textback-modem")
	if err := os.Symlink(mdm.Path(), link); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "textback.toml")
	cfg := fmt.Sprintf(`%s
[sms]
sender = "modem"
[[modem]]
name = "stick"
device = %q
[[rules]]
name = "main"
message = "Sorry we missed your call."
[http]
listen = "127.0.0.1:0"
[store]
path = %q
[log]
level = "debug"
`, amiPBX(srv.Addr()), link, filepath.Join(dir, "textback.db"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, cfgPath)
	addr := d.httpAddr()
	waitReadyz(t, d, addr, http.StatusOK, "ready", 15*time.Second)

	old := mdm.Path()
	mdm.Unplug()
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`level=WARN msg="modem lost, reopening"`, 10*time.Second)
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", "gone"))
	waitReadyz(t, d, addr, http.StatusServiceUnavailable, `modem: none ready \(stick: .*no such device`, 5*time.Second)
	d.waitLog(`level=WARN msg="modem unavailable" .*no such device`, 10*time.Second)
	// The text waits: queued, or handed to the modem sender, which waits
	// for the stick (10s) before it gives up for now.
	tx := callText(t, cfgPath, "gone-", 5*time.Second, "queued", "sending", "sent", "failed", "unknown", "expired")
	if tx.State != "queued" && tx.State != "sending" {
		t.Fatalf("text while the modem is gone: %s, want it waiting", tx.State)
	}
	if n := len(mdm.Sent()); n != 0 {
		t.Fatalf("%d texts through an unplugged modem", n)
	}
	d.alive()

	// Another pseudo-terminal takes the old number, so that the stick
	// comes back under a new one, as a ttyUSB1 after a ttyUSB0.
	ptm, pts, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close(); pts.Close() })
	path, err := mdm.Replug()
	if err != nil {
		t.Fatal(err)
	}
	if path == old {
		t.Logf("the stick came back under its old name %s", path)
	}
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	tx = callText(t, cfgPath, "gone-", 15*time.Second, "sent", "failed", "unknown", "expired")
	if tx.State != "sent" {
		t.Errorf("text after the stick came back: %s (%s), want sent", tx.State, tx.LastError)
	}
	if n := strings.Count(d.log.String(), `msg="modem connected"`); n != 2 {
		t.Errorf("the modem connected %d times, want twice (at the start, after the replug)", n)
	}
	time.Sleep(time.Second) // time for a wrong second text
	if sent := mdm.Sent(); len(sent) != 1 || mdm.PDUs() != 1 || sent[0].To != "+13125550101" || sent[0].Text != "Sorry we missed your call." {
		t.Errorf("the modem sent %d texts in %d PDUs, want the one text once: %+v", len(sent), mdm.PDUs(), sent)
	}
	waitReadyz(t, d, addr, http.StatusOK, "ready", 5*time.Second)
	d.stop(15 * time.Second)
}
