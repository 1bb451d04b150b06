package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

// cdrTimeLayout is how Asterisk's cdr_csv and FreeSWITCH's mod_cdr_csv
// write times: the PBX's local time, without a zone.
const cdrTimeLayout = "2006-01-02 15:04:05"

// readCDR reads a CDR file into finished calls, in the order they started:
// Asterisk's Master.csv (cdr_csv: accountcode, src, dst, dcontext, clid,
// channel, dstchannel, lastapp, lastdata, start, answer, end, duration,
// billsec, disposition, amaflags, uniqueid, userfield, and with
// newcdrcolumns peeraccount, linkedid, sequence) or FreeSWITCH's
// mod_cdr_csv with its default template (caller_id_name, caller_id_number,
// destination_number, context, start_stamp, answer_stamp, end_stamp,
// duration, billsec, hangup_cause, uuid, bleg_uuid, accountcode, …). The
// format is told by where the first time stands. Times are read in loc.
//
// Asterisk writes a row per dial attempt; rows of one call share a linkedid
// (or, without it, the caller channel's uniqueid) and are joined: the call
// was answered if any row was answered by something other than VoiceMail.
// Every call counts as inbound: a CDR does not say reliably which came from
// a trunk, and calls from extensions are refused by the caller checks.
func readCDR(r io.Reader, loc *time.Location) ([]textback.Call, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.LazyQuotes = true
	var calls []textback.Call
	index := map[string]int{}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("cdr: %w", err)
		}
		if len(rec) == 0 || (len(rec) == 1 && strings.TrimSpace(rec[0]) == "") {
			continue
		}
		var c textback.Call
		var key string
		switch {
		case len(rec) >= 16 && isCDRTime(rec[9]):
			c, key, err = asteriskRow(rec, loc)
		case len(rec) >= 10 && isCDRTime(rec[4]):
			c, key, err = freeswitchRow(rec, loc)
		case line == 1:
			continue // a header line
		default:
			err = errors.New("neither an Asterisk Master.csv row (start in column 10) nor a FreeSWITCH cdr_csv row (start in column 5)")
		}
		if err != nil {
			return nil, fmt.Errorf("cdr: line %d: %w", line, err)
		}
		if key == "" {
			key = fmt.Sprintf("line-%d", line)
		}
		c.ID = textback.CallID("cdr-" + key)
		if i, ok := index[key]; ok {
			calls[i] = joinCDR(calls[i], c)
			continue
		}
		index[key] = len(calls)
		calls = append(calls, c)
	}
	return calls, nil
}

func isCDRTime(s string) bool {
	_, err := time.Parse(cdrTimeLayout, strings.TrimSpace(s))
	return err == nil
}

// cdrTime reads a time, or the zero time for an empty field (a call never
// answered).
func cdrTime(s string, loc *time.Location) (time.Time, error) {
	if s = strings.TrimSpace(s); s == "" {
		return time.Time{}, nil
	}
	t, err := time.ParseInLocation(cdrTimeLayout, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want %s", s, cdrTimeLayout)
	}
	return t, nil
}

// cdrTimes reads start, answer and end, and the ringing time: until the
// answer, or the whole call when it was not answered.
func cdrTimes(start, answer, end string, loc *time.Location) (s, a, e time.Time, rang time.Duration, err error) {
	if s, err = cdrTime(start, loc); err == nil {
		if a, err = cdrTime(answer, loc); err == nil {
			e, err = cdrTime(end, loc)
		}
	}
	if err != nil {
		return
	}
	if e.IsZero() {
		e = s
	}
	switch {
	case !a.IsZero():
		rang = a.Sub(s)
	default:
		rang = e.Sub(s)
	}
	return s, a, e, max(rang, 0), nil
}

// outcomeRank orders the outcomes of a call's rows: the highest wins.
var outcomeRank = map[textback.Outcome]int{
	textback.Unavailable: 1, textback.Abandoned: 2, textback.NoAnswer: 3, textback.Busy: 4,
	textback.Voicemail: 5, textback.Answered: 6,
}

func asteriskRow(rec []string, loc *time.Location) (textback.Call, string, error) {
	s, _, e, rang, err := cdrTimes(rec[9], rec[10], rec[11], loc)
	if err != nil {
		return textback.Call{}, "", err
	}
	var o textback.Outcome
	switch disp := strings.ToUpper(strings.TrimSpace(rec[14])); disp {
	case "ANSWERED":
		o = textback.Answered
		if strings.EqualFold(strings.TrimSpace(rec[7]), "VoiceMail") {
			o = textback.Voicemail
		}
	case "NO ANSWER":
		o = textback.NoAnswer
	case "BUSY":
		o = textback.Busy
	case "FAILED", "CONGESTION":
		o = textback.Unavailable
	default:
		return textback.Call{}, "", fmt.Errorf("disposition %q: want ANSWERED, NO ANSWER, BUSY, FAILED or CONGESTION", disp)
	}
	key := ""
	switch {
	case len(rec) >= 20 && rec[19] != "":
		key = rec[19] // linkedid
	case len(rec) >= 17:
		key = rec[16] // uniqueid
	}
	return textback.Call{
		Source: "cdr", Direction: textback.Inbound, Outcome: o,
		CallerNum: rec[1], DID: rec[2], Context: rec[3],
		Started: s, Ended: e, Rang: rang, Decided: e,
	}, strings.TrimSpace(key), nil
}

