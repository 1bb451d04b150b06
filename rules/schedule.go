package rules

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The value types of this file parse themselves (UnmarshalText), so a
// configuration decoder reports a bad value with its line and column.

const (
	minutesPerDay  = 24 * 60
	minutesPerWeek = 7 * minutesPerDay
)

// Zone is a time zone of the tz database, "America/New_York". The zero Zone
// is none. The program must embed the database (import _ "time/tzdata")
// for a server without one.
type Zone struct {
	loc *time.Location
}

// LoadZone loads a zone by its tz database name. "Local" and "" are refused:
// a rule's hours must not change with the server's settings.
func LoadZone(name string) (Zone, error) {
	name = strings.TrimSpace(name)
	if name == "" || name == "Local" {
		return Zone{}, fmt.Errorf("time zone %q: want a tz database name such as \"America/New_York\"", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return Zone{}, fmt.Errorf("unknown time zone %q (want a tz database name such as \"America/New_York\")", name)
	}
	return Zone{loc}, nil
}

// UnmarshalText loads the zone named b.
func (z *Zone) UnmarshalText(b []byte) error {
	v, err := LoadZone(string(b))
	if err != nil {
		return err
	}
	*z = v
	return nil
}

// Location returns the zone, or nil for the zero Zone.
func (z Zone) Location() *time.Location { return z.loc }

// String is the zone's name, or "" for the zero Zone.
func (z Zone) String() string {
	if z.loc == nil {
		return ""
	}
	return z.loc.String()
}

// Clock is a time of day in minutes after midnight, 0 to 24*60 ("24:00" is
// the end of the day).
type Clock int

// ParseClock reads "8:00", "08:00", "17:30" or "24:00".
func ParseClock(s string) (Clock, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || len(h) < 1 || len(h) > 2 ||
		hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("invalid time of day %q (want HH:MM, 00:00 to 24:00)", s)
	}
	return Clock(hh*60 + mm), nil
}

// String writes the clock as "08:00".
func (c Clock) String() string { return fmt.Sprintf("%02d:%02d", int(c)/60, int(c)%60) }

// Span is a daily stretch of time, "21:00-08:00": one that ends before it
// starts runs past midnight. Quiet hours are a Span.
type Span struct {
	From, To Clock
}

// ParseSpan reads "HH:MM-HH:MM". An empty span ("09:00-09:00") is an error.
func ParseSpan(s string) (Span, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Span{}, fmt.Errorf("invalid time span %q (want e.g. \"21:00-08:00\")", s)
	}
	from, err := ParseClock(a)
	if err != nil {
		return Span{}, fmt.Errorf("time span %q: %w", s, err)
	}
	to, err := ParseClock(b)
	if err != nil {
		return Span{}, fmt.Errorf("time span %q: %w", s, err)
	}
	if from == to {
		return Span{}, fmt.Errorf("time span %q is empty", s)
	}
	if from == minutesPerDay {
		return Span{}, fmt.Errorf("time span %q starts at 24:00 (write 00:00)", s)
	}
	return Span{from, to}, nil
}

