package sms

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/textback/textback"
)

// listedText is one text a fake carrier lists.
type listedText struct {
	id, to, from, body string
	service            string // Twilio's messaging_service_sid
	created            time.Time
	inbound            bool
}

// carrierList is a loopback fake of one carrier's message list: check
// verifies request n (0-based) of a search for m since `since` as the
// carrier documents it; write answers page n, saying whether more follow.
type carrierList struct {
	name      string
	keepsBody bool
	build     func(t *testing.T, base string) Finder
	check     func(t *testing.T, r *http.Request, n int, m textback.Message, since time.Time)
	write     func(w http.ResponseWriter, n int, texts []listedText, more bool)
}

func wantQuery(t *testing.T, r *http.Request, want url.Values) {
	t.Helper()
	if got := r.URL.Query(); !reflect.DeepEqual(got, want) {
		t.Errorf("query = %v, want %v", got, want)
	}
}

func wantGet(t *testing.T, r *http.Request, path string, auth func(*http.Request) bool) {
	t.Helper()
	if r.Method != http.MethodGet || r.URL.Path != path {
		t.Errorf("request = %s %s, want GET %s", r.Method, r.URL.Path, path)
	}
	if !auth(r) {
		t.Errorf("Authorization %q is not the documented credentials", r.Header.Get("Authorization"))
	}
	if r.ContentLength > 0 {
		t.Errorf("a GET with a %d-byte body", r.ContentLength)
	}
}

// twilioList is Twilio's Read multiple Message resources, and SignalWire's
// List all messages, which has the same shape.
func twilioList(name, path string, auth func(*http.Request) bool, build func(t *testing.T, base string) Finder) carrierList {
	filters := func(m textback.Message) url.Values {
		return url.Values{"To": {string(m.To)}, "From": {testFrom}, "PageSize": {"100"}}
	}
	return carrierList{
		name: name, keepsBody: true, build: build,
		check: func(t *testing.T, r *http.Request, n int, m textback.Message, _ time.Time) {
			t.Helper()
			wantGet(t, r, path, auth)
			q := filters(m)
			if n > 0 { // the next_page_uri served below
				q.Set("Page", fmt.Sprint(n))
				q.Set("PageToken", fmt.Sprintf("PASM%032d", n))
			}
			wantQuery(t, r, q)
		},
		write: func(w http.ResponseWriter, n int, texts []listedText, more bool) {
			msgs := []map[string]any{}
			for _, x := range texts {
				dir := "outbound-api"
				if x.inbound {
					dir = "inbound"
				}
				var service any
				if x.service != "" {
					service = x.service
				}
				msgs = append(msgs, map[string]any{
					"account_sid": testSID, "api_version": "2010-04-01", "body": x.body,
					"date_created": x.created.Format(time.RFC1123Z), "date_sent": x.created.Add(time.Second).Format(time.RFC1123Z),
					"date_updated": x.created.Add(2 * time.Second).Format(time.RFC1123Z), "direction": dir,
					"error_code": nil, "error_message": nil, "from": x.from, "to": x.to, "sid": x.id,
					"messaging_service_sid": service, "num_media": "0", "num_segments": "1", "price": nil,
					"status": "delivered", "uri": path[:len(path)-len(".json")] + "/" + x.id + ".json",
				})
			}
			var next any
			if more {
				next = fmt.Sprintf("%s?To=%%2B13125550101&From=%%2B13125550199&PageSize=100&Page=%d&PageToken=PASM%032d", path, n+1, n+1)
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"first_page_uri": path + "?To=%2B13125550101&From=%2B13125550199&PageSize=100&Page=0",
				"next_page_uri":  next, "previous_page_uri": nil, "page": n, "page_size": 100,
				"start": n * 100, "end": n*100 + len(msgs) - 1, "uri": path, "messages": msgs,
			})
		},
	}
}

