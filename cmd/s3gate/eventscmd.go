package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kong"
	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/s3gate/s3gate/config"
	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/identity"
)

// adminClient is what the commands that drive a running s3gate share:
// where its admin API is and the key to sign requests with. They ask the
// server rather than open its state: the embedded queue and index are
// locked by it.
type adminClient struct {
	ConfigFile    kong.ConfigFlag `name:"config" help:"YAML configuration file (the one serve uses): it says where the admin API listens and where the root key is." placeholder:"FILE"`
	config.Config `embed:""`

	URL       string `name:"admin-url" env:"S3GATE_ADMIN_URL" placeholder:"URL" help:"Base URL of the admin API; default http://OPS-LISTEN."`
	AccessKey string `name:"admin-access-key" env:"S3GATE_ADMIN_ACCESS_KEY" help:"Access key to sign admin requests with; default the root key (root-access-key, or the one kept in the data dir)."`
	SecretKey string `name:"admin-secret-key" env:"S3GATE_ADMIN_SECRET_KEY" help:"Secret key of admin-access-key."`

	stdout io.Writer
	http   *http.Client
}

// eventsCmd inspects and drives the event pipeline of a running s3gate
// through its admin API.
type eventsCmd struct {
	adminClient `embed:""`

	DLQ      eventsDLQCmd      `cmd:"" name:"dlq" help:"Show and replay events the hooks gave up on."`
	Backfill eventsBackfillCmd `cmd:"" help:"Emit events for objects that already exist, so hooks catch up with them."`
}

type eventsDLQCmd struct {
	List   eventsDLQListCmd   `cmd:"" help:"List dead letters."`
	Replay eventsDLQReplayCmd `cmd:"" help:"Publish dead letters again, for their hook to retry."`
}

type eventsDLQListCmd struct {
	Processor string `env:"-" help:"Only this hook's dead letters."`
	Limit     int    `default:"100" env:"-" help:"At most this many per hook."`
	JSON      bool   `name:"json" env:"-" help:"Print JSON instead of a table."`
}

type eventsDLQReplayCmd struct {
	Processor string   `required:"" env:"-" help:"The hook whose dead letters to replay."`
	All       bool     `env:"-" help:"Replay all of the hook's dead letters (up to 1000)."`
	IDs       []string `arg:"" optional:"" name:"id" env:"-" help:"Dead letter ids (from dlq list)."`
}

type eventsBackfillCmd struct {
	Bucket string `required:"" env:"-" help:"Bucket whose objects get events."`
	Prefix string `env:"-" help:"Only keys under this prefix."`
}

func (e *adminClient) Validate() error {
	s := serveCmd{ConfigFile: e.ConfigFile, Config: e.Config}
	if err := s.Validate(); err != nil {
		return err
	}
	e.Config = s.Config
	return nil
}

func (e *adminClient) out() io.Writer {
	if e.stdout != nil {
		return e.stdout
	}
	return os.Stdout
}

// credentials are the ones admin requests are signed with.
func (e *adminClient) credentials() (aws.Credentials, error) {
	switch {
	case e.AccessKey != "":
		return aws.Credentials{AccessKeyID: e.AccessKey, SecretAccessKey: e.SecretKey}, nil
	case e.Root.AccessKey != "":
		return aws.Credentials{AccessKeyID: e.Root.AccessKey, SecretAccessKey: e.Root.SecretKey}, nil
	}
	path := filepath.Join(e.DataDir, identity.RootCredentialsFile)
	if notExist(path) {
		return aws.Credentials{}, fmt.Errorf("no credentials: set --admin-access-key and --admin-secret-key, or point --data-dir at the server's data dir (no %s there)", path)
	}
	root, _, err := identity.LoadOrCreateRoot(e.DataDir)
	if err != nil {
		return aws.Credentials{}, err
	}
	return aws.Credentials{AccessKeyID: root.ID, SecretAccessKey: root.Secret}, nil
}

