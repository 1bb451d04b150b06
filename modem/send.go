package modem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/textback/textback"
	"github.com/warthog618/modem/at"
)

// ErrUnconfirmed marks a text handed to the modem (the PDU and its Ctrl-Z
// written) whose answer never came: it may have been sent. It is
// textback.ErrUnconfirmed, so the outbox never retries it.
var ErrUnconfirmed = textback.ErrUnconfirmed

// Send texts m.Body to m.To through the modem Run holds, waiting up to
// RegisterWait for one that is connected and registered. m.From is ignored:
// a modem sends from its SIM's number.
//
// The receipt's ProviderID is the message reference the modem gave each
// part, comma-separated, then the modem's name and the time in Unix
// milliseconds ("17@stick/1741000000000" or "17,18,19@stick/…"): status
// reports (Sink.Delivery) name the text by it. Errors: permanent +CMS ERROR
// causes (see cmsCauses), a bad number and an unconfirmed hand-over wrap
// textback.ErrUndeliverable; everything else, a missing or unregistered
// modem included, is transient. When some parts of a long text went out
// before a transient failure, a retry of the same message (same ID) resumes
// with the next part.
func (m *Modem) Send(ctx context.Context, msg textback.Message) (textback.Receipt, error) {
	op := fmt.Sprintf("modem %s: send for call %s", m.name, msg.CallID)
	to := string(msg.To)
	switch {
	case to == "":
		return textback.Receipt{}, fmt.Errorf("%s: %w: no recipient", op, textback.ErrUndeliverable)
	case msg.Body == "":
		return textback.Receipt{}, fmt.Errorf("%s: %w: empty body", op, textback.ErrUndeliverable)
	case !digits(strings.TrimPrefix(to, "+")) || len(to) > 21:
		return textback.Receipt{}, fmt.Errorf("%s: %w: %s is not a phone number", op, textback.ErrUndeliverable, msg.To.Masked())
	}
	select {
	case m.sendSem <- struct{}{}:
	case <-ctx.Done():
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	defer func() { <-m.sendSem }()

	s, err := m.waitReady(ctx)
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w", op, err)
	}
	p, err := m.plan(msg, s.textMode)
	if err != nil {
		return textback.Receipt{}, fmt.Errorf("%s: %w: %w", op, textback.ErrUndeliverable, err)
	}
	for p.next < len(p.parts) {
		i := p.next
		// The first part may wait for ctx's deadline; once a part is out,
		// the rest go out whatever ctx says, each within SendTimeout.
		to := m.cfg.SendTimeout
		if i == 0 {
			to = timeout(ctx, to)
		}
		mr, err := s.sendPart(p.parts[i], to)
		if err != nil {
			where := ""
			if len(p.parts) > 1 {
				where = fmt.Sprintf(" part %d of %d", i+1, len(p.parts))
			}
			err = fmt.Errorf("%s%s: %w", op, where, err)
			var ce *CMSError
			if errors.As(err, &ce) && ce.Code == 331 {
				m.setUnregistered()
			}
			m.mu.Lock()
			if errors.Is(err, textback.ErrUndeliverable) || i == 0 || msg.ID == 0 {
				delete(m.progress, msg.ID)
			} else {
				p.at = time.Now()
				m.progress[msg.ID] = p
				err = fmt.Errorf("%w (parts 1-%d went out; a retry resumes at part %d)", err, i, i+1)
			}
			m.mu.Unlock()
			return textback.Receipt{}, err
		}
		p.mrs = append(p.mrs, mr)
		p.next++
	}
	// The message references alone recur every 256 parts; the store finds a
	// delivery report's text by this id, so it names the modem and the time.
	id := fmt.Sprintf("%s@%s/%d", strings.Join(p.mrs, ","), m.name, time.Now().UnixMilli())
	m.mu.Lock()
	delete(m.progress, msg.ID)
	if !s.textMode && !m.cfg.NoDeliveryReports {
		m.awaitReportsLocked(id, string(msg.To), p.mrs)
	}
	m.mu.Unlock()
	m.log.InfoContext(ctx, "sms sent", "call_id", msg.CallID, "to", msg.To, "parts", len(p.parts), "mr", strings.Join(p.mrs, ","))
	return textback.Receipt{Sender: "modem", ProviderID: id}, nil
}

// plan encodes msg, or returns the progress of an earlier attempt at it.
func (m *Modem) plan(msg textback.Message, textMode bool) (*progress, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, p := range m.progress {
		if time.Since(p.at) > 24*time.Hour {
			delete(m.progress, id)
		}
	}
	if p, ok := m.progress[msg.ID]; ok && msg.ID != 0 && p.body == string(msg.To)+"\x00"+msg.Body && isText(p.parts) == textMode {
		return p, nil
	}
	var parts []part
	if textMode {
		parts = encodeText(string(msg.To), msg.Body)
	} else {
		var err error
		if parts, err = encodeSubmit(string(msg.To), msg.Body, &m.ref, !m.cfg.NoDeliveryReports); err != nil {
			return nil, err
		}
	}
	return &progress{body: string(msg.To) + "\x00" + msg.Body, parts: parts}, nil
}

func isText(parts []part) bool { return len(parts) > 0 && parts[0].cscs != "" }

// hasProgress reports whether part of msg went out through m.
func (m *Modem) hasProgress(msg textback.Message) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.progress[msg.ID]
	return ok && msg.ID != 0
}

// sendPart hands one part to the modem and returns its message reference.
func (s *session) sendPart(p part, to time.Duration) (string, error) {
	if p.cscs != "" {
		s.mu.Lock()
		cur := s.cscs
		s.mu.Unlock()
		if cur != p.cscs {
			ctx := context.Background()
			if _, err := s.cmd(ctx, fmt.Sprintf("+CSCS=%q", p.cscs)); err != nil {
				return "", err
			}
			if _, err := s.cmd(ctx, fmt.Sprintf("+CSMP=17,170,0,%d", p.dcs)); err != nil {
				return "", err
			}
			s.mu.Lock()
			s.cscs = p.cscs
			s.mu.Unlock()
		}
	}
	s.log.Debug("modem command", "cmd", "AT"+p.cmd)
	before := s.port.subs.Load()
	info, err := s.at.SMSCommand(p.cmd, p.data, at.WithTimeout(to))
	handed := s.port.subs.Load() > before
	switch {
	case err == nil:
		v, _ := value(info, "+CMGS:")
		return v, nil
	case errors.Is(err, at.ErrDeadlineExceeded):
		// The answer may still come and be taken for the next command's.
		s.close()
		if handed {
			return "", fmt.Errorf("handed to the modem: %w: no answer within %s", ErrUnconfirmed, to)
		}
		return "", fmt.Errorf("no prompt from the modem within %s", to)
	case errors.Is(err, at.ErrClosed):
		if handed {
			return "", fmt.Errorf("handed to the modem: %w: the modem went away", ErrUnconfirmed)
		}
		return "", errGone
	}
	return "", sendError(err)
}
