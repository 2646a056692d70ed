package diskq

import (
	"testing"
	"time"

	"github.com/s3gate/s3gate/processors/queue"
	"github.com/s3gate/s3gate/processors/queue/queuetest"
)

const suiteClaimAfter = 200 * time.Millisecond

// TestAcceptance runs the shared queue suite against the disk queue, with
// small segments so that trimming deletes files.
func TestAcceptance(t *testing.T) {
	opts := Options{ClaimAfter: suiteClaimAfter, SegmentSize: 512}
	queuetest.Run(t, queuetest.Factory{
		Open: func(t *testing.T) queue.Queue {
			dir := t.TempDir()
			q, err := Open(dir, opts)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { q.Close() })
			return q
		},
		Reopen: func(t *testing.T, q queue.Queue) queue.Queue {
			dq := q.(*Queue)
			if err := dq.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			nq, err := Open(dq.dir, opts)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			t.Cleanup(func() { nq.Close() })
			return nq
		},
		ClaimAfter: suiteClaimAfter,
	})
}
