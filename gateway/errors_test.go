package gateway

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Every error code package sigv4 can return has a status in the gateway's
// table; a missing one would reach clients as InternalError. The codes are
// read from sigv4's source, so a new one cannot be forgotten.
func TestSigV4CodesHaveStatuses(t *testing.T) {
	paths, err := filepath.Glob("../sigv4/*.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		{
			ast.Inspect(f, func(node ast.Node) bool {
				vs, ok := node.(*ast.ValueSpec)
				if !ok {
					return true
				}
				for i, name := range vs.Names {
					if !strings.HasPrefix(name.Name, "Code") || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					code, _ := strconv.Unquote(lit.Value)
					n++
					if _, ok := codes[code]; !ok {
						t.Errorf("sigv4.%s (%q) has no entry in the gateway's error table", name.Name, code)
					}
				}
				return true
			})
		}
	}
	if n < 10 {
		t.Fatalf("found only %d sigv4 codes; the source scan is broken", n)
	}
}
