package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/textback/textback"
	"github.com/textback/textback/sqlite"
)

// offlineConfig is a configuration whose PBX and carrier are never reached.
func offlineConfig(t *testing.T, extra string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	return dir, writeConfig(t, dir, amiPBX("127.0.0.1:1"), "http://127.0.0.1:1", "AC"+strings.Repeat("0", 32), extra)
}

func decodeLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var vs []T
	dec := json.NewDecoder(strings.NewReader(out))
	for dec.More() {
		var v T
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		vs = append(vs, v)
	}
	return vs
}

func TestSimulateCDR(t *testing.T) {
	_, cfg := offlineConfig(t, "")
	for name, tt := range map[string]struct {
		file string
		want []string // caller_raw reason, in order
	}{
		"asterisk Master.csv": {"testdata/Master.csv", []string{
			"3125550101 send", "3125550101 cooldown", "3125550102 answered", "3125550103 send", "100 internal",
			"3125550104 answered", "anonymous withheld", "+4915112345678 country_not_allowed", "3125550105 send",
		}},
		"freeswitch cdr_csv": {"testdata/freeswitch.csv", []string{
			"3125550101 send", "3125550102 answered", "3125550103 send", "3125550104 send",
		}},
	} {
		t.Run(name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "simulate", "-c", cfg, "--cdr", tt.file, "--tz", "America/New_York", "--json")
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got []string
			for _, l := range decodeLines[cdrLine](t, out) {
				got = append(got, l.CallerRaw+" "+l.Reason)
				if l.Send && (l.To == "" || l.Text == "") {
					t.Errorf("%s: send without a text: %+v", l.CallID, l)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		out, errOut, code := runCLI(t, "simulate", "-c", cfg, "--cdr", "testdata/Master.csv", "--tz", "America/New_York")
		if code != 0 || !strings.Contains(out, "9 calls, 3 would have been texted") || !strings.Contains(out, "voicemail") {
			t.Errorf("exit %d: %s%s", code, out, errOut)
		}
	})
	t.Run("voicemail outcome and times", func(t *testing.T) {
		f, _ := os.Open("testdata/Master.csv")
		defer f.Close()
		loc, _ := parseTZ("America/New_York")
		calls, err := readCDR(f, loc)
		if err != nil {
			t.Fatal(err)
		}
		c := calls[3]
		if c.Outcome != textback.Voicemail || c.Rang != 25*time.Second || !c.Ended.Equal(time.Date(2026, 3, 2, 16, 1, 0, 0, time.UTC)) {
			t.Errorf("voicemail call = %+v", c)
		}
	})
	for name, tt := range map[string]struct {
		file, want string
	}{
		"not a CDR":       {"a,b,c\nd,e,f\n", "line 2: neither"},
		"bad disposition": {`"","1","2","c","","","","Dial","","2026-03-02 09:30:00","","2026-03-02 09:30:20",20,0,"LOST","DOCUMENTATION","1",""` + "\n", `disposition "LOST"`},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cdr.csv")
			os.WriteFile(p, []byte(tt.file), 0o600)
			_, errOut, code := runCLI(t, "simulate", "-c", cfg, "--cdr", p)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d: %s, want %q", code, errOut, tt.want)
			}
		})
	}
}

// journalCalls records missed calls from the given callers in the store of cfg.
func journalCalls(t *testing.T, dir string, callers ...textback.Number) {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "textback.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for i, c := range callers {
		v := textback.Verdict{Call: textback.Call{ID: textback.CallID("c" + string(rune('a'+i))), Direction: textback.Inbound,
			Outcome: textback.NoAnswer, CallerNum: string(c)}, Caller: c, Party: c, Reason: "cooldown"}
		if _, err := db.Record(context.Background(), v, nil, now); err != nil {
			t.Fatal(err)
		}
	}
}