var carrierLists = []carrierList{
	twilioList("twilio", messagesP, basicIs(testSID, testToken), func(t *testing.T, base string) Finder {
		return must(NewTwilio(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: base}, nil))
	}),
	twilioList("signalwire", "/api/laml/2010-04-01/Accounts/"+swProject+"/Messages.json", basicIs(swProject, swToken), func(t *testing.T, base string) Finder {
		return must(NewSignalWire(SignalWireConfig{ProjectID: swProject, APIToken: swToken, From: testFrom, BaseURL: base}, nil))
	}),
	{
		name: "plivo",
		build: func(t *testing.T, base string) Finder {
			return must(NewPlivo(PlivoConfig{AuthID: plAuthID, AuthToken: plToken, From: "13125550199", BaseURL: base}, nil))
		},
		check: func(t *testing.T, r *http.Request, n int, m textback.Message, since time.Time) {
			t.Helper()
			wantGet(t, r, "/v1/Account/"+plAuthID+"/Message/", basicIs(plAuthID, plToken))
			wantQuery(t, r, url.Values{
				"message_direction": {"outbound"},
				"from_number":       {testFrom}, // E.164 although configured without the "+"
				"to_number":         {string(m.To)},
				"message_time__gte": {since.Add(-2 * time.Minute).UTC().Format("2006-01-02 15:04:05")},
				"message_time__lte": {since.Add(7 * time.Minute).UTC().Format("2006-01-02 15:04:05")},
				"limit":             {"20"},
				"offset":            {fmt.Sprint(20 * n)},
			})
		},
		write: func(w http.ResponseWriter, n int, texts []listedText, more bool) {
			objs := []map[string]any{}
			ist := time.FixedZone("IST", 5*3600+1800)  // Plivo's example answers in +05:30
			for i := len(texts); more && i < 20; i++ { // a page that says more follow is full
				texts = append(texts, listedText{id: fmt.Sprintf("filler-%d-%d", n, i), to: string(testTo), from: testFrom, created: time.Now().Add(-48 * time.Hour)})
			}
			for _, x := range texts {
				dir := "outbound"
				if x.inbound {
					dir = "inbound"
				}
				objs = append(objs, map[string]any{
					"error_code": "000", "from_number": x.from[1:], "to_number": x.to[1:],
					"message_direction": dir, "message_state": "delivered", "message_type": "sms",
					"message_time": x.created.In(ist).Format("2006-01-02 15:04:05.000000-07:00"),
					"message_uuid": x.id, "resource_uri": "/v1/Account/" + plAuthID + "/Message/" + x.id + "/",
					"total_amount": "0.00140", "total_rate": "0.00140", "units": 1,
				})
			}
			var next any
			if more {
				next = fmt.Sprintf("/v1/Account/%s/Message/?limit=20&offset=%d", plAuthID, 20*(n+1))
			}
			writeJSON(w, http.StatusOK, map[string]any{
				"api_id":  "40b5a864-5f0f-11e4-a2d1-22000ac5040c",
				"meta":    map[string]any{"limit": 20, "next": next, "offset": 20 * n, "previous": nil, "total_count": 20*n + len(objs)},
				"objects": objs,
			})
		},
	},
	{
		name: "bandwidth",
		build: func(t *testing.T, base string) Finder {
			return must(NewBandwidth(BandwidthConfig{AccountID: bwAccount, Username: bwUser, Password: bwPass, ApplicationID: bwApp, From: testFrom, BaseURL: base}, nil))
		},
		check: func(t *testing.T, r *http.Request, n int, m textback.Message, since time.Time) {
			t.Helper()
			wantGet(t, r, "/api/v2/users/"+bwAccount+"/messages", basicIs(bwUser, bwPass))
			q := url.Values{
				"sourceTn":      {testFrom},
				"destinationTn": {string(m.To)},
				"fromDateTime":  {since.Add(-2 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")},
				"toDateTime":    {since.Add(7 * time.Minute).UTC().Format("2006-01-02T15:04:05.000Z")},
				"limit":         {"100"},
			}
			if n > 0 {
				q.Set("pageToken", fmt.Sprintf("gdEewhcJLQRB5%d", n))
			}
			wantQuery(t, r, q)
		},
		write: func(w http.ResponseWriter, n int, texts []listedText, more bool) {
			msgs := []map[string]any{}
			for _, x := range texts {
				dir := "OUTBOUND"
				if x.inbound {
					dir = "INBOUND"
				}
				msgs = append(msgs, map[string]any{
					"messageId": x.id, "accountId": bwAccount, "sourceTn": x.from, "destinationTn": x.to,
					"messageStatus": "DELIVERED", "messageDirection": dir, "messageType": "sms", "segmentCount": 1,
					"errorCode": 0, "receiveTime": x.created.UTC().Format("2006-01-02T15:04:05.000Z"), "carrierName": "other",
					"messageSize": 27, "messageLength": len(x.body), "attachmentCount": 0, "recipientCount": 1, "campaignClass": "T",
				})
			}
			info := map[string]any{}
			if n > 0 {
				info["prevPageToken"] = fmt.Sprintf("gdEewhcJLQRB5%d", n-1)
			}
			if more {
				info["nextPageToken"] = fmt.Sprintf("gdEewhcJLQRB5%d", n+1)
			}
			writeJSON(w, http.StatusOK, map[string]any{"totalCount": 100*n + len(msgs), "pageInfo": info, "messages": msgs})
		},
	},
}

// listServer serves pages (the last one says no more follow, unless
// endless), checking every request; answer, if set, replaces the pages.
type listServer struct {
	mu    sync.Mutex
	n     int
	pages [][]listedText
}

func (c carrierList) serve(t *testing.T, m textback.Message, since time.Time, pages [][]listedText, endless bool, answer http.HandlerFunc) (Finder, *listServer) {
	s := &listServer{pages: pages}
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := s.n
		s.n++
		s.mu.Unlock()
		c.check(t, r, n, m, since)
		if answer != nil {
			answer(w, r)
			return
		}
		var texts []listedText
		if n < len(pages) {
			texts = pages[n]
		}
		c.write(w, n, texts, endless || n < len(pages)-1)
	})
	return c.build(t, base), s
}

