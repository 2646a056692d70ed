package config

import (
	"fmt"
	"net/url"
	"time"
)

// Events configures the events every write emits and the hooks that act on
// them.
type Events struct {
	Enabled bool   `default:"true" negatable:"" help:"Record an event for every write and run the hooks on it."`
	Queue   string `default:"disk" enum:"disk,redis" help:"Where events wait for the hooks: disk (a durable queue in the data dir) or redis (Redis Streams, shared by every replica; set events-redis-url)."`
	// RedisURL is parsed by go-redis: redis://[user:pass@]host:port/db.
	RedisURL    string        `name:"redis-url" placeholder:"URL" help:"Redis for the event queue: redis://[:password@]host:6379/0. It must persist (appendonly yes); s3gate warns at start when it does not."`
	RedisPrefix string        `name:"redis-prefix" default:"s3gate:" help:"Prefix of every Redis key of the event queue."`
	Replica     uint32        `default:"0" help:"This replica's id in event sequencers; 0 picks a random one at each start."`
	Workers     int           `default:"4" help:"Events each hook handles at once on this replica."`
	MaxAttempts int           `name:"max-attempts" default:"5" help:"Attempts at an event before a hook gives up on it and dead-letters it."`
	ClaimAfter  time.Duration `name:"claim-after" default:"30s" help:"How long an event may stay unacknowledged before another worker takes it over."`
	Metadata    bool          `default:"true" negatable:"" help:"Run the metadata hook: one catalogue row per object (GET /api/v1/objects)."`
}

func (e Events) validate() error {
	if !e.Enabled {
		return nil
	}
	if e.Queue == "redis" {
		if e.RedisURL == "" {
			return settingError("events-redis-url", "must be set when events-queue is redis")
		}
		if u, err := url.Parse(e.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") {
			return settingError("events-redis-url", fmt.Sprintf("%q is not a redis://, rediss:// or unix:// URL", redact(e.RedisURL)))
		}
	}
	if e.Workers < 1 || e.Workers > 1024 {
		return settingError("events-workers", "must be between 1 and 1024")
	}
	if e.MaxAttempts < 1 || e.MaxAttempts > 100 {
		return settingError("events-max-attempts", "must be between 1 and 100")
	}
	if e.ClaimAfter < time.Second {
		return settingError("events-claim-after", "must be at least 1s")
	}
	return nil
}

// redact hides a URL's password.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