// UnmarshalText parses a Span.
func (s *Span) UnmarshalText(b []byte) error {
	v, err := ParseSpan(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// IsZero reports whether the span is unset.
func (s Span) IsZero() bool { return s == Span{} }

// String writes the span as "21:00-08:00".
func (s Span) String() string { return s.From.String() + "-" + s.To.String() }

// length is the span's length in minutes.
func (s Span) length() int {
	n := int(s.To) - int(s.From)
	if n <= 0 {
		n += minutesPerDay
	}
	return n
}

// contains reports whether the minute of the day m falls in the span.
func (s Span) contains(m int) bool {
	return (m-int(s.From)+minutesPerDay)%minutesPerDay < s.length()
}

// Hours is one line of a weekly schedule: days and a span of the day,
// "Mon-Fri 08:00-18:00", "Sat 09:00-13:00", "Sat,Sun 10:00-14:00",
// "Fri-Mon 20:00-02:00" or "daily 00:00-24:00". A span that ends before it
// starts runs into the next day and belongs to the day it starts on.
type Hours struct {
	Days [7]bool // Monday first
	Span Span
}

var (
	dayNames     = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
	fullDayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}
)

// dayIndex maps time.Weekday (Sunday 0) to Hours.Days (Monday 0).
func dayIndex(w time.Weekday) int { return (int(w) + 6) % 7 }

// ParseHours reads one schedule line.
func ParseHours(s string) (Hours, error) {
	fields := strings.Fields(s)
	if len(fields) != 2 {
		return Hours{}, fmt.Errorf("invalid hours %q (want days and times, e.g. \"Mon-Fri 08:00-18:00\")", s)
	}
	var h Hours
	if strings.EqualFold(fields[0], "daily") {
		for i := range h.Days {
			h.Days[i] = true
		}
	} else {
		for _, part := range strings.Split(fields[0], ",") {
			a, b, isRange := strings.Cut(part, "-")
			from, err := parseDay(a)
			if err != nil {
				return Hours{}, fmt.Errorf("hours %q: %w", s, err)
			}
			to := from
			if isRange {
				if to, err = parseDay(b); err != nil {
					return Hours{}, fmt.Errorf("hours %q: %w", s, err)
				}
			}
			for d := from; ; d = (d + 1) % 7 {
				h.Days[d] = true
				if d == to {
					break
				}
			}
		}
	}
	span, err := ParseSpan(fields[1])
	if err != nil {
		return Hours{}, fmt.Errorf("hours %q: %w", s, err)
	}
	h.Span = span
	return h, nil
}

func parseDay(s string) (int, error) {
	l := strings.ToLower(strings.TrimSpace(s))
	for i, n := range dayNames {
		if l == n || l == fullDayNames[i] {
			return i, nil
		}
	}
	return 0, fmt.Errorf("unknown day %q (want Mon, Tue, Wed, Thu, Fri, Sat or Sun)", s)
}

// UnmarshalText parses Hours.
func (h *Hours) UnmarshalText(b []byte) error {
	v, err := ParseHours(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// String writes the line back, days spelled out one by one.
func (h Hours) String() string {
	var days []string
	for i, on := range h.Days {
		if on {
			days = append(days, strings.ToUpper(dayNames[i][:1])+dayNames[i][1:])
		}
	}
	return strings.Join(days, ",") + " " + h.Span.String()
}

// Date is a calendar date, without a zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

func dateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

func (d Date) key() int { return d.Year*10000 + int(d.Month)*100 + d.Day }

// String writes the date as "2026-12-25".
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Holiday is a day or a range of days the business is closed, all day:
// "2026-12-25" or "2026-12-24..2026-12-26" (both ends included).
type Holiday struct {
	First, Last Date
}

// ParseHoliday reads a date or a range of dates.
func ParseHoliday(s string) (Holiday, error) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "..")
	first, err := parseDate(a)
	if err != nil {
		return Holiday{}, fmt.Errorf("holiday %q: %w", s, err)
	}
	last := first
	if isRange {
		if last, err = parseDate(b); err != nil {
			return Holiday{}, fmt.Errorf("holiday %q: %w", s, err)
		}
		if last.key() < first.key() {
			return Holiday{}, fmt.Errorf("holiday %q ends before it starts", s)
		}
	}
	return Holiday{first, last}, nil
}

func parseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q (want YYYY-MM-DD)", s)
	}
	return dateOf(t), nil
}