func freeswitchRow(rec []string, loc *time.Location) (textback.Call, string, error) {
	s, a, e, rang, err := cdrTimes(rec[4], rec[5], rec[6], loc)
	if err != nil {
		return textback.Call{}, "", err
	}
	o := textback.Answered
	if a.IsZero() {
		switch cause := strings.ToUpper(strings.TrimSpace(rec[9])); cause {
		case "USER_BUSY":
			o = textback.Busy
		case "NO_ANSWER", "NO_USER_RESPONSE", "ALLOTTED_TIMEOUT":
			o = textback.NoAnswer
		case "ORIGINATOR_CANCEL":
			o = textback.Abandoned
		default:
			o = textback.Unavailable
		}
	}
	key := ""
	if len(rec) > 10 {
		key = strings.TrimSpace(rec[10]) // uuid
	}
	return textback.Call{
		Source: "cdr", Direction: textback.Inbound, Outcome: o,
		CallerNum: rec[1], DID: rec[2], Context: rec[3],
		Started: s, Ended: e, Rang: rang, Decided: e,
	}, key, nil
}

// joinCDR joins a further row of a call into it.
func joinCDR(c, row textback.Call) textback.Call {
	if outcomeRank[row.Outcome] > outcomeRank[c.Outcome] {
		c.Outcome = row.Outcome
	}
	if row.Ended.After(c.Ended) {
		c.Ended, c.Decided = row.Ended, row.Ended
	}
	c.Rang = max(c.Rang, row.Rang)
	return c
}

// memHistory is a History for a replay: the texts the replay would have
// sent, over the store's opt-outs and texts (base).
type memHistory struct {
	base  rules.History
	mu    sync.Mutex
	texts []textback.Message
	at    []time.Time
}

func (h *memHistory) add(m textback.Message, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.texts, h.at = append(h.texts, m), append(h.at, at)
}

func (h *memHistory) LastTexted(ctx context.Context, to textback.Number) (time.Time, bool, error) {
	last, ok, err := h.base.LastTexted(ctx, to)
	if err != nil {
		return last, ok, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.texts {
		if m.To == to && (!ok || h.at[i].After(last)) {
			last, ok = h.at[i], true
		}
	}
	return last, ok, nil
}

func (h *memHistory) OptedOut(ctx context.Context, n textback.Number) (bool, error) {
	return h.base.OptedOut(ctx, n)
}

func (h *memHistory) CountTexts(ctx context.Context, rule string, since time.Time) (int, error) {
	n, err := h.base.CountTexts(ctx, rule, since)
	if err != nil {
		return 0, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, m := range h.texts {
		if (rule == "" || m.Rule == rule) && !h.at[i].Before(since) {
			n++
		}
	}
	return n, nil
}

// cdrLine is one call of `simulate --cdr --json`.
type cdrLine struct {
	CallID    string     `json:"call_id"`
	Ended     time.Time  `json:"ended"`
	CallerRaw string     `json:"caller_raw"`
	DID       string     `json:"did"`
	Outcome   string     `json:"outcome"`
	Rang      float64    `json:"rang_seconds"`
	Send      bool       `json:"send"`
	Reason    string     `json:"reason"`
	Detail    string     `json:"detail,omitempty"`
	Rule      string     `json:"rule,omitempty"`
	To        string     `json:"to,omitempty"`
	From      string     `json:"from,omitempty"`
	Text      string     `json:"text,omitempty"`
	NotBefore *time.Time `json:"not_before,omitempty"`
}

// replayCDR puts each call through the policy, at the time it ended, and
// counts the texts it would have sent in h so cooldowns and caps apply
// across the file.
func replayCDR(ctx context.Context, pol *rules.Policy, calls []textback.Call, h *memHistory) ([]cdrLine, error) {
	var out []cdrLine
	for _, c := range calls {
		dec, err := pol.Decide(ctx, c, c.Ended, h)
		if err != nil {
			return nil, err
		}
		l := cdrLine{
			CallID: string(c.ID), Ended: c.Ended, CallerRaw: c.CallerNum, DID: c.DID, Outcome: string(c.Outcome),
			Rang: c.Rang.Seconds(), Send: dec.Send, Reason: string(dec.Reason), Detail: dec.Detail, Rule: dec.Rule,
		}
		if m := dec.Message; m != nil {
			h.add(*m, c.Ended)
			l.To, l.From, l.Text = string(m.To), string(m.From), m.Body
			if !m.NotBefore.IsZero() {
				nb := m.NotBefore
				l.NotBefore = &nb
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// parseTZ reads --tz: a tz database name, or "Local".
func parseTZ(s string) (*time.Location, error) {
	if s == "" || s == "Local" {
		return time.Local, nil
	}
	z, err := rules.LoadZone(s)
	if err != nil {
		return nil, err
	}
	return z.Location(), nil
}
