package rules_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

// noTexts is a History in which nobody has been texted yet.
type noTexts struct{}

func (noTexts) LastTexted(context.Context, textback.Number) (time.Time, bool, error) {
	return time.Time{}, false, nil
}
func (noTexts) OptedOut(context.Context, textback.Number) (bool, error)    { return false, nil }
func (noTexts) CountTexts(context.Context, string, time.Time) (int, error) { return 0, nil }

func ExamplePolicy_Decide() {
	p, err := rules.New(rules.Config{
		Region:   "US",
		MinRings: 2,
		From:     "+12125550199",
		Business: "Acme Plumbing",
		Rules: []rules.Rule{{
			Name:    "main line",
			DIDs:    []string{"(212) 555-0100"},
			Message: "Hi, this is {business}. Sorry we missed your call to {did}; reply here and we'll get right back to you.",
		}},
	})
	if err != nil {
		log.Fatal(err)
	}

	now := time.Date(2025, 3, 3, 9, 30, 0, 0, time.UTC)
	missed := textback.Call{
		ID:        "1741000000.42",
		Direction: textback.Inbound,
		Outcome:   textback.NoAnswer,
		CallerNum: "3125550101",
		DID:       "+12125550100",
		Rang:      30 * time.Second,
	}
	d, err := p.Decide(context.Background(), missed, now, noTexts{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(d.Reason, "-", d.Detail)
	fmt.Println(d.Message.To, "from", d.Message.From+":", d.Message.Body)

	hungUp := missed
	hungUp.Outcome, hungUp.Rang = textback.Abandoned, 4*time.Second
	d, _ = p.Decide(context.Background(), hungUp, now, noTexts{})
	fmt.Println(d.Reason, "-", d.Detail)
	// Output:
	// send - no_answer, rang 5 times (30s)
	// +13125550101 from +12125550199: Hi, this is Acme Plumbing. Sorry we missed your call to (212) 555-0100; reply here and we'll get right back to you.
	// too_few_rings - rang 1 time (4s), fewer than min_rings 2
}