func (s *listServer) requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.n }

func TestFind(t *testing.T) {
	m := textback.Message{ID: 7, CallID: "1700000000.42", Rule: "default", To: testTo, Body: uniBody}
	since := time.Now().Add(-10 * time.Minute) // the window has passed
	ours := listedText{id: "ours", to: string(testTo), from: testFrom, body: uniBody, created: since.Add(3 * time.Second)}
	older := listedText{id: "older", to: string(testTo), from: testFrom, body: "yesterday's text", created: since.Add(-26 * time.Hour)}
	other := func(id string) listedText { o := older; o.id = id; return o }
	differs := ours
	differs.id, differs.body = "differs", "another text"
	early, late := ours, ours
	early.id, early.created = "early", since.Add(-3*time.Minute)
	late.id, late.created = "late", since.Add(8*time.Minute)
	inbound := ours
	inbound.id, inbound.inbound = "inbound", true

	for _, c := range carrierLists {
		t.Run(c.name, func(t *testing.T) {
			found := func(t *testing.T, l Lookup, err error, id string, checked bool) {
				t.Helper()
				if err != nil || !l.Found || l.Receipt != (textback.Receipt{Sender: c.name, ProviderID: id}) || l.BodyChecked != checked {
					t.Fatalf("Find = %+v, %v; want found %s/%s (body checked %v)", l, err, c.name, id, checked)
				}
				if !l.Created.Equal(since.Add(3*time.Second).Truncate(time.Second)) && !l.Created.Equal(since.Add(3*time.Second).Truncate(time.Millisecond)) && !l.Created.Equal(since.Add(3*time.Second).Truncate(time.Microsecond)) {
					t.Errorf("Created = %s, want %s", l.Created, since.Add(3*time.Second))
				}
				if l.Status == "" {
					t.Error("no Status")
				}
			}
			absent := func(t *testing.T, l Lookup, err error) {
				t.Helper()
				if err != nil || l != (Lookup{}) {
					t.Fatalf("Find = %+v, %v; want confirmed absent", l, err)
				}
			}
			failed := func(t *testing.T, l Lookup, err error) {
				t.Helper()
				if err == nil || l.Found {
					t.Fatalf("Find = %+v, %v; want an error", l, err)
				}
				for _, s := range secrets {
					if strings.Contains(err.Error(), s) {
						t.Errorf("error shows a secret: %v", err)
					}
				}
			}
			ctx := context.Background()

			t.Run("first page", func(t *testing.T) {
				f, s := c.serve(t, m, since, [][]listedText{{other("a"), ours}}, false, nil)
				l, err := f.Find(ctx, m, since)
				found(t, l, err, "ours", c.keepsBody)
				if s.requests() != 1 {
					t.Errorf("%d requests, want 1", s.requests())
				}
			})
			t.Run("later page", func(t *testing.T) {
				f, s := c.serve(t, m, since, [][]listedText{{other("a")}, {other("b")}, {other("c"), ours}}, false, nil)
				l, err := f.Find(ctx, m, since)
				found(t, l, err, "ours", c.keepsBody)
				if s.requests() != 3 {
					t.Errorf("%d requests, want 3", s.requests())
				}
			})
			t.Run("absent", func(t *testing.T) {
				f, s := c.serve(t, m, since, [][]listedText{{other("a"), early}, {other("b"), late, inbound}}, false, nil)
				l, err := f.Find(ctx, m, since)
				absent(t, l, err)
				if s.requests() != 2 {
					t.Errorf("%d requests, want 2", s.requests())
				}
			})
			t.Run("body differs", func(t *testing.T) {
				f, _ := c.serve(t, m, since, [][]listedText{{differs}}, false, nil)
				l, err := f.Find(ctx, m, since)
				if c.keepsBody {
					absent(t, l, err)
				} else { // no text to compare: the numbers and the time match
					if err != nil || !l.Found || l.BodyChecked || l.Receipt.ProviderID != "differs" {
						t.Fatalf("Find = %+v, %v; want found on numbers and time, body unchecked", l, err)
					}
				}
			})
			t.Run("too many pages", func(t *testing.T) {
				f, s := c.serve(t, m, since, [][]listedText{{other("a")}}, true, nil)
				l, err := f.Find(ctx, m, since)
				failed(t, l, err)
				if s.requests() != maxFindPages {
					t.Errorf("%d requests, want %d", s.requests(), maxFindPages)
				}
			})
			t.Run("too soon", func(t *testing.T) {
				recent := time.Now().Add(-time.Minute)
				f, _ := c.serve(t, m, recent, [][]listedText{{}}, false, nil)
				l, err := f.Find(ctx, m, recent)
				failed(t, l, err)
				if !errors.Is(err, ErrTooSoon) {
					t.Errorf("err = %v, want ErrTooSoon", err)
				}
			})
			for _, e := range []struct {
				name   string
				answer http.HandlerFunc
				check  func(t *testing.T, err error)
			}{
				{"5xx", func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "down for maintenance"})
				}, nil},
				{"malformed JSON", func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprint(w, `{"messages": [`)
				}, nil},
				{"not a list", func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
				}, nil},
				{"429", func(w http.ResponseWriter, _ *http.Request) {
					w.Header().Set("Retry-After", "30")
					writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": "too many requests"})
				}, func(t *testing.T, err error) {
					var re *textback.RetryError
					if !errors.As(err, &re) || re.After != 30*time.Second {
						t.Errorf("err = %v, want a RetryError after 30s", err)
					}
				}},
				{"401", func(w http.ResponseWriter, _ *http.Request) {
					writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Authenticate"})
				}, func(t *testing.T, err error) {
					if !strings.Contains(err.Error(), "authentication failed") {
						t.Errorf("err = %v, want it to say authentication failed", err)
					}
				}},
			} {
				t.Run(e.name, func(t *testing.T) {
					f, _ := c.serve(t, m, since, nil, false, e.answer)
					l, err := f.Find(ctx, m, since)
					failed(t, l, err)
					if e.check != nil {
						e.check(t, err)
					}
				})
			}
			t.Run("refused", func(t *testing.T) {
				base := serve(t, func(http.ResponseWriter, *http.Request) { t.Error("a request for a message Find refuses") })
				f := c.build(t, base)
				for _, bad := range []textback.Message{{To: testTo}, {Body: "hi"}} {
					l, err := f.Find(ctx, bad, since)
					failed(t, l, err)
				}
				l, err := f.Find(ctx, m, time.Time{})
				failed(t, l, err)
			})
		})
	}
}

