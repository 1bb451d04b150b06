package ami

import (
	"time"

	"github.com/textback/textback"
)

// TrackerConfig says how to read calls out of the event stream.
type TrackerConfig struct {
	// InboundContexts are the dialplan contexts a trunk delivers inbound
	// calls to (FreePBX: from-trunk, from-pstn, from-did-direct).
	InboundContexts []string
	// DIDVariable is a channel variable holding the dialed number (FreePBX:
	// FROM_DID). Empty: the Exten the call entered its inbound context with.
	DIDVariable string
}

// Tracker follows the channels of every call, grouped by Linkedid, and
// reports each call once all of its channels have hung up. It is not safe
// for concurrent use: one goroutine feeds it.
type Tracker struct {
	cfg TrackerConfig
}

// NewTracker returns a Tracker.
func NewTracker(cfg TrackerConfig) *Tracker { return &Tracker{cfg: cfg} }

// Handle takes one frame, received at now, and returns the calls that ended
// with it.
func (t *Tracker) Handle(f Frame, now time.Time) []textback.Call { return nil }

// Len returns the number of calls in progress.
func (t *Tracker) Len() int { return 0 }
