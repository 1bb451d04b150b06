package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/textback/textback"
	"github.com/textback/textback/rules"
)

// DefaultConfigPath is where run, check and the other commands look for the
// configuration unless -c says otherwise.
const DefaultConfigPath = "/etc/textback/textback.toml"

// Config is the whole textback.toml. Its key names are an interface that
// operators script against: keep them.
type Config struct {
	Business string        `toml:"business"`
	PBX      PBXConfig     `toml:"pbx"`
	Detect   DetectConfig  `toml:"detect"`
	SMS      SMSConfig     `toml:"sms"`
	Modems   []ModemConfig `toml:"modem"`
	Rules    []RuleConfig  `toml:"rules"`
	Limits   LimitsConfig  `toml:"limits"`
	Filters  FiltersConfig `toml:"filters"`
	OptOut   OptOutConfig  `toml:"optout"`
	HTTP     HTTPConfig    `toml:"http"`
	Replies  RepliesConfig `toml:"replies"`
	Store    StoreConfig   `toml:"store"`
	Report   ReportConfig  `toml:"report"`
	Log      LogConfig     `toml:"log"`

	path string // the file it came from
	src  []byte // its text, for line numbers in later errors
}

// PBXConfig is the [pbx] table.
type PBXConfig struct {
	Type            string   `toml:"type"`
	Address         string   `toml:"address"`
	Username        string   `toml:"username"`
	Secret          string   `toml:"secret"`
	SecretFile      string   `toml:"secret_file"`
	Auth            string   `toml:"auth"` // "plain" or "md5"
	InboundContexts []string `toml:"inbound_contexts"`
	DIDVariable     string   `toml:"did_variable"`
	Application     string   `toml:"application"` // ARI only
}

// DetectConfig is the [detect] table.
type DetectConfig struct {
	MinRings        int      `toml:"min_rings"`
	RingCycle       Duration `toml:"ring_cycle"`
	DefaultRegion   string   `toml:"default_region"`
	MaxExtensionLen int      `toml:"max_extension_length"`
}

// ModemConfig is one [[modem]] entry: a USB GSM/LTE modem texts go out
// through when [sms] sender = "modem".
type ModemConfig struct {
	Name     string `toml:"name"`
	Device   string `toml:"device"`
	Baud     int    `toml:"baud"`
	PIN      string `toml:"pin"`
	PINFile  string `toml:"pin_file"`
	IMEI     string `toml:"imei"`
	TextMode bool   `toml:"text_mode"`
}

// RuleConfig is one [[rules]] entry. Its schedule values parse themselves
// (rules.Hours, rules.Zone, …), so a bad one is reported with its line.
type RuleConfig struct {
	Name              string            `toml:"name"`
	DIDs              []string          `toml:"dids"`
	Message           string            `toml:"message"`
	Messages          MessagesConfig    `toml:"messages"`
	AfterHoursMessage string            `toml:"after_hours_message"`
	From              string            `toml:"from"`
	Hours             []rules.Hours     `toml:"hours"`
	Timezone          rules.Zone        `toml:"timezone"`
	Holidays          []rules.Holiday   `toml:"holidays"`
	QuietHours        rules.Span        `toml:"quiet_hours"`
	QuietAction       rules.QuietAction `toml:"quiet_action"`
	MaxPerHour        int               `toml:"max_per_hour"`
	// Delay holds the text after the call; a redial that gets through or
	// a call back answered in the meantime cancels it.
	Delay Duration `toml:"delay"`
}

// MessagesConfig is a rule's [rules.messages] table: a text per outcome,
// overriding message.
type MessagesConfig struct {
	NoAnswer    string `toml:"no_answer"`
	Busy        string `toml:"busy"`
	Abandoned   string `toml:"abandoned"`
	Voicemail   string `toml:"voicemail"`
	Unavailable string `toml:"unavailable"`
	Unattended  string `toml:"unattended"`
}

// byOutcome returns the texts that are set.
func (m MessagesConfig) byOutcome() map[textback.Outcome]string {
	out := make(map[textback.Outcome]string)
	for o, s := range map[textback.Outcome]string{
		textback.NoAnswer: m.NoAnswer, textback.Busy: m.Busy, textback.Abandoned: m.Abandoned,
		textback.Voicemail: m.Voicemail, textback.Unavailable: m.Unavailable, textback.Unattended: m.Unattended,
	} {
		if s != "" {
			out[o] = s
		}
	}
	return out
}

// LimitsConfig is the [limits] table.
type LimitsConfig struct {
	Cooldown         Duration `toml:"cooldown"`
	MaxDelay         Duration `toml:"max_delay"`
	MaxPerHour       int      `toml:"max_per_hour"`
	AllowedCountries []string `toml:"allowed_countries"`
}

