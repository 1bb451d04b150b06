package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/textback/textback/ami/amitest"
)

// freeAddr returns a loopback address no one listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// twilioSignature is X-Twilio-Signature as Twilio's security page gives
// it: HMAC-SHA1 with the auth token over the URL and the sorted POST
// parameters, each name followed by its value, in base64.
func twilioSignature(token, u string, form url.Values) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range form {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	b.WriteString(u)
	for _, k := range keys {
		b.WriteString(k + form.Get(k))
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TestEndToEndStop: a caller who answers a text back with STOP, through
// Twilio's signed webhook, is never texted again; a forged STOP changes
// nothing.
func TestEndToEndStop(t *testing.T) {
	srv, err := amitest.NewServer(amitest.ServerConfig{Username: "textback", Secret: "e2e-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", ""))
	tw, twSrv := newTwilioFake(t)
	dir := t.TempDir()
	listen := freeAddr(t)
	// A cooldown of a second: only the opt-out can stop the second text.
	cfgPath := writeConfig(t, dir, amiPBX(srv.Addr()), twSrv.URL, tw.sid, "[limits]\ncooldown = \"1s\"\n")
	src, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	src = bytes.Replace(src, []byte(`listen = "127.0.0.1:0"`), []byte(fmt.Sprintf("listen = %q\npublic_url = \"https://pbx.example.com\"", listen)), 1)
	if err := os.WriteFile(cfgPath, src, 0o600); err != nil {
		t.Fatal(err)
	}

	var stderr bytes.Buffer
	cmd := exec.Command(binary, "run", "-c", cfgPath)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		if err := cmd.Wait(); err != nil {
			t.Errorf("textback run after SIGTERM: %v", err)
		}
		if t.Failed() {
			t.Logf("textback's log:\n%s", stderr.String())
		}
	}()
	select {
	case <-tw.sent:
	case <-time.After(30 * time.Second):
		t.Fatal("no first text")
	}

	postForm := func(route string, form url.Values, sig string) int {
		if sig == "" {
			sig = twilioSignature("e2e-token", "https://pbx.example.com/webhook/twilio/"+route, form)
		}
		req, _ := http.NewRequest("POST", "http://"+listen+"/webhook/twilio/"+route, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	post := func(body, sig string) int {
		return postForm("inbound", url.Values{"MessageSid": {"SM" + strings.Repeat("7", 32)}, "AccountSid": {tw.sid},
			"From": {"+13125550101"}, "To": {"+12125550199"}, "Body": {body}, "NumMedia": {"0"}}, sig)
	}
	// Twilio's status callback for the text it took: the journal learns it
	// was delivered. (Wait until the daemon has read Twilio's answer: a
	// report on a text not yet marked sent is dropped as unknown.)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if h := history(t, cfgPath); len(h) == 1 && h[0].Text != nil && h[0].Text.State == "sent" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the text was never marked sent")
		}
	}
	status := url.Values{"MessageSid": {fmt.Sprintf("SM%032d", 1)}, "MessageStatus": {"delivered"}, "AccountSid": {tw.sid},
		"From": {"+12125550199"}, "To": {"+13125550101"}}
	if code := postForm("status", status, ""); code != http.StatusOK {
		t.Errorf("status callback: %d, want 200", code)
	}
	if h := history(t, cfgPath); len(h) != 1 || h[0].Text == nil || h[0].Text.Delivery != "delivered" {
		t.Errorf("history after the delivery report: %+v", h)
	}
	optedOut := func() bool {
		out, err := exec.Command(binary, "optout", "list", "-c", cfgPath).Output()
		if err != nil {
			t.Fatalf("textback optout list: %v", err)
		}
		return strings.Contains(string(out), "+13125550101")
	}
	if code := post("STOP", "forged"); code != http.StatusForbidden {
		t.Errorf("forged STOP: status %d, want 403", code)
	}
	if optedOut() {
		t.Fatal("a forged STOP opted the caller out")
	}
	if code := post("STOP", ""); code != http.StatusOK {
		t.Fatalf("signed STOP: status %d, want 200", code)
	}
	if !optedOut() {
		t.Fatal("STOP did not put the caller on the opt-out list")
	}

	time.Sleep(1100 * time.Millisecond) // past the cooldown
	srv.Play(readCapture(t, "ami", "ring_no_answer_hangup.ami.txt", "again"))
	waitHistory(t, cfgPath, 2)
	select {
	case <-tw.sent:
		t.Error("the caller who said STOP was texted again")
	case <-time.After(300 * time.Millisecond):
	}
	for _, h := range history(t, cfgPath) {
		if h.CallID == "again-1795845639.0" && h.Reason != "opted_out" {
			t.Errorf("second call: reason %q, want opted_out", h.Reason)
		}
	}

	// The same listener serves health and metrics of the running daemon.
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + listen + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, body := get("/metrics")
	for _, want := range []string{
		`textback_calls_total{direction="inbound",outcome="no_answer",reason="send"} 1`,
		`textback_calls_total{direction="inbound",outcome="no_answer",reason="opted_out"} 1`,
		`textback_texts_total{sender="twilio",state="sent"} 1`,
		`textback_pbx_connected 1`,
		`textback_optouts 1`,
	} {
		if code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("/metrics (status %d) lacks %s", code, want)
		}
	}
}
