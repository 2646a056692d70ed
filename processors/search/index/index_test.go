package index

import (
	"slices"
	"testing"
)

func TestKeyWords(t *testing.T) {
	for key, want := range map[string][]string{
		"reports/2024/Q3_salesReport-final.PDF": {"reports", "2024", "q3_salesreport-final.pdf", "q", "3", "sales", "report", "final", "pdf"},
		"HTMLFile.txt":                          {"htmlfile.txt", "html", "file", "txt"},
		"photos/IMG2024 beach.jpg":              {"photos", "img2024 beach.jpg", "img", "2024", "beach", "jpg"},
		"a//b":                                  {"a", "b"},
	} {
		if got := KeyWords(key); !slices.Equal(got, want) {
			t.Errorf("KeyWords(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestExtAndID(t *testing.T) {
	for key, want := range map[string]string{"a/b.TXT": "txt", "a.b/c": "", ".bashrc": "", "x.": "", "d/e.tar.gz": "gz"} {
		if got := Ext(key); got != want {
			t.Errorf("Ext(%q) = %q, want %q", key, got, want)
		}
	}
	long := string(make([]byte, 1024))
	if id := ID("b", long); len(id) != 32 || id == ID("b", long+"x") || ID("a", "bc") == ID("ab", "c") {
		t.Errorf("ID: %q", id)
	}
}
