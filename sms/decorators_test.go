package sms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/textback/textback"
)

// scripted is a sender that answers from a script and counts its sends.
type scripted struct {
	mu    sync.Mutex
	errs  []error // per send, in turn; nil: success
	sent  []time.Time
	ready bool
}

func (s *scripted) Send(ctx context.Context, m textback.Message) (textback.Receipt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, time.Now())
	var err error
	if len(s.errs) > 0 {
		err, s.errs = s.errs[0], s.errs[1:]
	}
	if err != nil {
		return textback.Receipt{}, err
	}
	return textback.Receipt{Sender: "inner", ProviderID: fmt.Sprint(len(s.sent))}, nil
}

func (s *scripted) Ready() bool { return s.ready }

func (s *scripted) n() int { s.mu.Lock(); defer s.mu.Unlock(); return len(s.sent) }

func TestLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := &scripted{}
		l := Limited(in, 2, 1) // one every 500ms
		start := time.Now()
		for range 5 {
			if _, err := l.Send(context.Background(), msg(testTo, "hi")); err != nil {
				t.Fatal(err)
			}
		}
		for i, at := range in.sent {
			if want := time.Duration(i) * 500 * time.Millisecond; at.Sub(start) != want {
				t.Errorf("send %d at +%s, want +%s", i, at.Sub(start), want)
			}
		}
		// It waits rather than drops, and gives up when ctx does.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, err := l.Send(ctx, msg(testTo, "hi")); err == nil {
			t.Error("Send beyond the rate with a short ctx succeeded")
		}
		if in.n() != 5 {
			t.Errorf("%d sends, want 5", in.n())
		}
	})
}

func TestRemember(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := fmt.Errorf("twilio: send: %w: landline", ErrBadNumber)
		in := &scripted{errs: []error{bad, nil, errors.New("transient"), nil}}
		r := Remember(in, time.Hour)
		if _, err := r.Send(context.Background(), msg(testTo, "hi")); !errors.Is(err, ErrBadNumber) {
			t.Fatalf("first Send = %v", err)
		}
		time.Sleep(59 * time.Minute)
		_, err := r.Send(context.Background(), msg(testTo, "hi"))
		if !errors.Is(err, ErrRememberedFailure) || !errors.Is(err, textback.ErrUndeliverable) || in.n() != 1 {
			t.Errorf("Send within the TTL = %v after %d sends, want ErrRememberedFailure and no send", err, in.n())
		}
		if _, err := r.Send(context.Background(), msg("+13125550102", "hi")); err != nil {
			t.Errorf("another number: %v", err)
		}
		time.Sleep(time.Minute)
		if _, err := r.Send(context.Background(), msg(testTo, "hi")); err == nil || errors.Is(err, ErrRememberedFailure) {
			t.Errorf("Send after the TTL = %v, want it tried (transient)", err)
		}
		// A transient failure is not remembered.
		if _, err := r.Send(context.Background(), msg(testTo, "hi")); err != nil || in.n() != 4 {
			t.Errorf("Send = %v after %d sends, want success on the 4th", err, in.n())
		}
	})
}

func TestFailover(t *testing.T) {
	transient := errors.New("connection refused")
	unconfirmed := fmt.Errorf("twilio: %w: timeout", textback.ErrUnconfirmed)
	permanent := fmt.Errorf("twilio: %w: invalid", ErrBadNumber)
	for name, tt := range map[string]struct {
		a, b       *scripted
		wantSender string
		wantErr    error
		na, nb     int
	}{
		"first takes it":         {a: &scripted{ready: true}, b: &scripted{ready: true}, wantSender: "modem", na: 1},
		"falls over transient":   {a: &scripted{ready: true, errs: []error{transient}}, b: &scripted{ready: true}, wantSender: "twilio", na: 1, nb: 1},
		"skips a down sender":    {a: &scripted{ready: false}, b: &scripted{ready: true}, wantSender: "twilio", nb: 1},
		"unconfirmed stops":      {a: &scripted{ready: true, errs: []error{unconfirmed}}, b: &scripted{ready: true}, wantErr: textback.ErrUnconfirmed, na: 1},
		"permanent stops":        {a: &scripted{ready: true, errs: []error{permanent}}, b: &scripted{ready: true}, wantErr: ErrBadNumber, na: 1},
		"all fail":               {a: &scripted{ready: true, errs: []error{transient}}, b: &scripted{ready: true, errs: []error{transient}}, wantErr: transient, na: 1, nb: 1},
		"all down: tries anyway": {a: &scripted{ready: false}, b: &scripted{ready: false}, wantSender: "modem", na: 1},
		"unconfirmed after fallover": {a: &scripted{ready: true, errs: []error{transient}}, b: &scripted{ready: true, errs: []error{unconfirmed}},
			wantErr: textback.ErrUnconfirmed, na: 1, nb: 1},
	} {
		t.Run(name, func(t *testing.T) {
			f := Failover(NamedSender{Name: "modem", Sender: tt.a}, NamedSender{Name: "twilio", Sender: Limited(tt.b, 0, 1)})
			rc, err := f.Send(context.Background(), msg(testTo, "hi"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || rc.Sender != tt.wantSender {
				t.Errorf("Send = %+v, %v; want sent by %s", rc, err, tt.wantSender)
			}
			if tt.a.n() != tt.na || tt.b.n() != tt.nb {
				t.Errorf("sends = %d, %d; want %d, %d", tt.a.n(), tt.b.n(), tt.na, tt.nb)
			}
		})
	}
}

// A sender that failed transiently is passed over for the cooldown, then
// tried first again; an explicit Ready func overrides the sender's own.
func TestFailoverCooldown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := &scripted{ready: true, errs: []error{errors.New("no signal")}}
		b := &scripted{ready: true}
		f := Failover(NamedSender{Name: "modem", Sender: a}, NamedSender{Name: "twilio", Sender: b})
		for i, want := range []string{"twilio", "twilio"} {
			if rc, err := f.Send(context.Background(), msg(testTo, "hi")); err != nil || rc.Sender != want {
				t.Fatalf("send %d = %+v, %v; want %s", i, rc, err, want)
			}
		}
		if a.n() != 1 {
			t.Errorf("modem tried %d times within the cooldown, want 1", a.n())
		}
		time.Sleep(defaultCooldown)
		if rc, _ := f.Send(context.Background(), msg(testTo, "hi")); rc.Sender != "modem" {
			t.Errorf("after the cooldown sent by %s, want modem", rc.Sender)
		}
		down := Failover(NamedSender{Name: "modem", Sender: a, Ready: func() bool { return false }}, NamedSender{Name: "twilio", Sender: b})
		if rc, _ := down.Send(context.Background(), msg(testTo, "hi")); rc.Sender != "twilio" {
			t.Errorf("with Ready false sent by %s, want twilio", rc.Sender)
		}
	})
}