// call sends a signed admin request and returns the response when its
// status is 2xx; otherwise the API's error as a Go error.
func (e *adminClient) call(ctx context.Context, method, path string, body any) (*http.Response, error) {
	base := e.URL
	if base == "" {
		base = "http://" + e.OpsListen
	}
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	creds, err := e.credentials()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(payload)
	hash := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", hash)
	if err := v4.NewSigner().SignHTTP(ctx, creds, req, hash, "s3", e.Region, time.Now()); err != nil {
		return nil, err
	}
	client := e.http
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API at %s: %w", base, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var ae struct{ Code, Message string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &ae) != nil || ae.Code == "" {
			return nil, fmt.Errorf("admin API: %s", resp.Status)
		}
		return nil, fmt.Errorf("admin API: %s: %s", ae.Code, ae.Message)
	}
	return resp, nil
}

func (c *eventsDLQListCmd) Run(e *eventsCmd) error {
	q := url.Values{"limit": {fmt.Sprint(c.Limit)}}
	if c.Processor != "" {
		q.Set("processor", c.Processor)
	}
	resp, err := e.call(context.Background(), http.MethodGet, "/api/v1/events/dlq?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct {
		DeadLetters []gateway.DeadLetterInfo `json:"dead_letters"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(e.out())
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.out(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROCESSOR\tAT\tDELIVERIES\tEVENT\tREASON")
	for _, d := range out.DeadLetters {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Processor, d.At.Format(time.RFC3339), d.Deliveries, describeEvent(d.Event), d.Reason)
	}
	return tw.Flush()
}

// describeEvent names an event's kind and object in a few words.
func describeEvent(raw json.RawMessage) string {
	var m struct {
		Records []struct {
			EventName string `json:"eventName"`
			S3        struct {
				Bucket struct{ Name string } `json:"bucket"`
				Object struct{ Key string }  `json:"object"`
			} `json:"s3"`
		} `json:"Records"`
	}
	if json.Unmarshal(raw, &m) != nil || len(m.Records) == 0 {
		return "(unreadable event)"
	}
	r := m.Records[0]
	key, err := url.QueryUnescape(r.S3.Object.Key)
	if err != nil {
		key = r.S3.Object.Key
	}
	return r.EventName + " " + r.S3.Bucket.Name + "/" + key
}

func (c *eventsDLQReplayCmd) Run(e *eventsCmd) error {
	ctx := context.Background()
	ids := c.IDs
	switch {
	case c.All && len(ids) > 0:
		return fmt.Errorf("give dead letter ids or --all, not both")
	case c.All:
		resp, err := e.call(ctx, http.MethodGet, "/api/v1/events/dlq?processor="+url.QueryEscape(c.Processor), nil)
		if err != nil {
			return err
		}
		var out struct {
			DeadLetters []gateway.DeadLetterInfo `json:"dead_letters"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			return err
		}
		for _, d := range out.DeadLetters {
			ids = append(ids, d.ID)
		}
		if len(ids) == 0 {
			fmt.Fprintf(e.out(), "%s has no dead letters\n", c.Processor)
			return nil
		}
	case len(ids) == 0:
		return fmt.Errorf("name the dead letters to replay (ids from `s3gate events dlq list`), or --all")
	}
	resp, err := e.call(ctx, http.MethodPost, "/api/v1/events/dlq/replay", map[string]any{"processor": c.Processor, "ids": ids})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var out struct{ Replayed int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return err
	}
	fmt.Fprintf(e.out(), "replayed %d dead letters of %s\n", out.Replayed, c.Processor)
	return nil
}

func (c *eventsBackfillCmd) Run(e *eventsCmd) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	resp, err := e.call(ctx, http.MethodPost, "/api/v1/events/backfill", map[string]string{"bucket": c.Bucket, "prefix": c.Prefix})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	bar := newProgressBar(e.out(), "backfill "+c.Bucket+"/"+c.Prefix)
	last, err := followLines(resp.Body, func(l gateway.BackfillLine) { bar.show(l.Emitted, l.Total) },
		func(l gateway.BackfillLine) bool { return l.Done || l.Error != "" })
	bar.end()
	switch {
	case err != nil:
		return fmt.Errorf("backfill after %d events: %w", last.Emitted, err)
	case last.Error != "":
		return fmt.Errorf("backfill stopped after %d events: %s", last.Emitted, last.Error)
	}
	fmt.Fprintf(e.out(), "backfill %s/%s: %d events emitted, %d keys skipped\n", c.Bucket, c.Prefix, last.Emitted, last.Skipped)
	return nil
}