// TestFindTwilioService: with a Messaging Service and no From, Twilio picks
// the sender, so the list is filtered by To alone and the service must match.
func TestFindTwilioService(t *testing.T) {
	m := textback.Message{CallID: "1", To: testTo, Body: "Sorry we missed you"}
	since := time.Now().Add(-10 * time.Minute)
	at := since.Add(time.Second).Format(time.RFC1123Z)
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		wantGet(t, r, messagesP, basicIs(testSID, testToken))
		wantQuery(t, r, url.Values{"To": {string(testTo)}, "PageSize": {"100"}})
		writeJSON(w, http.StatusOK, map[string]any{"next_page_uri": nil, "messages": []map[string]any{
			{"sid": "SMother", "to": string(testTo), "from": "+13125550111", "body": m.Body, "direction": "outbound-api",
				"date_created": at, "status": "sent", "messaging_service_sid": "MGdddddddddddddddddddddddddddddddd"},
			{"sid": "SMours", "to": string(testTo), "from": "+13125550122", "body": m.Body, "direction": "outbound-api",
				"date_created": at, "status": "queued", "messaging_service_sid": testService},
		}})
	})
	tw := must(NewTwilio(TwilioConfig{AccountSID: testSID, AuthToken: testToken, MessagingServiceSID: testService, BaseURL: base}, nil))
	l, err := tw.Find(context.Background(), m, since)
	if err != nil || !l.Found || l.Receipt.ProviderID != "SMours" || l.Status != "queued" || !l.BodyChecked {
		t.Fatalf("Find = %+v, %v; want SMours, queued", l, err)
	}
}

