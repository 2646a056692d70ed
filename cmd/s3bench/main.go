// Command s3bench measures s3gate against going straight to the S3
// service behind it. It starts versitygw (posix backend) and s3gate with
// that versitygw as its default backend, runs the same workloads straight
// against versitygw ("direct") and through s3gate, alternating, and prints
// throughput, latency, the ratio through/direct, and s3gate's CPU time
// and peak memory. `make bench` runs it; see docs/benchmarks.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

type options struct {
	duration, warmup time.Duration
	rounds           int
	scenario         string
	only             *regexp.Regexp
	link             string
	s3gate           string
	versitygw        string
	backend          string
	cpuprofile       string
	profileDir       string
	gatewayArgs      string
}

func main() {
	var o options
	var only string
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "measured time of one cell: one workload, one side, one round")
	flag.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured run before each cell")
	flag.IntVar(&o.rounds, "rounds", 2, "rounds per workload; the sides alternate: direct, s3gate, then s3gate, direct, ...")
	flag.StringVar(&o.scenario, "scenario", "both", "loopback, 1gbit or both")
	flag.StringVar(&only, "only", "", "run only the workloads whose name matches this regular expression, e.g. 'put|get-64MiB'")
	flag.StringVar(&o.link, "link", "auto", "how the 1gbit scenario limits the link: netns (veth pair and tc), relay (throttled TCP relay in s3bench) or auto (netns if it can be set up)")
	flag.StringVar(&o.s3gate, "s3gate", "bin/s3gate", "the s3gate binary")
	flag.StringVar(&o.versitygw, "versitygw", "", "the versitygw binary (default: versitygw on PATH, else ~/go/bin/versitygw)")
	flag.StringVar(&o.backend, "gateway-backend", "origin", "s3gate's backend: origin (the versitygw, as benchmarked) or fs (its own data dir, to try the harness alone)")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "write s3bench's own (client side) CPU profile to this file")
	flag.StringVar(&o.gatewayArgs, "gateway-args", "", "extra flags for s3gate serve, e.g. '--no-events-enabled' to measure without events and hooks")
	flag.StringVar(&o.profileDir, "gateway-profile", "", "write s3gate's CPU profile of each measured s3gate cell to this directory (SCENARIO-WORKLOAD-rN.pprof; s3gate runs with --pprof)")
	flag.Parse()

	if err := o.check(only); err != nil {
		fmt.Fprintln(os.Stderr, "s3bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "s3bench:", err)
		os.Exit(1)
	}
}

func (o *options) check(only string) error {
	var err error
	if o.only, err = regexp.Compile(only); err != nil {
		return fmt.Errorf("-only: %w", err)
	}
	if !slices.Contains([]string{"loopback", "1gbit", "both"}, o.scenario) {
		return fmt.Errorf("-scenario %q: want loopback, 1gbit or both", o.scenario)
	}
	if !slices.Contains([]string{"auto", "netns", "relay"}, o.link) {
		return fmt.Errorf("-link %q: want auto, netns or relay", o.link)
	}
	if o.backend != "origin" && o.backend != "fs" {
		return fmt.Errorf("-gateway-backend %q: want origin or fs", o.backend)
	}
	if o.duration <= 0 || o.rounds < 1 || o.warmup < 0 {
		return errors.New("-duration and -rounds must be positive, -warmup not negative")
	}
	if o.s3gate, err = filepath.Abs(o.s3gate); err != nil {
		return err
	}
	if _, err := os.Stat(o.s3gate); err != nil {
		return fmt.Errorf("-s3gate: %w (make bench builds it)", err)
	}
	if o.versitygw == "" {
		if o.versitygw, err = exec.LookPath("versitygw"); err != nil {
			home, _ := os.UserHomeDir()
			o.versitygw = filepath.Join(home, "go", "bin", "versitygw")
		}
	}
	if _, err := os.Stat(o.versitygw); err != nil {
		return fmt.Errorf("versitygw: %w (go install github.com/versity/versitygw/cmd/versitygw@v1.8.0)", err)
	}
	return nil
}

func run(ctx context.Context, o options) error {
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	fmt.Printf("Machine: %s\n", machine(o.versitygw))
	fmt.Printf("Run: %s per cell after %s warm-up, %d rounds, sides alternating; s3gate backend: %s\n",
		o.duration, o.warmup, o.rounds, o.backend)
	for _, sc := range []string{"loopback", "1gbit"} {
		if o.scenario != "both" && o.scenario != sc {
			continue
		}
		if err := runScenario(ctx, o, sc); err != nil {
			return fmt.Errorf("%s: %w", sc, err)
		}
	}
	return nil
}

// row is one workload's results for both sides.
type row struct {
	w   workload
	res [2]sample     // direct, s3gate
	cpu [2][4]float64 // per side: CPU seconds of s3bench, s3gate, versitygw, the whole machine
	rss int64         // s3gate's peak RSS during the workload
}

