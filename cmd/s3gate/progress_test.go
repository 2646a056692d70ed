package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBar(t *testing.T) {
	cases := []struct {
		done, total int64
		want        string
	}{
		{0, 200, "[                              ] 0/200   0% 0/s"},
		{100, 200, "[===============               ] 100/200  50% 50/s"},
		{200, 200, "[==============================] 200/200 100% 100/s"},
		{250, 200, "[==============================] 250/200 100% 125/s"}, // objects added since counting
		{42, -1, "42 21/s"},
	}
	for _, c := range cases {
		if got := bar(c.done, c.total, 2*time.Second); got != c.want {
			t.Errorf("bar(%d, %d) = %q, want %q", c.done, c.total, got, c.want)
		}
	}
}

// TestProgressBarQuietOffTerminal: written to a pipe or a file, the bar
// draws nothing (no carriage returns in logs).
func TestProgressBarQuietOffTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := newProgressBar(&buf, "backfill")
	p.show(1, 2)
	p.end()
	if buf.Len() != 0 {
		t.Fatalf("progress bar wrote %q off a terminal", buf.String())
	}
	p.tty = true
	p.show(1, 2)
	p.end()
	if out := buf.String(); !strings.HasPrefix(out, "\rbackfill [") || !strings.HasSuffix(out, "\n") {
		t.Fatalf("terminal output %q", out)
	}
}