// TestFindTwilioNextPage: a next_page_uri that is not a path on the API's
// host is not followed with the credentials.
func TestFindTwilioNextPage(t *testing.T) {
	m := textback.Message{CallID: "1", To: testTo, Body: "hi"}
	n := 0
	base := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n++
		writeJSON(w, http.StatusOK, map[string]any{"next_page_uri": "//elsewhere.example/steal", "messages": []any{}})
	})
	tw := must(NewTwilio(TwilioConfig{AccountSID: testSID, AuthToken: testToken, From: testFrom, BaseURL: base}, nil))
	if l, err := tw.Find(context.Background(), m, time.Now().Add(-time.Hour)); err == nil || l.Found || n != 1 {
		t.Fatalf("Find = %+v, %v after %d requests; want an error after 1", l, err, n)
	}
}

// finderStub is a sender that can find, from a script.
type finderStub struct {
	scripted
	l     Lookup
	err   error
	asked int
}

func (f *finderStub) Find(context.Context, textback.Message, time.Time) (Lookup, error) {
	f.asked++
	return f.l, f.err
}

func TestFindDecorators(t *testing.T) {
	ctx := context.Background()
	m := textback.Message{CallID: "1", To: testTo, Body: "hi"}
	since := time.Now().Add(-time.Hour)
	hit := Lookup{Found: true, Receipt: textback.Receipt{Sender: "twilio", ProviderID: "SM1"}, Status: "sent", BodyChecked: true}

	for name, wrap := range map[string]func(textback.Sender) textback.Sender{
		"limited":  func(s textback.Sender) textback.Sender { return Limited(s, 1, 1) },
		"remember": func(s textback.Sender) textback.Sender { return Remember(s, time.Hour) },
	} {
		t.Run(name, func(t *testing.T) {
			in := &finderStub{l: hit}
			d := wrap(in)
			if !CanFind(d) {
				t.Error("CanFind of a wrapped finder is false")
			}
			if l, err := d.(Finder).Find(ctx, m, since); err != nil || l != hit || in.asked != 1 {
				t.Errorf("Find = %+v, %v (asked %d); want the wrapped finder's answer", l, err, in.asked)
			}
			d = wrap(&scripted{})
			if CanFind(d) {
				t.Error("CanFind of a wrapped plain sender is true")
			}
			if _, err := d.(Finder).Find(ctx, m, since); !errors.Is(err, ErrCannotFind) {
				t.Errorf("err = %v, want ErrCannotFind", err)
			}
		})
	}

	boom := errors.New("boom")
	for _, c := range []struct {
		name    string
		senders []textback.Sender // a *finderStub or a plain sender
		want    Lookup            // Sender as named below
		wantErr error             // nil: none; else errors.Is
		asked   []int             // per finder
	}{
		{"second has it", []textback.Sender{&finderStub{}, &finderStub{l: hit}}, Lookup{Found: true, Receipt: textback.Receipt{Sender: "s1", ProviderID: "SM1"}, Status: "sent", BodyChecked: true}, nil, []int{1, 1}},
		{"first has it", []textback.Sender{&finderStub{l: hit}, &finderStub{}}, Lookup{Found: true, Receipt: textback.Receipt{Sender: "s0", ProviderID: "SM1"}, Status: "sent", BodyChecked: true}, nil, []int{1, 0}},
		{"all absent", []textback.Sender{&finderStub{}, &finderStub{}}, Lookup{}, nil, []int{1, 1}},
		{"one cannot find", []textback.Sender{&finderStub{}, &scripted{}}, Lookup{}, ErrCannotFind, []int{1}},
		{"one failed", []textback.Sender{&finderStub{err: boom}, &finderStub{}}, Lookup{}, boom, []int{1, 1}},
		{"one failed, other has it", []textback.Sender{&finderStub{err: boom}, &finderStub{l: hit}}, Lookup{Found: true, Receipt: textback.Receipt{Sender: "s1", ProviderID: "SM1"}, Status: "sent", BodyChecked: true}, nil, []int{1, 1}},
		{"too soon", []textback.Sender{&finderStub{err: ErrTooSoon}, &finderStub{}}, Lookup{}, ErrTooSoon, []int{1, 1}},
		{"none can find", []textback.Sender{&scripted{}}, Lookup{}, ErrCannotFind, nil},
	} {
		t.Run("failover "+c.name, func(t *testing.T) {
			var ns []NamedSender
			var stubs []*finderStub
			for i, s := range c.senders {
				ns = append(ns, NamedSender{Name: fmt.Sprintf("s%d", i), Sender: s})
				if f, ok := s.(*finderStub); ok {
					stubs = append(stubs, f)
				}
			}
			fo := Failover(ns...)
			if got, want := CanFind(fo), len(stubs) > 0; got != want {
				t.Errorf("CanFind = %v, want %v", got, want)
			}
			l, err := fo.Find(ctx, m, since)
			if c.wantErr == nil && err != nil || c.wantErr != nil && !errors.Is(err, c.wantErr) || l != c.want {
				t.Errorf("Find = %+v, %v; want %+v, %v", l, err, c.want, c.wantErr)
			}
			for i, f := range stubs {
				if f.asked != c.asked[i] {
					t.Errorf("finder %d asked %d times, want %d", i, f.asked, c.asked[i])
				}
			}
		})
	}
	if _, err := Failover().Find(ctx, m, since); err == nil {
		t.Error("Find on an empty failover succeeded")
	}
}