func TestHistoryNumber(t *testing.T) {
	dir, cfg := offlineConfig(t, "")
	journalCalls(t, dir, "+13125550101", "+13125550102", "+13125550101")
	// An answered call from the caller (its verdict stops before the caller
	// is read) and a call back from staff: both are the caller's history.
	db, err := sqlite.Open(context.Background(), filepath.Join(dir, "textback.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []textback.Verdict{
		{Call: textback.Call{ID: "answered", Direction: textback.Inbound, Outcome: textback.Answered, CallerNum: "3125550101"},
			Party: "+13125550101", Reason: "answered"},
		{Call: textback.Call{ID: "callback", Direction: textback.Outbound, CallerNum: "101", Dialed: "13125550101"},
			Party: "+13125550101", Reason: "not_inbound"},
	} {
		if _, err := db.Record(context.Background(), v, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	for name, tt := range map[string]struct {
		number string
		want   int
	}{
		"every call":         {"", 5},
		"national format":    {"(312) 555-0101", 4},
		"E.164":              {"+13125550102", 1},
		"a number not there": {"+13125550199", 0},
	} {
		t.Run(name, func(t *testing.T) {
			args := []string{"history", "-c", cfg, "--json"}
			if tt.number != "" {
				args = append(args, "--number", tt.number)
			}
			out, errOut, code := runCLI(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			hs := decodeLines[historyJSON](t, out)
			if len(hs) != tt.want {
				t.Errorf("%d calls, want %d: %s", len(hs), tt.want, out)
			}
			for _, h := range hs {
				if tt.number != "" && !strings.HasSuffix(h.Party, tt.number[len(tt.number)-4:]) {
					t.Errorf("call of %s (%s) listed for %s", h.Party, h.Caller, tt.number)
				}
			}
		})
	}
	if _, errOut, code := runCLI(t, "history", "-c", cfg, "--number", "12"); code == 0 || !strings.Contains(errOut, "--number") {
		t.Errorf("bad number: exit %d, %s", code, errOut)
	}
}

func TestOptOutCommands(t *testing.T) {
	dir, cfg := offlineConfig(t, "")
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, append([]string{"optout", "-c", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("optout %v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	export := func() []string { return strings.Fields(run("export")) }

	run("add", "(312) 555-0101", "+13125550102")
	if got, want := export(), []string{"+13125550101", "+13125550102"}; !cmp.Equal(got, want) {
		t.Errorf("after add: %v, want %v", got, want)
	}
	if out := run("list"); !strings.Contains(out, "+13125550101") || !strings.Contains(out, "cli") {
		t.Errorf("list: %s", out)
	}
	// The opt-out list wins in the rules.
	out, _, _ := runCLI(t, "simulate", "-c", cfg, "--json", "--caller", "3125550101", "--did", "+12125550100")
	if !strings.Contains(out, `"reason": "opted_out"`) {
		t.Errorf("simulate of an opted-out caller: %s", out)
	}
	run("remove", "3125550101")
	if got, want := export(), []string{"+13125550102"}; !cmp.Equal(got, want) {
		t.Errorf("after remove: %v, want %v", got, want)
	}

	// A file with a bad line imports nothing and names the line.
	bad := filepath.Join(dir, "bad.txt")
	os.WriteFile(bad, []byte("# from the old system\n+13125550103\nnot a number\n"), 0o600)
	if _, errOut, code := runCLI(t, "optout", "-c", cfg, "import", bad); code == 0 || !strings.Contains(errOut, "bad.txt:3") {
		t.Errorf("import of a bad file: exit %d, %s", code, errOut)
	}
	if got := export(); len(got) != 1 {
		t.Errorf("a bad import changed the list: %v", got)
	}
	good := filepath.Join(dir, "good.txt")
	os.WriteFile(good, []byte("# from the old system\n+13125550103\n\n(312) 555-0104  # called to complain\n"), 0o600)
	if out := run("import", good); !strings.Contains(out, "2 numbers") {
		t.Errorf("import: %s", out)
	}
	if got, want := export(), []string{"+13125550102", "+13125550103", "+13125550104"}; !cmp.Equal(got, want) {
		t.Errorf("after import: %v, want %v", got, want)
	}
	// export's output imports again.
	round := filepath.Join(dir, "round.txt")
	os.WriteFile(round, []byte(run("export")), 0o600)
	run("import", round)
	if got := export(); len(got) != 3 {
		t.Errorf("after re-import: %v", got)
	}
	if _, errOut, code := runCLI(t, "optout", "-c", cfg, "add", "+13125550105", "12"); code == 0 || !strings.Contains(errOut, "not a valid phone number") {
		t.Errorf("add with a bad number: exit %d, %s", code, errOut)
	}
	if got := export(); len(got) != 3 {
		t.Errorf("a bad add changed the list: %v", got)
	}
}

func TestCheckWarnings(t *testing.T) {
	_, cfg := offlineConfig(t, "")
	src, _ := os.ReadFile(cfg)
	src = []byte(strings.Replace(string(src), `message = "Hi, this is {business}. Sorry we missed your call. What can we help you with?"`,
		`message = "CALL US NOW at www.peak.example"`, 1))
	os.WriteFile(cfg, src, 0o600)
	out, _, code := runCLI(t, "check", "--offline", "-c", cfg)
	if code != 0 || !strings.Contains(out, "warn  ") || !strings.Contains(out, "has a link") || !strings.Contains(out, "capitals") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestRuleConfigErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		extra, want string
	}{
		"bad hours have a line and column":  {"[[rules]]\nname = \"b\"\nmessage = \"x\"\ntimezone = \"UTC\"\nhours = [\"Mon 08:00-25:00\"]\n", `textback.toml:32:10: hours "Mon 08:00-25:00"`},
		"bad zone":                          {"[[rules]]\nname = \"b\"\nmessage = \"x\"\ntimezone = \"Mars/Base\"\n", `unknown time zone "Mars/Base"`},
		"bad quiet action":                  {"[[rules]]\nname = \"b\"\nmessage = \"x\"\nquiet_action = \"later\"\n", `unknown quiet action "later"`},
		"unknown messages key":              {"[[rules]]\nname = \"b\"\nmessage = \"x\"\n[rules.messages]\nbusyy = \"x\"\n", `unknown key "rules.messages.busyy"`},
		"rules error names the rule's line": {"[[rules]]\nname = \"b\"\nmessage = \"x {opens}\"\n", `textback.toml:28: rules[1] (b): message: {opens} needs hours`},
		"filters error names its key":       {"[filters]\ndeny = [\"12\"]\n", `textback.toml:29: filters.deny[0]: not a valid phone number`},
		"limits error names its key":        {"[limits]\nallowed_countries = [\"XX\"]\n", `textback.toml:29: limits.allowed_countries[0]: unknown region "XX"`},
		"missing deny file":                 {"[filters]\ndeny_file = \"nope.txt\"\n", `filters.deny_file: `},
	} {
		t.Run(name, func(t *testing.T) {
			_, cfg := offlineConfig(t, tt.extra)
			out, _, code := runCLI(t, "check", "--offline", "-c", cfg)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d:\n%s\nwant %q", code, out, tt.want)
			}
		})
	}
}
