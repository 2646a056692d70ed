package outbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/events"
	"github.com/s3gate/s3gate/processors/internal/logfile"
	"github.com/s3gate/s3gate/processors/queue/diskq"
)

// The test binary doubles as a helper process, selected by environment.
const (
	helperMode = "S3GATE_OUTBOX_TEST_HELPER"
	helperDir  = "S3GATE_OUTBOX_TEST_DIR"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperMode); mode != "" {
		if err := runHelper(mode, os.Getenv(helperDir)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashWorkers is how many goroutines of the helper write at once.
const crashWorkers = 4

// crashSegmentSize keeps the helper's segments small, so that it rolls
// and deletes them (and writes summaries) before it is killed.
const crashSegmentSize = 16 << 10

// crashNeighbours is how many writes begin right after the one that
// never ends, in its segment, and finish only once later segments hold
// other writes: their outcomes are recorded in segments that get deleted.
const crashNeighbours = 20

func runHelper(mode, dir string) error {
	if mode != "write" {
		return fmt.Errorf("unknown mode %q", mode)
	}
	// Write until killed: each worker begins a PUT, "commits" it to the
	// backend (a file holding the intent's sequencer), commits it to the
	// outbox and reports it; every seventh is aborted instead. One upload
	// begins and never ends.
	ctx := context.Background()
	q, err := diskq.Open(filepath.Join(dir, "q"), diskq.Options{})
	if err != nil {
		return err
	}
	o, err := Open(filepath.Join(dir, "outbox"), q, Options{SegmentSize: crashSegmentSize})
	if err != nil {
		return err
	}
	go o.Run(ctx)
	slow, err := o.Begin(ctx, putRec("slow", 1))
	if err != nil {
		return err
	}
	var recs []events.Record
	for i := range crashNeighbours {
		recs = append(recs, putRec(fmt.Sprintf("n-%02d", i), 2+i))
	}
	neighbours, err := o.BeginAll(ctx, recs)
	if err != nil {
		return err
	}
	for _, tk := range neighbours {
		if tk.seg != slow.seg {
			return errors.New("the neighbours are not in the slow upload's segment")
		}
	}
	errc := make(chan error)
	put := func(tk *Ticket, rec events.Record, abort bool) error {
		if abort {
			tk.Abort()
			fmt.Printf("aborted %s\n", rec.Key())
			return nil
		}
		if err := os.WriteFile(filepath.Join(dir, "backend", rec.Key()), []byte(rec.S3.Object.Sequencer), 0o600); err != nil {
			return err
		}
		tk.Commit(final(rec))
		fmt.Printf("committed %s\n", rec.Key())
		return nil
	}
	for w := range crashWorkers {
		go func() {
			for i := 0; ; i++ {
				rec := putRec(fmt.Sprintf("w%d-%05d", w, i), 1+(w+1)<<20+i)
				tk, err := o.Begin(ctx, rec)
				if err == nil {
					err = put(tk, rec, i%7 == 3)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	for o.Stats().Segments < 3 {
		time.Sleep(time.Millisecond)
	}
	for i, tk := range neighbours {
		if err := put(tk, recs[i], i%2 == 1); err != nil {
			return err
		}
	}
	// Their outcomes are written (not fsynced: a kill does not take back
	// what was written).
	if err := o.flush(false); err != nil {
		return err
	}
	fmt.Println("neighbours done")
	return <-errc
}

// onDisk is what the outbox's files say of a key.
type onDisk struct {
	intent, commit, published bool
}

// inspect reads every intact record of the outbox in dir.
func inspect(t *testing.T, dir string) map[string]*onDisk {
	t.Helper()
	byID := map[uint64]*onDisk{}
	byKey := map[string]*onDisk{}
	var fr logfile.Reader
	for _, path := range segFiles(t, dir) {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		fr.Reset(f, segHeader, fileSize(t, path))
		for {
			r, err := nextRecord(&fr)
			if err != nil {
				break // the end, or a torn tail
			}
			switch r.kind {
			case recIntent:
				var rec events.Record
				if err := json.Unmarshal(r.body, &rec); err != nil {
					t.Fatal(err)
				}
				d := &onDisk{intent: true}
				byID[r.id], byKey[rec.Key()] = d, d
			case recCommit:
				if d := byID[r.id]; d != nil {
					d.commit = true
				}
			case recPublished:
				if d := byID[r.id]; d != nil {
					d.published = true
				}
			}
		}
		f.Close()
	}
	return byKey
}

// TestProcessCrash kills a writing process at a random point, then
// recovers its outbox: every write it reported committed has its event,
// none that it aborted or that did not reach the backend has one, and no
// event is published twice unless its published marker was lost.
func TestProcessCrash(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	for round := range rounds {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "backend"), 0o700); err != nil {
			t.Fatal(err)
		}
		q := openQueue(t, filepath.Join(dir, "q"))
		if err := q.Close(); err != nil {
			t.Fatal(err)
		}

		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), helperMode+"=write", helperDir+"="+dir)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		committed, aborted := map[string]bool{}, map[string]bool{}
		take := func(line string) {
			switch verb, key, _ := strings.Cut(line, " "); verb {
			case "committed":
				committed[key] = true
			case "aborted":
				aborted[key] = true
			}
		}
		// Kill it at a random point after its neighbours of the slow
		// upload are done.
		killAfter := 1 + rand.IntN(1500)
		neighboursDone := false
		deadline := time.After(20 * time.Second)
	read:
		for n := 0; !neighboursDone || n < killAfter; n++ {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatal("the helper exited before it was killed")
				}
				take(line)
				neighboursDone = neighboursDone || line == "neighbours done"
			case <-deadline:
				break read
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		var exit *exec.ExitError
		if err := cmd.Wait(); !errors.As(err, &exit) {
			t.Fatalf("helper: %v, want killed", err)
		}
		for line := range lines {
			take(line)
		}

		obDir := filepath.Join(dir, "outbox")
		disk := inspect(t, obDir)
		q, err = diskq.Open(filepath.Join(dir, "q"), diskq.Options{Fsync: new(false)})
		if err != nil {
			t.Fatal(err)
		}
		o, err := Open(obDir, q, Options{SegmentSize: crashSegmentSize})
		if err != nil {
			t.Fatal(err)
		}
		checked := map[string]bool{}
		st := recoverO(t, o, func(_ context.Context, in events.Record) (events.Record, bool, error) {
			checked[in.Key()] = true
			if d := disk[in.Key()]; d != nil && d.commit {
				t.Errorf("%s: checked, though its commit record is on disk", in.Key())
			}
			data, err := os.ReadFile(filepath.Join(dir, "backend", in.Key()))
			if err == nil && string(data) == in.S3.Object.Sequencer {
				return final(in), true, nil
			}
			return in, false, nil
		})
		stop := run(t, o)
		waitIdle(t, o)
		stop()
		counts := map[string]int{}
		for _, r := range drain(t, q) {
			counts[r.Key()]++
		}
		o.Close()
		q.Close()

		t.Logf("round %d: killed after %d reported writes (%d committed, %d aborted); recovery %+v; %d keys published",
			round, len(committed)+len(aborted), len(committed), len(aborted), st, len(counts))
		// Each worker has one intent in flight, and maybe the outcome
		// of its previous one not yet written: everything older was
		// written before its next intent was. The neighbours' outcomes
		// were written too; if their segments were deleted, a summary
		// kept them.
		if bound := 2*crashWorkers + 1; neighboursDone && st.Checked > bound {
			t.Errorf("Recover checked %d intents; at most %d can be without an outcome", st.Checked, bound)
		}
		if !neighboursDone {
			t.Errorf("the helper did not get to finish the slow upload's neighbours in time")
		}
		if !checked["slow"] || counts["slow"] != 0 {
			t.Errorf("the unfinished upload: checked %v, published %d times; want checked and dropped", checked["slow"], counts["slow"])
		}
		backend, err := os.ReadDir(filepath.Join(dir, "backend"))
		if err != nil {
			t.Fatal(err)
		}
		inBackend := map[string]bool{}
		for _, e := range backend {
			data, err := os.ReadFile(filepath.Join(dir, "backend", e.Name()))
			if err == nil && len(data) == 28 {
				inBackend[e.Name()] = true
			}
		}
		for key := range committed {
			if !inBackend[key] {
				t.Errorf("%s: reported committed but not in the backend", key)
			}
		}
		for key := range aborted {
			if counts[key] != 0 {
				t.Errorf("%s: aborted, yet published %d times", key, counts[key])
			}
		}
		for key, n := range counts {
			if !inBackend[key] {
				t.Errorf("%s: published %d times, but never written to the backend", key, n)
			}
		}
		for key := range inBackend {
			d := disk[key]
			n := counts[key]
			switch {
			case n == 0:
				t.Errorf("%s: in the backend (reported committed: %v), but not published", key, committed[key])
			case d == nil || d.published:
				// Resolved before the kill (its segment was deleted), or
				// its published marker was on disk: not published again.
				if n != 1 {
					t.Errorf("%s: published %d times, though it was marked published", key, n)
				}
			case n > 2:
				t.Errorf("%s: published %d times", key, n)
			}
		}
	}
}
