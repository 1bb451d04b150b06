package main

import (
	"context"
	"encoding"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/textback/textback/rules"
)

// configLeaves calls fn with the dotted key ("sms.twilio.auth_token",
// "rules[1].message") and value of every setting of cfg, in file order.
// Tables and arrays of tables are walked; anything else (a string, a list
// of numbers, a value that parses itself like rules.Zone) is a leaf.
func configLeaves(cfg *Config, fn func(key string, v reflect.Value)) {
	walkConfig(reflect.ValueOf(cfg).Elem(), "", fn)
}

var textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()

func walkConfig(v reflect.Value, prefix string, fn func(string, reflect.Value)) {
	switch {
	case v.Kind() == reflect.Struct && isTable(v.Type()):
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			walkConfig(v.Field(i), key, fn)
		}
	case v.Kind() == reflect.Slice && isTable(v.Type().Elem()):
		for i := range v.Len() {
			walkConfig(v.Index(i), fmt.Sprintf("%s[%d]", prefix, i), fn)
		}
	default:
		fn(prefix, v)
	}
}

// isTable reports whether t is a struct decoded key by key, rather than a
// value that parses itself.
func isTable(t reflect.Type) bool {
	if t.Kind() != reflect.Struct || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return false
	}
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("toml") != "" {
			return true
		}
	}
	return false
}

// changedKeys lists the settings that differ between two configurations,
// by dotted key, in the order of the new one (then keys only the old one
// has). An [[array]] entry that one of them lacks is one key ("rules[2]").
// Values are left out: some are secrets.
func changedKeys(old, cur *Config) []string {
	was := map[string]reflect.Value{}
	var order []string
	configLeaves(old, func(k string, v reflect.Value) { was[k] = v; order = append(order, k) })
	var out []string
	add := func(k string) {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	seen := map[string]bool{}
	configLeaves(cur, func(k string, v reflect.Value) {
		seen[k] = true
		if w, ok := was[k]; !ok {
			add(entryKey(k))
		} else if !reflect.DeepEqual(w.Interface(), v.Interface()) {
			add(k)
		}
	})
	for _, k := range order {
		if !seen[k] {
			add(entryKey(k))
		}
	}
	return out
}

// entryKey cuts a key inside an [[array]] entry down to the entry:
// "rules[1].message" is "rules[1]".
func entryKey(k string) string {
	if i := strings.Index(k, "]"); i >= 0 {
		return k[:i+1]
	}
	return k
}

// reloadable are the settings a SIGHUP puts in force: those the policy is
// built from, and the log level. Anything else (the PBX, the senders and
// their credentials, the store, the HTTP listener, max_delay, which the
// outbox holds) is only read at start.
var reloadable = []string{
	"business", "detect.", "sms.from", "rules", "limits.cooldown", "limits.max_per_hour",
	"limits.allowed_countries", "filters.", "optout.", "report.", "log.level",
}

func isReloadable(key string) bool {
	return slices.ContainsFunc(reloadable, func(p string) bool {
		switch {
		case strings.HasSuffix(p, "."):
			return strings.HasPrefix(key, p)
		case p == "rules":
			return key == p || strings.HasPrefix(key, "rules[")
		}
		return key == p
	})
}

// reloader re-reads the configuration on SIGHUP and hands a new policy to
// the event loop. Its fields are owned by the goroutine that runs it.
type reloader struct {
	load   func() (Config, error)
	boot   Config         // what the daemon started with: the settings that need a restart
	cfg    Config         // the configuration in force
	policy *rules.Policy  // the policy in force
	level  *slog.LevelVar // the log level, which a reload changes
	log    *slog.Logger
	// swap hands a policy to the event loop, and reports false when the
	// daemon is stopping.
	swap func(ctx context.Context, p *rules.Policy) bool
	// notify tells systemd (RELOADING=1, READY=1).
	notify func(state string)
}

// run reloads on each value of hup until ctx is done.
func (r *reloader) run(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			r.reload(ctx)
		}
	}
}

// reload reads the configuration again. A file that does not load, or
// whose rules do not build, changes nothing but the allow and deny lists,
// which are read again either way.
func (r *reloader) reload(ctx context.Context) {
	r.notify("RELOADING=1")
	defer r.notify("READY=1")
	cfg, err := r.load()
	var pol *rules.Policy
	if err == nil {
		pol, err = buildPolicy(&cfg)
	}
	if err != nil {
		lines := strings.Split(err.Error(), "\n")
		r.log.Error("config reload refused: the running configuration stays", "errors", len(lines))
		for _, l := range lines {
			r.log.Error("config error", "err", l)
		}
		if err := r.policy.Reload(); err != nil {
			r.log.Error("allow/deny lists not reloaded", "err", err)
		}
		return
	}
	var applied []string
	for _, k := range changedKeys(&r.cfg, &cfg) {
		if isReloadable(k) {
			applied = append(applied, k)
		}
	}
	var restart []string
	for _, k := range changedKeys(&r.boot, &cfg) {
		if !isReloadable(k) {
			restart = append(restart, k)
		}
	}
	if !r.swap(ctx, pol) {
		return
	}
	r.policy, r.cfg = pol, cfg
	var level slog.Level
	if level.UnmarshalText([]byte(cfg.Log.Level)) == nil && r.level != nil {
		r.level.Set(level)
	}
	if len(applied) == 0 {
		applied = []string{"none (allow/deny lists read again)"}
	}
	r.log.Info("config reloaded", "changed", strings.Join(applied, ", "))
	for _, w := range policyWarnings(&cfg, pol) {
		r.log.Warn("rules: " + w)
	}
	if err := pol.ListErrors(); err != nil {
		r.log.Error("allow/deny lists", "err", err)
	}
	if len(restart) > 0 {
		r.log.Warn("restart needed for: " + strings.Join(restart, ", "))
	}
}
