package outbox

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/s3gate/s3gate/processors/events"
)

// FuzzTornTail appends arbitrary bytes to the newest segment: Open must
// succeed, keep every record written before them, and go on appending
// after what it keeps.
func FuzzTornTail(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add(appendMarker(nil, recPublished, 1)[:9])
	f.Add(appendMarker(nil, recPublished, 1))
	f.Add(appendMarker(nil, recAbort, 4))
	f.Add(appendIntent(nil, 5, []byte(`{"eventName":"ObjectCreated:Put"}`)))
	f.Add(appendSummary(nil, 1, 4, bitset{0b1011}))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		opts := Options{Fsync: new(false)}
		o := open(t, dir, nil, opts)
		want := commitN(t, o, 1, "a", "b", "c")
		begin(t, o, putRec("d", 4))
		closeO(t, o)
		appendFile(t, segFiles(t, dir)[0], tail)

		q := openQueue(t, filepath.Join(t.TempDir(), "q"))
		opts.Publishers = 1
		o = open(t, dir, q, opts)
		if _, err := o.Recover(t.Context(), func(_ context.Context, in events.Record) (events.Record, bool, error) {
			return in, false, nil
		}); err != nil {
			t.Fatal(err)
		}
		// The tail may have resolved the intents, but cannot take back
		// what is before it.
		want = append(want, commitN(t, o, 5, "after")...)
		run(t, o)
		waitIdle(t, o)
		got := drain(t, q)
		idx := 0
		for _, r := range got {
			if idx < len(want) && r.Key() == want[idx].Key() {
				idx++
			}
		}
		if st := o.Stats(); st.Pending != 0 {
			t.Fatalf("after publishing: %+v", st)
		}
		if len(got) > len(want) {
			t.Fatalf("published %q, more than the %d events written", keysOf(got), len(want))
		}
		if got[len(got)-1].Key() != "after" {
			t.Fatalf("published %q; the event committed after the repair is missing", keysOf(got))
		}
	})
}
