package modem

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"go.bug.st/serial"
)

// inUse holds the device paths (resolved) our Modems have open, so that an
// IMEI scan never probes a port another Modem of this process is using.
var inUse sync.Map // string → struct{}

// countingPort counts the Ctrl-Z bytes written: one means a PDU or text has
// been handed to the modem, which from then on may send it whatever we hear.
type countingPort struct {
	io.ReadWriteCloser
	subs atomic.Int64
}

func (p *countingPort) Write(b []byte) (int, error) {
	n, err := p.ReadWriteCloser.Write(b)
	p.subs.Add(int64(bytes.Count(b[:n], []byte{0x1a})))
	return n, err
}

// openPort opens path with go.bug.st/serial (not modem's own serial
// package, whose dependency is not served) and says what is wrong in the
// words an operator needs.
func openPort(path string, baud int) (io.ReadWriteCloser, error) {
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud})
	if err == nil {
		return p, nil
	}
	var pe *serial.PortError
	if errors.As(err, &pe) {
		switch pe.Code() {
		case serial.PermissionDenied:
			return nil, fmt.Errorf("permission denied on %s: add the textback user to the dialout group", path)
		case serial.PortBusy:
			return nil, fmt.Errorf("port busy: %s is open elsewhere; ModemManager may hold it (see contrib/udev)", path)
		}
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: %w (unplugged?)", path, ErrNoDevice)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("permission denied on %s: add the textback user to the dialout group", path)
	}
	return nil, fmt.Errorf("open %s: %w", path, err)
}

// ErrNoDevice means the configured device is not there.
var ErrNoDevice = errors.New("no such device")

// byIDFor returns the /dev/serial/by-id link that points at path, if any:
// it names the USB device and interface, and survives a replug that gives
// the stick another ttyUSB number.
func byIDFor(dir, path string) string {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return ""
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range ents {
		l := filepath.Join(dir, e.Name())
		if t, err := filepath.EvalSymlinks(l); err == nil && t == target && l != path {
			return l
		}
	}
	return ""
}

// modemManagerRunning reports whether a ModemManager process is running,
// the usual reason a modem's port answers nothing or is busy.
func modemManagerRunning() bool {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, e := range ents {
		if c := e.Name()[0]; c < '0' || c > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(b)) == "ModemManager" {
			return true
		}
	}
	return false
}
