package events

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sync"
	"time"
)

// Sequencer issues the sequencers that order writes to one key, across
// replicas: a hybrid logical clock (milliseconds of wall time and a
// counter, never going backwards even when the wall clock does) followed by
// the replica's id as a tiebreak. Rendered as 28 upper-case hex digits of
// fixed width, sequencers compare as strings, as S3's do.
//
// Writes to one key through different replicas are ordered by their
// replicas' clocks; keep them synchronised (NTP) to well under the time
// between two writes to one key that must be told apart. The ETag cannot
// serve: two writes of the same bytes have the same one.
type Sequencer struct {
	mu      sync.Mutex
	replica uint32
	ms      int64  // milliseconds of the last sequencer issued
	n       uint32 // its counter within that millisecond
	now     func() time.Time
}

// NewSequencer returns a Sequencer for a replica; replica 0 picks a random
// id, enough to keep concurrent replicas apart.
func NewSequencer(replica uint32) *Sequencer {
	if replica == 0 {
		var b [4]byte
		rand.Read(b[:])
		replica = binary.BigEndian.Uint32(b[:]) | 1
	}
	return &Sequencer{replica: replica, now: time.Now}
}

// Next returns a sequencer greater than every one this Sequencer issued
// before.
func (s *Sequencer) Next() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	ms := s.now().UnixMilli()
	if ms > s.ms {
		s.ms, s.n = ms, 0
	} else {
		// The clock stood still or went back: count on from the last one.
		s.n++
		if s.n == 0 { // 2^32 in one millisecond: borrow the next one
			s.ms++
		}
	}
	return fmt.Sprintf("%012X%08X%08X", uint64(s.ms)&0xFFFFFFFFFFFF, s.n, s.replica)
}

// Observe moves the clock past a sequencer seen elsewhere (another
// replica's, read back from the outbox or an event), so that writes this
// replica makes after it order after it.
func (s *Sequencer) Observe(seq string) {
	var ms uint64
	var n, replica uint32
	if _, err := fmt.Sscanf(seq, "%012X%08X%08X", &ms, &n, &replica); err != nil || len(seq) != 28 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if int64(ms) > s.ms || (int64(ms) == s.ms && n > s.n) {
		s.ms, s.n = int64(ms), n
	}
}