// FiltersConfig is the [filters] table: callers always or never texted.
type FiltersConfig struct {
	Allow     []string `toml:"allow"`
	Deny      []string `toml:"deny"`
	AllowFile string   `toml:"allow_file"`
	DenyFile  string   `toml:"deny_file"`
}

// OptOutConfig is the [optout] table.
type OptOutConfig struct {
	Suffix string `toml:"suffix"`
}

// StoreConfig is the [store] table.
type StoreConfig struct {
	Path string `toml:"path"`
}

// ReportConfig is the [report] table: what a reply is worth, for the
// recovered-revenue estimate of `textback report`.
type ReportConfig struct {
	AverageJobValue float64 `toml:"average_job_value"` // in the business's currency; 0: no estimate
	ConversionRate  float64 `toml:"conversion_rate"`   // the share of replies that become a job, 0 to 1
}

// LogConfig is the [log] table.
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // text or json
}

// DefaultConfig returns the configuration that an empty file means.
func DefaultConfig() Config {
	return Config{
		PBX: PBXConfig{
			Type:        "ami",
			Auth:        "md5",
			Application: "textback",
		},
		Detect: DetectConfig{
			MinRings:        1,
			RingCycle:       Duration(6 * time.Second),
			DefaultRegion:   "US",
			MaxExtensionLen: 6,
		},
		SMS:    SMSConfig{Sender: "log"},
		Limits: LimitsConfig{Cooldown: Duration(24 * time.Hour), MaxDelay: Duration(15 * time.Minute), MaxPerHour: 100},
		Store:  StoreConfig{Path: "/var/lib/textback/textback.db"},
		HTTP:   HTTPConfig{Listen: "127.0.0.1:8089"},
		Log:    LogConfig{Level: "info", Format: "text"},
	}
}

// defaultInboundContexts are where each PBX's own configuration sends calls
// from a trunk: FreePBX's contexts on Asterisk, the public context on
// FreeSWITCH and FusionPBX.
var defaultInboundContexts = map[string][]string{
	"ami": {"from-trunk", "from-pstn", "from-did-direct"},
	"ari": {"from-trunk", "from-pstn", "from-did-direct"},
	"esl": {"public"},
}

// Duration is a time.Duration written as "90s", "15m", "24h" or "2d".
type Duration time.Duration

// UnmarshalText parses a duration, with "d" for days as well as Go's units.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration the way Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// parseDuration is time.ParseDuration plus whole days ("7d").
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("invalid duration %q (want e.g. 90s, 15m, 24h, 7d)", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (want e.g. 90s, 15m, 24h, 7d)", s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return v, nil
}

// LoadConfig reads and validates a configuration file. Every problem is
// reported, each as "path:line: message", joined in one error.
func LoadConfig(path string) (Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return ParseConfig(path, src)
}

// ParseConfig decodes src on top of DefaultConfig and validates it.
func ParseConfig(path string, src []byte) (Config, error) {
	cfg := DefaultConfig()
	cfg.path, cfg.src = path, src
	md, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&cfg)
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return cfg, fmt.Errorf("%s:%d:%d: %s", path, pe.Position.Line, pe.Position.Col, pe.Message)
	} else if err != nil {
		// Type mismatches come as "toml: line 11 (last key "x.y"): …".
		if m := tomlLineErr.FindStringSubmatch(err.Error()); m != nil {
			return cfg, fmt.Errorf("%s:%s: %s: %s", path, m[1], m[2], m[3])
		}
		return cfg, fmt.Errorf("%s: %w", path, err)
	}
	if !md.IsDefined("pbx", "inbound_contexts") {
		cfg.PBX.InboundContexts = defaultInboundContexts[cfg.PBX.Type]
	}
	var errs []error
	var unknown []string
	for _, k := range md.Undecoded() {
		key := k.String()
		if slices.ContainsFunc(unknown, func(u string) bool { return strings.HasPrefix(key, u+".") }) {
			continue // inside an unknown table, already reported
		}
		unknown = append(unknown, key)
		errs = append(errs, fmt.Errorf("%s:%d: unknown key %q", path, lineOf(src, key), key))
	}
	errs = append(errs, cfg.validate()...)
	return cfg, errors.Join(errs...)
}

var tomlLineErr = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// errorf makes an error about the key at the dotted path key, with its line.
func (c *Config) errorf(key, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s: %s", c.path, lineOf(c.src, key), key, fmt.Sprintf(format, args...))
}