func runScenario(ctx context.Context, o options, scenario string) error {
	var (
		org *origin
		err error
	)
	switch {
	case scenario == "loopback":
		org, err = loopbackOrigin()
	case o.link == "relay":
		org, err = relayOrigin(ctx)
	default:
		org, err = netnsOrigin(ctx)
		if err != nil && o.link == "auto" {
			fmt.Fprintf(os.Stderr, "s3bench: no network namespace (%v); using the throttled relay\n", err)
			org, err = relayOrigin(ctx)
		}
	}
	if err != nil {
		return err
	}
	defer org.close()

	tmp, err := os.MkdirTemp("", "s3bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"origin", "s3gate"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return err
		}
	}

	originKeys, gwKeys := newKeys("AKORIGIN"), newKeys("AKGATE")
	vgw, err := startVersitygw(o.versitygw, org.prefix, org.addr, filepath.Join(tmp, "origin"), originKeys)
	if err != nil {
		return err
	}
	defer vgw.stop()
	originURL := "http://" + org.dial
	gw, gwURL, opsURL, err := startS3gate(o.s3gate, filepath.Join(tmp, "s3gate"), originURL, originKeys, gwKeys, o.backend == "fs", o.profileDir != "", strings.Fields(o.gatewayArgs))
	if err != nil {
		return err
	}
	defer gw.stop()
	fmt.Fprintf(os.Stderr, "s3bench: %s: versitygw pid %d at %s, s3gate pid %d at %s\n", scenario, vgw.pid(), originURL, gw.pid(), gwURL)

	sides := [2]*side{
		{name: "direct", client: newClient(originURL, originKeys), bucket: "bench-direct", seeded: map[string]bool{}},
		{name: "s3gate", client: newClient(gwURL, gwKeys), bucket: "bench-s3gate", seeded: map[string]bool{}},
	}
	for _, s := range sides {
		if _, err := s.client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &s.bucket}); err != nil {
			return fmt.Errorf("%s: CreateBucket %s: %w", s.name, s.bucket, err)
		}
	}
	if o.backend == "origin" {
		// The benchmark means nothing unless s3gate's objects are versitygw's.
		if _, err := sides[0].client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(sides[1].bucket)}); err != nil {
			return fmt.Errorf("bucket %s, created through s3gate, is not on versitygw (%v): s3gate is not using its s3 backend; -gateway-backend fs runs the harness on s3gate's data dir", sides[1].bucket, err)
		}
	}

	pids := [3]int{os.Getpid(), gw.pid(), vgw.pid()}
	var rows []row
	for _, w := range workloads {
		if !o.only.MatchString(w.name) {
			continue
		}
		r := row{w: w}
		for _, s := range sides {
			if err := s.seed(ctx, w); err != nil {
				return err
			}
		}
		resetPeakRSS(gw.pid())
		for round := range o.rounds {
			for j := range 2 {
				i := j ^ round%2 // direct first in even rounds, s3gate first in odd ones
				var prof func()
				if o.profileDir != "" && sides[i].name == "s3gate" {
					prof = profileCell(opsURL, o.duration, filepath.Join(o.profileDir, fmt.Sprintf("%s-%s-r%d.pprof", scenario, w.name, round+1)))
				}
				smp, cpu := measure(ctx, o, sides[i], w, pids, fmt.Sprintf("%s %s round %d %s", scenario, w.name, round+1, sides[i].name), prof)
				r.res[i].merge(smp)
				for k := range cpu {
					r.cpu[i][k] += cpu[k]
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				select {
				case <-gw.done:
					return gw.exited()
				case <-vgw.done:
					return vgw.exited()
				default:
				}
			}
		}
		r.rss = peakRSS(gw.pid())
		rows = append(rows, r)
	}
	printTable(scenario, org.link, rows)
	return nil
}

// busyLimit is how many cores other processes may use during a cell
// before it is measured again: machines are shared.
const busyLimit = 0.3

// measure runs one cell, after its warm-up, and returns what it measured
// with the CPU seconds of s3bench, s3gate, versitygw and the machine. A
// cell during which other processes used more than busyLimit cores runs
// once more, a few seconds later; the quieter attempt counts.
func measure(ctx context.Context, o options, s *side, w workload, pids [3]int, label string, profile func()) (sample, [4]float64) {
	var (
		best     sample
		bestCPU  [4]float64
		bestRest = math.Inf(1)
	)
	for try := range 2 {
		if o.warmup > 0 {
			runCell(ctx, s, w, o.warmup, 0)
		}
		fmt.Fprintf(os.Stderr, "s3bench: %s: measuring\n", label)
		if profile != nil && try == 0 {
			profile()
		}
		before := cpuOf(pids)
		smp := runCell(ctx, s, w, o.duration, 2)
		after := cpuOf(pids)
		var cpu [4]float64
		for k := range cpu {
			cpu[k] = after[k] - before[k]
		}
		rest := max(0, cpu[3]-cpu[0]-cpu[1]-cpu[2]) / smp.wall.Seconds()
		fmt.Fprintf(os.Stderr, "s3bench: %s: %.1f ops/s, %d errors, other processes %.2f cores\n",
			label, float64(smp.ops)/smp.wall.Seconds(), smp.errs, rest)
		if smp.firstErr != nil {
			fmt.Fprintf(os.Stderr, "s3bench:   first error: %v\n", smp.firstErr)
		}
		if rest < bestRest {
			best, bestCPU, bestRest = smp, cpu, rest
		}
		if rest <= busyLimit || try == 1 {
			break
		}
		fmt.Fprintf(os.Stderr, "s3bench: %s: the machine is busy; measuring again\n", label)
		select {
		case <-ctx.Done():
			return best, bestCPU
		case <-time.After(3 * time.Second):
		}
	}
	return best, bestCPU
}

