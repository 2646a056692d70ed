package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/s3gate/s3gate/gateway"
	"github.com/s3gate/s3gate/processors/analytics"
)

// statsCmd prints the usage statistics of a running s3gate (GET
// /api/v1/stats) as tables.
type statsCmd struct {
	adminClient `embed:""`

	Since    time.Duration `env:"-" default:"24h" help:"Look back this far (ignored with --from)."`
	From     string        `env:"-" placeholder:"TIME" help:"Start of the range (RFC 3339)."`
	To       string        `env:"-" placeholder:"TIME" help:"End of the range (RFC 3339); default now."`
	Interval time.Duration `env:"-" help:"Split the range into intervals of this width (15m, 1h, 24h); default one."`
	Bucket   []string      `env:"-" help:"Only these buckets (repeat, or comma-separate)."`
	By       []string      `env:"-" enum:"bucket,operation,principal" default:"bucket,operation,principal" help:"Requests and bytes by these (bucket, operation, principal)."`
	Top      int           `env:"-" default:"10" help:"How many of the most downloaded objects to list."`
	JSON     bool          `name:"json" env:"-" help:"Print the API's JSON instead of tables."`
}

func (c *statsCmd) Run() error {
	q := url.Values{"top": {strconv.Itoa(c.Top)}, "by": {strings.Join(c.By, ",")}}
	to := time.Now().UTC()
	if c.To != "" {
		t, err := time.Parse(time.RFC3339Nano, c.To)
		if err != nil {
			return fmt.Errorf("--to %q: want an RFC 3339 time", c.To)
		}
		to = t
	}
	q.Set("to", to.Format(time.RFC3339Nano))
	if c.From != "" {
		q.Set("from", c.From)
	} else {
		q.Set("from", to.Add(-c.Since).Format(time.RFC3339Nano))
	}
	if c.Interval > 0 {
		q.Set("interval", c.Interval.String())
	}
	if len(c.Bucket) > 0 {
		q.Set("bucket", strings.Join(c.Bucket, ","))
	}
	resp, err := c.call(context.Background(), http.MethodGet, "/api/v1/stats?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var st gateway.Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return err
	}
	if c.JSON {
		enc := json.NewEncoder(c.out())
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	return printStats(c.out(), st, c.By)
}

// printStats writes st as one table a section.
func printStats(w io.Writer, st gateway.Stats, by []string) error {
	scope := "all buckets"
	if len(st.Buckets) > 0 {
		scope = strings.Join(st.Buckets, ", ")
	}
	fmt.Fprintf(w, "%s to %s, %s\n", st.From.Format(time.RFC3339), st.To.Format(time.RFC3339), scope)
	perInterval := st.IntervalSeconds > 0
	when := func(t time.Time) string {
		if perInterval {
			return t.Format(time.RFC3339) + "\t"
		}
		return ""
	}
	whenHead := ""
	if perInterval {
		whenHead = "TIME\t"
	}
	var err error
	section := func(title, head string, rows func(tw *tabwriter.Writer)) {
		if err != nil {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, head)
		rows(tw)
		err = tw.Flush()
	}
	for _, d := range by {
		section("Requests by "+d, whenHead+strings.ToUpper(d)+"\tREQUESTS\tERRORS\tBYTES IN\tBYTES OUT\t", func(tw *tabwriter.Writer) {
			for _, u := range st.Requests[analytics.Dimension(d)] {
				fmt.Fprintf(tw, "%s%s\t%d\t%d\t%d\t%d\t\n", when(u.Time), orNone(u.Key), u.Requests, u.Errors, u.BytesIn, u.BytesOut)
			}
		})
	}
	section("Most downloaded objects", "BUCKET\tKEY\tDOWNLOADS\tBYTES OUT\t", func(tw *tabwriter.Writer) {
		for _, o := range st.TopObjects {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t\n", o.Bucket, o.Key, o.Downloads, o.BytesOut)
		}
	})
	section("Errors and latency by operation", whenHead+"OPERATION\tREQUESTS\tERRORS\tERROR RATE\tP50\tP95\tP99\tBACKEND P99\t", func(tw *tabwriter.Writer) {
		for _, o := range st.Operations {
			fmt.Fprintf(tw, "%s%s\t%d\t%d\t%.2f%%\t%s\t%s\t%s\t%s\t\n", when(o.Time), o.Operation, o.Requests, o.Errors, 100*o.ErrorRate,
				ms(o.P50), ms(o.P95), ms(o.P99), ms(o.BackendP99))
		}
	})
	section("Hook outcomes", whenHead+"HOOK\tRESULT\tOUTCOMES\tP50\tP95\tP99\t", func(tw *tabwriter.Writer) {
		for _, h := range st.Hooks {
			fmt.Fprintf(tw, "%s%s\t%s\t%d\t%s\t%s\t%s\t\n", when(h.Time), h.Processor, h.Result, h.Outcomes, ms(h.P50), ms(h.P95), ms(h.P99))
		}
	})
	if st.Storage != nil {
		section("Stored now", "BUCKET\tOBJECTS\tBYTES\t", func(tw *tabwriter.Writer) {
			for _, b := range st.Storage.Current {
				fmt.Fprintf(tw, "%s\t%d\t%d\t\n", b.Bucket, b.Objects, b.Bytes)
			}
		})
		section("Storage growth (objects still stored, by when they arrived)", "TIME\tBUCKET\tADDED\tADDED BYTES\tTOTAL\tTOTAL BYTES\t", func(tw *tabwriter.Writer) {
			for _, g := range st.Storage.Growth {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t\n", g.Time.Format(time.RFC3339), g.Bucket, g.Objects, g.Bytes, g.TotalObjects, g.TotalBytes)
			}
		})
	}
	return err
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ms shows a latency in milliseconds, to the microsecond.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 3, 64) + "ms"
}
