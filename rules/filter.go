package rules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback"
)

// ListCheckInterval is how often Decide looks at an allow_file or
// deny_file for a change: at most once in this long.
const ListCheckInterval = 5 * time.Second

// numberList is an allow or deny list: exact numbers, and prefixes of
// E.164 numbers written with a trailing "*" ("+1900*").
type numberList struct {
	exact    map[textback.Number]bool
	prefixes []string
}

// parseListEntry reads one entry: a number in any form (read in region) or
// an E.164 prefix ending in "*".
func parseListEntry(s, region string) (num textback.Number, prefix string, err error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "*"); ok {
		p = strings.NewReplacer(" ", "", "-", "", "(", "", ")", "").Replace(p)
		if !strings.HasPrefix(p, "+") || !digitsOnly(p[1:]) {
			return "", "", fmt.Errorf("prefix %q: want + and digits before the *, e.g. \"+1900*\"", s)
		}
		return "", p, nil
	}
	n, err := ParseNumber(s, region)
	return n, "", err
}

func (l *numberList) add(s, region string) error {
	n, p, err := parseListEntry(s, region)
	if err != nil {
		return err
	}
	if l.exact == nil {
		l.exact = make(map[textback.Number]bool)
	}
	if p != "" {
		l.prefixes = append(l.prefixes, p)
	} else {
		l.exact[n] = true
	}
	return nil
}

// match returns the entry that covers n ("+13125550101" or "+1900*"), or "".
func (l *numberList) match(n textback.Number) string {
	if l.exact[n] {
		return string(n)
	}
	for _, p := range l.prefixes {
		if strings.HasPrefix(string(n), p) {
			return p + "*"
		}
	}
	return ""
}

func (l *numberList) len() int { return len(l.exact) + len(l.prefixes) }

// parseListFile reads a list file: one entry a line, "#" starts a comment.
func parseListFile(src []byte, name, region string) (numberList, error) {
	var l numberList
	var errs []error
	sc := bufio.NewScanner(bytes.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if err := l.add(line, region); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %w", name, n, err))
		}
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name, err))
	}
	return l, errors.Join(errs...)
}

// listFile is a list file that is read again when it changes. It is safe for
// concurrent use.
type listFile struct {
	path, region string

	mu      sync.Mutex
	list    numberList
	mod     time.Time
	size    int64
	checked time.Time // the time of the decision that last looked
	err     error     // the last failed reload; the previous list stays
}

func openListFile(path, region string) (*listFile, error) {
	f := &listFile{path: path, region: region}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// reload reads the file if its modification time or size changed.
func (f *listFile) reload() error {
	fi, err := os.Stat(f.path)
	if err != nil {
		return err
	}
	if fi.ModTime().Equal(f.mod) && fi.Size() == f.size && f.list.exact != nil {
		return nil
	}
	src, err := os.ReadFile(f.path)
	if err != nil {
		return err
	}
	l, err := parseListFile(src, f.path, f.region)
	if err != nil {
		return err
	}
	if l.exact == nil {
		l.exact = map[textback.Number]bool{}
	}
	f.list, f.mod, f.size = l, fi.ModTime(), fi.Size()
	return nil
}

// get returns the list, looking at the file first if it was not looked at
// within ListCheckInterval of now. A file that cannot be read or has a bad
// line leaves the previous list in force.
func (f *listFile) get(now time.Time) numberList {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := now.Sub(f.checked); d >= ListCheckInterval || d < 0 {
		f.checked = now
		f.err = f.reload()
	}
	return f.list
}

// forceReload reads the file now, whatever its time.
func (f *listFile) forceReload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mod = time.Time{}
	f.err = f.reload()
	return f.err
}

func (f *listFile) lastErr() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