// cpuOf returns the CPU seconds of s3bench, s3gate and versitygw, and
// of the whole machine.
func cpuOf(pids [3]int) [4]float64 {
	var out [4]float64
	for i, pid := range pids {
		out[i] = cpuSeconds(pid)
	}
	out[3] = machineBusy()
	return out
}

// goal is the product's target for through/direct, 0 for none.
func goal(scenario string, w workload) float64 {
	if scenario == "1gbit" {
		if w.op == opPut || w.op == opGet {
			return 0.95
		}
		return 0
	}
	switch w.name {
	case "put-1MiB", "put-64MiB":
		return 0.95
	case "get-64MiB":
		return 0.6
	case "get-4KiB", "head-4KiB":
		return 0.75
	}
	return 0
}

// rssGoal is the product's limit for s3gate's resident memory.
const rssGoal = 200 << 20

func printTable(scenario, link string, rows []row) {
	fmt.Printf("\n### %s (%s)\n\n", scenario, link)
	fmt.Println("| workload | side | ops/s | MiB/s | p50 | p99 | through/direct | goal | s3gate CPU | s3gate peak RSS | CPU cores: s3bench + s3gate + versitygw (rest of machine) |")
	fmt.Println("|---|---|--:|--:|--:|--:|--:|---|--:|--:|---|")
	var (
		peak       int64
		rest, wall float64 // CPU seconds of the rest of the machine, and the time measured
	)
	for _, r := range rows {
		peak = max(peak, r.rss)
		for i, name := range []string{"direct", "s3gate"} {
			s := &r.res[i]
			slices.Sort(s.lat)
			secs := s.wall.Seconds()
			ops := fmt.Sprintf("%.0f", float64(s.ops)/secs)
			if s.errs > 0 {
				ops += fmt.Sprintf(" (%d errors)", s.errs)
			}
			mibs := "-"
			if s.bytes > 0 {
				mibs = fmt.Sprintf("%.1f", float64(s.bytes)/secs/(1<<20))
			}
			c := r.cpu[i]
			rest += max(0, c[3]-c[0]-c[1]-c[2])
			wall += secs
			cores := fmt.Sprintf("%.2f + %.2f + %.2f (rest %.2f)", c[0]/secs, c[1]/secs, c[2]/secs, max(0, c[3]-c[0]-c[1]-c[2])/secs)
			ratio, goalCell, cpu, rss := "", "", "", ""
			if i == 1 {
				d, t := &r.res[0], &r.res[1]
				q := (float64(t.ops) / t.wall.Seconds()) / (float64(d.ops) / d.wall.Seconds())
				ratio = fmt.Sprintf("**%.2f**", q)
				if g := goal(scenario, r.w); g > 0 {
					goalCell = fmt.Sprintf("≥ %.2f %s", g, mark(q >= g))
				}
				switch {
				case t.bytes > 0:
					cpu = fmt.Sprintf("%.2f s/GiB", r.cpu[1][1]/(float64(t.bytes)/(1<<30)))
				case t.ops > 0:
					cpu = fmt.Sprintf("%.0f µs/op", r.cpu[1][1]/float64(t.ops)*1e6)
				}
				rss = fmt.Sprintf("%.0f MiB", float64(r.rss)/(1<<20))
			}
			fmt.Printf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
				r.w.name, name, ops, mibs, ms(s.percentile(0.50)), ms(s.percentile(0.99)), ratio, goalCell, cpu, rss, cores)
		}
	}
	fmt.Printf("\ns3gate peak RSS: %.0f MiB (goal < %d MiB %s)\n", float64(peak)/(1<<20), rssGoal>>20, mark(peak < rssGoal))
	if wall > 0 && rest/wall > 0.2 {
		fmt.Printf("\n**Warning:** other processes used %.2f CPU cores on average while this table was measured; its figures are not trustworthy.\n", rest/wall)
	}
}

func mark(ok bool) string {
	if ok {
		return "✓"
	}
	return "✗"
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f ms", v)
	case v < 100:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

// machine describes where the benchmark runs.
func machine(versitygw string) string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("%d CPUs (nproc), %s, Linux %s, %s, versitygw %s",
		runtime.NumCPU(), model, strings.TrimSpace(string(kernel)), runtime.Version(), moduleVersion(versitygw))
}
