package redisq

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// CheckPersistence reports whether Redis keeps acknowledged publishes
// across a crash: AOF on (appendonly yes) with appendfsync always (nothing
// lost) or everysec (a host crash loses about the last second), and no
// eviction policy that may drop the queue's keys. detail says what was
// found, in words for an operator; s3gate warns with it when ok is false.
//
// When CONFIG is disabled or renamed (common on managed Redis) the fsync
// policy cannot be read: ok is false and detail says so, without an
// error. err is for Redis not answering at all. For a cluster every master
// is checked.
func CheckPersistence(ctx context.Context, client redis.UniversalClient) (ok bool, detail string, err error) {
	cc, isCluster := client.(*redis.ClusterClient)
	if !isCluster {
		return checkNode(ctx, client)
	}
	var mu sync.Mutex
	ok = true
	var details []string
	err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		nodeOK, d, err := checkNode(ctx, c)
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		ok = ok && nodeOK
		details = append(details, c.Options().Addr+": "+d)
		return nil
	})
	if err != nil {
		return false, "", err
	}
	slices.Sort(details)
	return ok, strings.Join(details, "; "), nil
}

func checkNode(ctx context.Context, c redis.Cmdable) (bool, string, error) {
	cfg := map[string]string{}
	var cfgErr error
	for _, pattern := range []string{"append*", "save", "maxmemory*"} {
		m, err := c.ConfigGet(ctx, pattern).Result()
		if err != nil {
			cfgErr = err
			break
		}
		maps.Copy(cfg, m)
	}
	if cfgErr != nil && !isServerError(cfgErr) {
		return false, "", fmt.Errorf("redisq: CONFIG GET: %w", cfgErr)
	}
	text, infoErr := c.Info(ctx, "persistence").Result()
	if infoErr != nil && !isServerError(infoErr) {
		return false, "", fmt.Errorf("redisq: INFO persistence: %w", infoErr)
	}
	info := map[string]string{}
	if infoErr == nil {
		info = parseInfo(text)
	}
	ok, detail := judgePersistence(cfg, cfgErr, info)
	return ok, detail, nil
}

// isServerError tells a reply from Redis (unknown command, no permission)
// from a failure to reach it.
func isServerError(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}

func parseInfo(text string) map[string]string {
	out := map[string]string{}
	for line := range strings.Lines(text) {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// judgePersistence decides from CONFIG (nil cfgErr) and INFO persistence
// (empty when unavailable).
func judgePersistence(cfg map[string]string, cfgErr error, info map[string]string) (bool, string) {
	var ok bool
	var notes []string
	aof := ""
	if cfgErr == nil {
		aof = cfg["appendonly"]
	} else {
		notes = append(notes, fmt.Sprintf("CONFIG unavailable (%v)", cfgErr))
		switch info["aof_enabled"] {
		case "1":
			aof = "yes"
		case "0":
			aof = "no"
		}
	}
	switch aof {
	case "yes":
		switch fsync := cfg["appendfsync"]; fsync {
		case "always":
			ok = true
			notes = append(notes, "appendonly yes, appendfsync always: no acknowledged publish is lost in a crash")
		case "everysec":
			ok = true
			notes = append(notes, "appendonly yes, appendfsync everysec: a crash of the host loses about the last second (up to two when the disk stalls) of acknowledged publishes; a redis-server crash or restart loses none")
		case "":
			notes = append(notes, "AOF is on but its fsync policy is unknown: acknowledged publishes may be lost in a crash")
		default:
			notes = append(notes, fmt.Sprintf("appendonly yes but appendfsync %s: a crash of the host loses what the OS has not written yet (often tens of seconds)", fsync))
		}
	case "no":
		if save := cfg["save"]; save != "" {
			notes = append(notes, fmt.Sprintf("appendonly no, RDB snapshots only (save %q): a Redis crash loses every publish since the last snapshot", save))
		} else if cfgErr == nil {
			notes = append(notes, "appendonly no and no RDB snapshots: a Redis restart loses every queued event")
		} else {
			notes = append(notes, "AOF is off (INFO): a Redis crash loses publishes since the last RDB snapshot, if any")
		}
	default:
		notes = append(notes, "persistence unknown: neither CONFIG nor INFO persistence answered")
	}
	if info["aof_last_write_status"] == "err" {
		ok = false
		notes = append(notes, "the last AOF write failed")
	}
	if policy := cfg["maxmemory-policy"]; strings.HasPrefix(policy, "allkeys-") && cfg["maxmemory"] != "0" {
		ok = false
		notes = append(notes, fmt.Sprintf("maxmemory-policy %s: under memory pressure Redis may evict the queue's keys", policy))
	}
	return ok, strings.Join(notes, "; ")
}
