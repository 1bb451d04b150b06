package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
)

// secretTables are the tables whose keys can hold credentials.
var secretTables = []string{"pbx.", "sms.", "replies.", "modem["}

// isSecretKey reports whether a dotted key names an inline secret: a
// password, token, secret, API key, signing key or SIM PIN.
func isSecretKey(key string) bool {
	if !hasSecretTable(key) {
		return false
	}
	name := key[strings.LastIndex(key, ".")+1:]
	if name == "pin" {
		return true
	}
	for _, s := range []string{"token", "password", "secret", "api_key", "signing_key"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}

// isSecretFileKey reports whether a dotted key names a file that holds a
// secret (auth_token_file, pin_file, private_key_file, …).
func isSecretFileKey(key string) bool {
	stem, ok := strings.CutSuffix(key, "_file")
	if !ok || !hasSecretTable(key) {
		return false
	}
	return isSecretKey(stem) || strings.HasSuffix(stem, "private_key")
}

func hasSecretTable(key string) bool {
	for _, t := range secretTables {
		if strings.HasPrefix(key, t) {
			return true
		}
	}
	return false
}

// secretWarnings are the ways the configuration exposes its secrets to
// every user of the machine: inline secrets in a file others can read, and
// secret files others can read. Each is one line for `textback check`.
func secretWarnings(cfg *Config) []string {
	var inline, files []string
	configLeaves(cfg, func(key string, v reflect.Value) {
		if v.Kind() != reflect.String || v.String() == "" {
			return
		}
		switch {
		case isSecretKey(key):
			inline = append(inline, key)
		case isSecretFileKey(key):
			p := cfg.secretPath(v.String())
			if fi, err := os.Stat(p); err == nil && fi.Mode().Perm()&0o004 != 0 {
				files = append(files, fmt.Sprintf("%s: %s is readable by every user (mode %04o): chmod 640 it, or use systemd's LoadCredential=",
					key, p, fi.Mode().Perm()))
			}
		}
	})
	var out []string
	if len(inline) > 0 {
		if fi, err := os.Stat(cfg.path); err == nil && fi.Mode().Perm()&0o004 != 0 {
			out = append(out, fmt.Sprintf("%s holds secrets (%s) and is readable by every user (mode %04o): chmod 640 it "+
				"(owner root, group textback), or move them to *_file keys or systemd's LoadCredential=",
				cfg.path, strings.Join(inline, ", "), fi.Mode().Perm()))
		}
	}
	return append(out, files...)
}

// secretPath is where the file of a *_file key is read from: a relative
// name in systemd's $CREDENTIALS_DIRECTORY when it is there (LoadCredential=),
// else next to the config file.
func (c *Config) secretPath(file string) string {
	if filepath.IsAbs(file) {
		return file
	}
	if dir := os.Getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
			return filepath.Join(dir, file)
		}
	}
	return filepath.Join(filepath.Dir(c.path), file)
}
