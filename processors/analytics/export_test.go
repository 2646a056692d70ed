package analytics

import "time"

// SetProbeBackoff shortens the probe's backoff for tests; call it before Run.
func SetProbeBackoff(r *Recorder, lo, hi time.Duration) { r.probeMin, r.probeMax = lo, hi }

// ProbeBackoff is the probe's first and longest wait.
func ProbeBackoff(r *Recorder) (lo, hi time.Duration) { return r.probeMin, r.probeMax }

// EncodeRequests is the spool's encoding of a batch.
func EncodeRequests(rows []Request) []byte {
	data, _, _ := encodeRows(rows)
	return data
}
