package main

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// FuzzParseConfig gives ParseConfig arbitrary bytes, seeded with
// textback.toml.example and every configuration the tests of this package
// write: it must not panic or hang, and every problem it reports must say
// where, as "path:line: message" or "path:line:col: message".
//
//	go test ./cmd/textback -run '^$' -fuzz '^FuzzParseConfig$' -fuzztime 75s
func FuzzParseConfig(f *testing.F) {
	example, err := os.ReadFile("../../textback.toml.example")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	for _, s := range testConfigs(f) {
		f.Add([]byte(s))
	}
	f.Add([]byte("[pbx]\naddress = \n"))
	f.Add([]byte("[[rules]]\n[[rules]]\nmessage = 1\n[rules.messages]\n"))
	f.Add([]byte("\"a.b\".'c' = 1\n[\"x\".y]\nz = [1, \"a\"]\n"))
	f.Add([]byte("[limits]\ncooldown = \"99999999999999999999d\"\nmax_delay = \"-1h\"\n"))

	where := regexp.MustCompile(`^fuzz\.toml:\d+(:\d+)?: `)
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 64<<10 {
			t.Skip()
		}
		_, err := ParseConfig("fuzz.toml", src)
		if err == nil {
			return
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			if !where.MatchString(e.Error()) {
				t.Fatalf("error without path:line: %q", e.Error())
			}
		}
	})
}

// testConfigs returns the string literals of this package's tests that
// look like a configuration (a [table] and a key = value).
func testConfigs(tb testing.TB) []string {
	files, err := filepath.Glob("*_test.go")
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	fset := token.NewFileSet()
	for _, name := range files {
		file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			continue // a file another change is editing
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && strings.Contains(s, "[") && strings.Contains(s, " = ") {
				out = append(out, s)
			}
			return true
		})
	}
	if len(out) == 0 {
		tb.Fatal(errors.New("no configurations found in the tests"))
	}
	return out
}
