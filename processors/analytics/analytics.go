// Package analytics records every S3 request and every hook outcome for
// usage statistics and capacity questions: in ClickHouse in the
// scaled-out shape (analytics/clickhouse), in a SQLite table in the data
// dir in the embedded one (analytics/embedded).
//
// Recording never slows or fails a request: the gateway hands a row to a
// Recorder, which queues it in memory and writes batches (bounded in rows
// and in time) to a Sink in the background. When the sink cannot be
// reached, batches spool to disk (bounded; the oldest are dropped first,
// and counted) and are sent again when it returns. A replayed batch may
// have been stored already: sinks de-duplicate by the row's ID.
package analytics

import (
	"context"
	"time"
)

// Request is one S3 request.
type Request struct {
	// ID is the request id (x-amz-request-id): unique, the de-duplication key.
	ID        string    `json:"id"`
	Time      time.Time `json:"time"` // when the request arrived
	Operation string    `json:"op"`   // GetObject, PutObject, ... (Unknown when unrouted)
	Bucket    string    `json:"bucket,omitempty"`
	Key       string    `json:"key,omitempty"`
	Principal string    `json:"principal,omitempty"`
	AuthKind  string    `json:"auth,omitempty"` // sigv4, presigned, jwt, sts, anonymous
	SourceIP  string    `json:"ip,omitempty"`
	UserAgent string    `json:"ua,omitempty"`
	Status    int       `json:"status"`
	ErrorCode string    `json:"error,omitempty"` // the S3 error code, "" on success
	BytesIn   int64     `json:"in"`
	BytesOut  int64     `json:"out"`
	// Latency is the whole request; BackendLatency the part spent waiting
	// for the backend.
	Latency        time.Duration `json:"latency"`
	BackendLatency time.Duration `json:"backend_latency"`
	// Cache is "hit" or "miss" for requests a cache answered or could
	// have, "" otherwise.
	Cache string `json:"cache,omitempty"`
}

// HookOutcome is one attempt of one hook at one event.
type HookOutcome struct {
	// ID is unique per event, processor and attempt: the de-duplication key.
	ID        string        `json:"id"`
	Time      time.Time     `json:"time"` // when the attempt ended
	Processor string        `json:"processor"`
	Bucket    string        `json:"bucket"`
	Key       string        `json:"key"`
	Attempt   int           `json:"attempt"`
	Result    string        `json:"result"` // ok, retry, dead_letter, skipped
	Duration  time.Duration `json:"duration"`
}

// Sink stores batches of rows. Writing a row whose ID is stored already
// must not make it count twice.
type Sink interface {
	WriteRequests(ctx context.Context, rows []Request) error
	WriteHooks(ctx context.Context, rows []HookOutcome) error
	Close() error
}
