package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// progressBar draws one line that redraws itself in a terminal, and prints
// nothing until the end anywhere else (a log or a pipe wants no carriage
// returns).
type progressBar struct {
	w     io.Writer
	label string
	tty   bool
	start time.Time
	drawn bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, label: label, tty: tty, start: time.Now()}
}

const barWidth = 30

// bar renders done of total (total < 0: not known yet).
func bar(done, total int64, elapsed time.Duration) string {
	rate := ""
	if s := elapsed.Seconds(); s > 0 {
		rate = fmt.Sprintf(" %.0f/s", float64(done)/s)
	}
	if total <= 0 {
		return fmt.Sprintf("%d%s", done, rate)
	}
	fill := min(int(done*barWidth/total), barWidth)
	return fmt.Sprintf("[%s%s] %d/%d %3d%%%s", strings.Repeat("=", fill), strings.Repeat(" ", barWidth-fill), done, total, min(done*100/total, 100), rate)
}

func (p *progressBar) show(done, total int64) {
	if !p.tty {
		return
	}
	fmt.Fprintf(p.w, "\r%s %s\x1b[K", p.label, bar(done, total, time.Since(p.start)))
	p.drawn = true
}

func (p *progressBar) end() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// followLines reads a streamed NDJSON answer of the admin API (progress
// lines, then one that ends it), calling show for each line. It returns
// the last line, and an error when the answer broke off or ended before a
// line for which last reports true.
func followLines[T any](body io.Reader, show func(T), last func(T) bool) (T, error) {
	dec := json.NewDecoder(body)
	var line T
	for {
		var next T
		if err := dec.Decode(&next); err != nil {
			if err == io.EOF {
				return line, errors.New("the answer ended without saying it was done")
			}
			return line, fmt.Errorf("the answer broke off: %w", err)
		}
		line = next
		show(line)
		if last(line) {
			return line, nil
		}
	}
}
