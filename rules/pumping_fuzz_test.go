package rules_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

// sendLog is a store-like History: it remembers every text the policy
// allowed, by number and by rule, as the daemon journals them.
type sendLog struct {
	sent []struct {
		to   textback.Number
		rule string
		at   time.Time
	}
}

func (j *sendLog) LastTexted(_ context.Context, to textback.Number) (time.Time, bool, error) {
	var last time.Time
	ok := false
	for _, s := range j.sent {
		if s.to == to && (!ok || s.at.After(last)) {
			last, ok = s.at, true
		}
	}
	return last, ok, nil
}

func (j *sendLog) OptedOut(context.Context, textback.Number) (bool, error) { return false, nil }

func (j *sendLog) CountTexts(_ context.Context, rule string, since time.Time) (int, error) {
	n := 0
	for _, s := range j.sent {
		if (rule == "" || s.rule == rule) && !s.at.Before(since) {
			n++
		}
	}
	return n, nil
}

// TestSMSPumping plays a burst of 200 missed calls in 20 minutes — from
// premium-rate numbers, from abroad, and from domestic numbers, some
// calling again — through the policy, journaling each text it allows, and
// counts the texts: premium and foreign callers get none, a number gets
// one per cooldown, and the hourly caps hold.
func TestSMSPumping(t *testing.T) {
	var callers []struct {
		num  string
		kind string
	}
	for i := range 200 {
		var num, kind string
		switch i % 5 {
		case 0:
			num, kind = fmt.Sprintf("+1900200%04d", i), "premium"
		case 1:
			num, kind = fmt.Sprintf("+4479111%05d", i), "foreign"
		case 2:
			num, kind = fmt.Sprintf("+234803123%04d", i), "foreign"
		case 3:
			num, kind = fmt.Sprintf("+1312200%04d", i), "domestic" // 40 numbers, each once
		case 4:
			num, kind = fmt.Sprintf("+1312200%04d", i-1), "repeat" // the number just before, again
		}
		callers = append(callers, struct{ num, kind string }{num, kind})
	}

	for name, tt := range map[string]struct {
		global, perRule int
		want            map[string]int // texts by kind of caller
	}{
		// The defaults: no hourly cap; the country filter and the cooldown
		// are all that hold a burst back.
		"defaults":          {0, 0, map[string]int{"premium": 0, "foreign": 0, "domestic": 40, "repeat": 0}},
		"limits 25 an hour": {25, 0, map[string]int{"premium": 0, "foreign": 0, "domestic": 25, "repeat": 0}},
		"rule 10 an hour":   {0, 10, map[string]int{"premium": 0, "foreign": 0, "domestic": 10, "repeat": 0}},
		"both, the lower":   {30, 12, map[string]int{"premium": 0, "foreign": 0, "domestic": 12, "repeat": 0}},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := rules.New(rules.Config{
				Region:     "US",
				From:       "+12125550199",
				Business:   "Acme Plumbing",
				MaxPerHour: tt.global,
				Rules: []rules.Rule{{
					Name: "main", DIDs: []string{sales}, Message: "Hi, this is {business}.", MaxPerHour: tt.perRule,
				}},
			})
			if err != nil {
				t.Fatal(err)
			}
			j := &sendLog{}
			got := map[string]int{}
			reasons := map[string]map[rules.Reason]int{}
			for i, c := range callers {
				at := now.Add(time.Duration(i) * 6 * time.Second)
				d, err := p.Decide(t.Context(), call(func(cl *textback.Call) {
					cl.ID = textback.CallID(fmt.Sprintf("pump.%d", i))
					cl.CallerNum = c.num
					cl.Decided = at
				}), at, j)
				if err != nil {
					t.Fatal(err)
				}
				if reasons[c.kind] == nil {
					reasons[c.kind] = map[rules.Reason]int{}
				}
				reasons[c.kind][d.Reason]++
				if d.Send {
					got[c.kind]++
					j.sent = append(j.sent, struct {
						to   textback.Number
						rule string
						at   time.Time
					}{d.Caller, d.Rule, at})
				}
			}
			for kind, n := range tt.want {
				if got[kind] != n {
					t.Errorf("%s callers got %d texts, want %d (verdicts %v)", kind, got[kind], n, reasons[kind])
				}
			}
			if n := reasons["premium"][rules.PremiumRate]; n != 40 {
				t.Errorf("%d of 40 premium-rate calls refused as premium_rate (verdicts %v)", n, reasons["premium"])
			}
			if n := reasons["foreign"][rules.CountryNotAllowed]; n != 80 {
				t.Errorf("%d of 80 foreign calls refused as country_not_allowed (verdicts %v)", n, reasons["foreign"])
			}
			t.Logf("200 calls, %d texts; verdicts %v", len(j.sent), reasons)
		})
	}
}