// validate checks what decoding cannot: required keys, known names, files.
// The rules' own checks (templates, numbers) run when the policy is built.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, c.errorf(key, format, args...)) }

	needSecret := func(what string) {
		if c.PBX.Secret == "" && c.PBX.SecretFile == "" {
			bad("pbx.secret", "required (%s), or secret_file", what)
		}
	}
	switch c.PBX.Type {
	case "ami":
		if c.PBX.Address == "" {
			bad("pbx.address", "required (host:port of the Asterisk Manager Interface, e.g. 127.0.0.1:5038)")
		}
		if c.PBX.Username == "" {
			bad("pbx.username", "required (the user in manager.conf)")
		}
		needSecret("the user's secret in manager.conf")
		if c.PBX.Auth != "md5" && c.PBX.Auth != "plain" {
			bad("pbx.auth", "must be \"md5\" or \"plain\", not %q", c.PBX.Auth)
		}
	case "ari":
		if u, err := url.Parse(c.PBX.Address); c.PBX.Address == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("pbx.address", "must be the http(s) URL of Asterisk's HTTP server, e.g. http://127.0.0.1:8088, not %q", c.PBX.Address)
		}
		if c.PBX.Username == "" {
			bad("pbx.username", "required (the user in ari.conf)")
		}
		needSecret("the user's password in ari.conf")
		if c.PBX.Application == "" {
			bad("pbx.application", "required (the ARI application name textback registers)")
		}
	case "esl":
		if c.PBX.Address == "" {
			bad("pbx.address", "required (host or host:port of FreeSWITCH's event socket; the port defaults to 8021)")
		}
		needSecret("the event socket password in event_socket.conf.xml")
	default:
		bad("pbx.type", "must be \"ami\", \"ari\" or \"esl\", not %q", c.PBX.Type)
	}
	if c.PBX.Secret != "" && c.PBX.SecretFile != "" {
		bad("pbx.secret_file", "set secret or secret_file, not both")
	}
	if len(c.PBX.InboundContexts) == 0 {
		bad("pbx.inbound_contexts", "at least one context is required (FreePBX: from-trunk)")
	}
	if c.Detect.MinRings < 0 {
		bad("detect.min_rings", "must not be negative")
	}
	if c.Detect.RingCycle <= 0 {
		bad("detect.ring_cycle", "must be positive (a ring cycle is about 6s in North America, 3s in the UK)")
	}
	errs = append(errs, c.validateSenders()...)
	if len(c.Rules) == 0 {
		bad("rules", "at least one [[rules]] entry is required")
	}
	for i, r := range c.Rules {
		if strings.TrimSpace(r.Message) == "" {
			errs = append(errs, fmt.Errorf("%s:%d: rules[%d].message: required", c.path, nthTableLine(c.src, "rules", i), i))
		}
	}
	if c.Limits.MaxPerHour < 0 {
		bad("limits.max_per_hour", "must not be negative (0 is no cap)")
	}
	if c.Limits.MaxDelay <= 0 {
		bad("limits.max_delay", "must be positive")
	}
	if c.Store.Path == "" {
		bad("store.path", "required")
	}
	if c.Report.AverageJobValue < 0 {
		bad("report.average_job_value", "must not be negative")
	}
	if c.Report.ConversionRate < 0 || c.Report.ConversionRate > 1 {
		bad("report.conversion_rate", "must be between 0 and 1 (0.3 is 30%%), not %v", c.Report.ConversionRate)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		bad("log.format", "must be text or json, not %q", c.Log.Format)
	}
	return errs
}

// path resolves a file name of the configuration: relative to the file.
func (c *Config) relPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// secret returns an inline secret or the first line of its file. A relative
// file name is looked up in systemd's $CREDENTIALS_DIRECTORY when set
// (LoadCredential=), then next to the config file.
func (c *Config) secret(inline, file, key string) (string, error) {
	if file == "" {
		return inline, nil
	}
	p := c.secretPath(file)
	b, err := os.ReadFile(p)
	if err != nil {
		return "", c.errorf(key, "%v", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", c.errorf(key, "%s is empty", p)
	}
	return s, nil
}

// lineOf finds the line of a dotted key ("pbx.address", "rules.nmae") in a
// TOML file: a small scanner that follows [table] and [[array]] headers and
// "key =" lines. BurntSushi/toml keeps key positions to itself. It returns
// the header's line for a table key, and 0 when the key is not found.
func lineOf(src []byte, key string) int {
	table := ""
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			name := strings.Trim(line, "[] \t")
			if i := strings.Index(name, "]"); i >= 0 {
				name = strings.TrimSpace(name[:i])
			}
			table = unquoteKey(name)
			if table == key {
				return n
			}
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		full := unquoteKey(strings.TrimSpace(k))
		if table != "" {
			full = table + "." + full
		}
		if full == key {
			return n
		}
	}
	return 0
}

// nthTableLine returns the line of the i-th [[name]] header.
func nthTableLine(src []byte, name string, i int) int {
	sc := bufio.NewScanner(bytes.NewReader(src))
	seen := 0
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "[["+name+"]]" {
			if seen == i {
				return n
			}
			seen++
		}
	}
	return 0
}

// unquoteKey turns `a."b c".d` into a.b c.d, near enough for finding lines.
func unquoteKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"'`)
	}
	return strings.Join(parts, ".")
}
