package sqlite

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestWALSyncGroups: callers waiting at the same moment share an fsync;
// none returns on an fsync begun before its commits, and none starts
// another when the one under way began after them.
func TestWALSyncGroups(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	if err := os.WriteFile(db+"-wal", []byte("wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSync(db)
	defer w.close()
	release := make(chan struct{})
	began := make(chan struct{}, 100)
	var mu sync.Mutex
	syncs := 0
	w.syncFile = func(*os.File) error {
		mu.Lock()
		syncs++
		mu.Unlock()
		began <- struct{}{}
		<-release
		return nil
	}
	waitFor := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			w.mu.Lock()
			got := w.waiting
			w.mu.Unlock()
			if got == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d callers waiting, want %d", got, n)
			}
		}
	}
	var wg sync.WaitGroup
	call := func() {
		wg.Go(func() {
			if err := w.sync(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
	// A commit, and its sync under way…
	w.committed()
	call()
	<-began
	// …covers a caller with no commit since: it waits for that fsync only.
	call()
	waitFor(1)
	// Ten callers after a further commit wait for the next fsync, and
	// share it.
	w.committed()
	for range 10 {
		call()
	}
	waitFor(11)
	release <- struct{}{} // the first fsync ends
	<-began               // a second begins, for the ten
	close(release)
	wg.Wait()
	if syncs != 2 {
		t.Errorf("%d fsyncs for 12 callers, want 2 (the one under way, then one for the ten)", syncs)
	}
	// Nothing committed since: nothing to sync.
	if err := w.sync(t.Context()); err != nil || syncs != 2 {
		t.Errorf("a sync with nothing new: %v, %d fsyncs", err, syncs)
	}
}

func TestWALSyncError(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	w := newWALSync(db)
	defer w.close()
	w.committed()
	// No WAL file: an error, not a silent success.
	if err := w.sync(t.Context()); err == nil {
		t.Error("sync of a missing WAL succeeded")
	}
	if err := os.WriteFile(db+"-wal", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("EIO")
	w.syncFile = func(*os.File) error { return boom }
	w.committed()
	if err := w.sync(t.Context()); !errors.Is(err, boom) {
		t.Errorf("sync = %v, want the disk's error", err)
	}
	// The disk back, the next sync tries again.
	w.syncFile = func(*os.File) error { return nil }
	w.committed()
	if err := w.sync(t.Context()); err != nil {
		t.Errorf("sync after the disk came back = %v", err)
	}
}

// TestWALSyncFollowsNewFile: a WAL removed and made anew is another file,
// and the one synced.
func TestWALSyncFollowsNewFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	if err := os.WriteFile(db+"-wal", []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSync(db)
	defer w.close()
	var synced []string
	w.syncFile = func(f *os.File) error {
		b := make([]byte, 3)
		f.ReadAt(b, 0)
		synced = append(synced, string(b))
		return nil
	}
	w.committed()
	must(t, w.sync(t.Context()))
	if err := os.Remove(db + "-wal"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db+"-wal", []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	w.committed()
	must(t, w.sync(t.Context()))
	if len(synced) != 2 || synced[1] != "new" {
		t.Errorf("synced %v, want the new WAL the second time", synced)
	}
}

// TestSyncKeepsLazyCommits: a lazy commit followed by Sync is on disk; the
// DB's Sync works on the real WAL.
func TestSyncKeepsLazyCommits(t *testing.T) {
	d, _ := openTest(t)
	id, err := d.RecordSending(t.Context(), missed("c1", "+13125550150", t0), *text("c1", "+13125550150"), t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if d.wal.synced == 0 || d.wal.f == nil {
		t.Error("Sync did not sync the WAL file")
	}
	if ts, err := d.Interrupted(t.Context()); err != nil || len(ts) != 1 || ts[0].ID != id {
		t.Errorf("Interrupted = %v, %v", ts, err)
	}
}
