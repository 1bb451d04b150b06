package textback

import "testing"

func TestSignsOutcome(t *testing.T) {
	for _, tt := range []struct {
		s    Signs
		want Outcome
	}{
		{Signs{}, Unattended},
		{Signs{Dialed: true}, NoAnswer},
		{Signs{Dialed: true, Unavailable: true}, Unavailable},
		{Signs{Dialed: true, Busy: true, Unavailable: true}, Busy},
		{Signs{Dialed: true, NoAnswer: true, Busy: true}, NoAnswer},
		{Signs{Dialed: true, NoAnswer: true, Abandoned: true}, Abandoned},
		{Signs{Dialed: true, NoAnswer: true, Voicemail: true, Abandoned: true}, Voicemail},
		{Signs{Voicemail: true}, Voicemail},
		{Signs{Answered: true, Voicemail: true, Abandoned: true}, Answered},
	} {
		if got := tt.s.Outcome(); got != tt.want {
			t.Errorf("%+v.Outcome() = %s, want %s", tt.s, got, tt.want)
		}
	}
}