// UnmarshalText parses a Holiday.
func (h *Holiday) UnmarshalText(b []byte) error {
	v, err := ParseHoliday(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

// String writes the holiday as it is written in the configuration.
func (h Holiday) String() string {
	if h.First == h.Last {
		return h.First.String()
	}
	return h.First.String() + ".." + h.Last.String()
}

func (h Holiday) covers(d Date) bool { return h.First.key() <= d.key() && d.key() <= h.Last.key() }

// QuietAction is what happens to a text due in quiet hours.
type QuietAction string

// Quiet actions.
const (
	QuietDefer QuietAction = "defer" // queue it for the end of quiet hours (the default)
	QuietSkip  QuietAction = "skip"  // send none
	QuietSend  QuietAction = "send"  // send it anyway; the decision notes the quiet hours
)

// UnmarshalText accepts "send", "defer" and "skip".
func (a *QuietAction) UnmarshalText(b []byte) error {
	switch v := QuietAction(strings.ToLower(strings.TrimSpace(string(b)))); v {
	case QuietDefer, QuietSkip, QuietSend:
		*a = v
		return nil
	}
	return fmt.Errorf("unknown quiet action %q (want \"send\", \"defer\" or \"skip\")", b)
}

// schedule is a rule's business hours: weekly intervals in minutes of the
// week (Monday 00:00 is 0), read on the wall clock of the zone, and
// holidays. A time is open when it falls in an interval that did not start
// on a holiday and its own date is not a holiday. Wall clock arithmetic
// keeps DST simple: "08:00" is 08:00 on either side of a change.
type schedule struct {
	loc       *time.Location
	intervals [][2]int // [start, end), end may pass the end of the week
	holidays  []Holiday
}

// newSchedule builds a schedule and reports overlapping lines, which are
// legal (the union is open) but usually a typo.
func newSchedule(hours []Hours, holidays []Holiday, loc *time.Location) (*schedule, []string) {
	s := &schedule{loc: loc, holidays: holidays}
	owner := make([]int, 0)
	for i, h := range hours {
		for d, on := range h.Days {
			if on {
				start := d*minutesPerDay + int(h.Span.From)
				s.intervals = append(s.intervals, [2]int{start, start + h.Span.length()})
				owner = append(owner, i)
			}
		}
	}
	var warns []string
	seen := map[[2]int]bool{}
	for a := range s.intervals {
		for b := a + 1; b < len(s.intervals); b++ {
			if overlap(s.intervals[a], s.intervals[b]) && !seen[[2]int{owner[a], owner[b]}] {
				seen[[2]int{owner[a], owner[b]}] = true
				if owner[a] == owner[b] {
					warns = append(warns, fmt.Sprintf("hours[%d]: %q overlaps itself", owner[a], hours[owner[a]]))
				} else {
					warns = append(warns, fmt.Sprintf("hours[%d] and hours[%d] overlap", owner[a], owner[b]))
				}
			}
		}
	}
	slices.SortFunc(s.intervals, func(a, b [2]int) int { return a[0] - b[0] })
	return s, warns
}

func overlap(a, b [2]int) bool {
	for _, shift := range []int{-minutesPerWeek, 0, minutesPerWeek} {
		if a[0] < b[1]+shift && b[0]+shift < a[1] {
			return true
		}
	}
	return false
}

func (s *schedule) holiday(d Date) (Holiday, bool) {
	for _, h := range s.holidays {
		if h.covers(d) {
			return h, true
		}
	}
	return Holiday{}, false
}

// open reports whether t falls in business hours, and if not, why in words.
func (s *schedule) open(t time.Time) (bool, string) {
	lt := t.In(s.loc)
	today := dateOf(lt)
	if h, ok := s.holiday(today); ok {
		return false, fmt.Sprintf("holiday %s", h)
	}
	if len(s.intervals) == 0 {
		return true, ""
	}
	wm := dayIndex(lt.Weekday())*minutesPerDay + lt.Hour()*60 + lt.Minute()
	for _, iv := range s.intervals {
		for _, m := range []int{wm, wm + minutesPerWeek} {
			if iv[0] <= m && m < iv[1] {
				// The interval started this many days before today.
				back := m/minutesPerDay - iv[0]/minutesPerDay
				started := dateOf(time.Date(lt.Year(), lt.Month(), lt.Day()-back, 12, 0, 0, 0, s.loc))
				if h, ok := s.holiday(started); ok {
					return false, fmt.Sprintf("holiday %s", h)
				}
				return true, ""
			}
		}
	}
	return false, "outside hours"
}

// nextOpen returns the first opening after t: the start of an interval on a
// day that is not a holiday. ok is false when the schedule never opens in
// the coming year.
func (s *schedule) nextOpen(t time.Time) (time.Time, bool) {
	if len(s.intervals) == 0 {
		// Open all week: the day after the holiday t is in, if any.
		lt := t.In(s.loc)
		for i := 1; i <= 366; i++ {
			day := time.Date(lt.Year(), lt.Month(), lt.Day()+i, 0, 0, 0, 0, s.loc)
			if _, hol := s.holiday(dateOf(day)); !hol {
				return day, true
			}
		}
		return time.Time{}, false
	}
	lt := t.In(s.loc)
	for i := 0; i <= 366; i++ {
		noon := time.Date(lt.Year(), lt.Month(), lt.Day()+i, 12, 0, 0, 0, s.loc)
		if _, hol := s.holiday(dateOf(noon)); hol {
			continue
		}
		wd := dayIndex(noon.Weekday())
		for _, iv := range s.intervals { // sorted: the first that fits is the earliest
			if iv[0]/minutesPerDay != wd {
				continue
			}
			m := iv[0] % minutesPerDay
			at := time.Date(noon.Year(), noon.Month(), noon.Day(), m/60, m%60, 0, 0, s.loc)
			if at.After(t) {
				return at, true
			}
		}
	}
	return time.Time{}, false
}

// opensWords writes an opening time for a text: "Monday 8:00", with the
// date when it is a week or more away ("Monday 4 January 8:00").
func opensWords(at, now time.Time) string {
	clock := fmt.Sprintf("%d:%02d", at.Hour(), at.Minute())
	if at.Sub(now) >= 6*24*time.Hour {
		return fmt.Sprintf("%s %d %s %s", at.Weekday(), at.Day(), at.Month(), clock)
	}
	return at.Weekday().String() + " " + clock
}

// quietEnd returns the end of quiet span q after t, on the wall clock of loc.
func quietEnd(q Span, t time.Time, loc *time.Location) time.Time {
	lt := t.In(loc)
	end := int(q.To) % minutesPerDay
	at := time.Date(lt.Year(), lt.Month(), lt.Day(), end/60, end%60, 0, 0, loc)
	if !at.After(t) {
		at = time.Date(lt.Year(), lt.Month(), lt.Day()+1, end/60, end%60, 0, 0, loc)
	}
	return at
}
