package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is a server process started by s3bench: versitygw or s3gate.
type proc struct {
	name string
	cmd  *exec.Cmd
	tail *tailBuffer // the last lines of its output, for error messages
	done chan struct{}
	err  error // cmd.Wait's result, valid once done is closed
}

// start runs argv with a clean environment plus env. The process is
// killed if s3bench dies; line, when set, sees each line of its stderr.
func start(name string, argv, env []string, line func(string)) (*proc, error) {
	p := &proc{name: name, tail: &tailBuffer{max: 40}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.TempDir(),
		"AWS_CONFIG_FILE=/dev/null",
		"AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true",
	}, env...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout = io.Discard
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.tail.add(sc.Text())
			if line != nil {
				line(sc.Text())
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited describes an early exit, with the process's last output.
func (p *proc) exited() error {
	return fmt.Errorf("%s exited early (%v); its last output:\n%s", p.name, p.err, p.tail)
}

// stop sends SIGTERM and waits; after 15 seconds it kills.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// startVersitygw runs versitygw's posix backend on addr with a fresh data
// dir; prefix (e.g. "ip netns exec NS") runs it in another namespace.
func startVersitygw(bin string, prefix []string, addr, dataDir string, k keys) (*proc, error) {
	argv := append(append([]string{}, prefix...), bin, "--access", k.access, "--secret", k.secret,
		"--port", addr, "--keep-alive", "--quiet", "posix", dataDir)
	p, err := start("versitygw", argv, nil, nil)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, p.exited()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("versitygw not accepting connections on %s after 30s: %v", addr, err)
		}
	}
}

// startS3gate runs s3gate with a config file that makes originURL its
// default backend (or, with fsOnly, its own data dir) and returns it with
// its S3 URL from the "s3gate ready" log line.
func startS3gate(bin, dir, originURL string, origin, root keys, fsOnly, pprof bool, extra []string) (*proc, string, string, error) {
	cfg := "log:\n  format: json\n"
	if !fsOnly {
		cfg += fmt.Sprintf(`default_backend: origin
backends:
  - name: origin
    type: s3
    capabilities: versitygw
    endpoint: %s
    region: us-east-1
    access_key: %s
    secret_key: %s
    path_style: true
`, originURL, origin.access, origin.secret)
	}
	cfgFile := filepath.Join(dir, "s3gate.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, "", "", err
	}
	ready := make(chan [2]string, 1)
	onLine := func(line string) {
		var rec struct {
			Msg string `json:"msg"`
			S3  string `json:"s3"`
			Ops string `json:"ops"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "s3gate ready" {
			select {
			case ready <- [2]string{rec.S3, rec.Ops}:
			default:
			}
		}
	}
	argv := []string{bin, "serve", "--config", cfgFile, "--data-dir", filepath.Join(dir, "data"),
		"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--log-format", "json", "--no-log-access"}
	if pprof {
		argv = append(argv, "--pprof")
	}
	argv = append(argv, extra...)
	env := []string{"S3GATE_ROOT_ACCESS_KEY=" + root.access, "S3GATE_ROOT_SECRET_KEY=" + root.secret}
	p, err := start("s3gate", argv, env, onLine)
	if err != nil {
		return nil, "", "", err
	}
	select {
	case urls := <-ready:
		return p, urls[0], urls[1], nil
	case <-p.done:
		return nil, "", "", p.exited()
	case <-time.After(60 * time.Second):
		p.stop()
		return nil, "", "", fmt.Errorf(`no "s3gate ready" line after 60s; s3gate's last output:\n%s`, p.tail)
	}
}

// cpuSeconds is a process's user plus system CPU time from /proc/PID/stat.
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at
	// field 3, the state; utime and stime are fields 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// machineBusy is the CPU time all CPUs have spent not idle, from /proc/stat:
// user, nice, system, irq, softirq and steal.
func machineBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	var sum float64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			v, _ := strconv.ParseFloat(f[i], 64)
			sum += v
		}
	}
	return sum / 100
}

// peakRSS is a process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// resetPeakRSS starts a new VmHWM period ("5" in clear_refs), so that
// each workload reports its own peak.
func resetPeakRSS(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// sh runs a short helper command (ip, tc), returning its output in the
// error.
func sh(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// tailBuffer keeps the last max lines written to it.
type tailBuffer struct {
	mu    sync.Mutex
	max   int
	lines []string
}

func (t *tailBuffer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// moduleVersion is the version a Go binary was built from, as go install
// records it.
func moduleVersion(bin string) string {
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "(version unknown)"
	}
	return info.Main.Version
}

// profileCell starts fetching s3gate's CPU profile for the cell about to
// be measured (its length rounded up to whole seconds) into file; errors
// are reported, not fatal.
func profileCell(opsURL string, d time.Duration, file string) func() {
	return func() {
		secs := int((d + time.Second - 1) / time.Second)
		go func() {
			err := func() error {
				resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", opsURL, secs))
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					return fmt.Errorf("profile: %s", resp.Status)
				}
				f, err := os.Create(file)
				if err != nil {
					return err
				}
				if _, err := io.Copy(f, resp.Body); err != nil {
					f.Close()
					return err
				}
				return f.Close()
			}()
			if err != nil {
				fmt.Fprintf(os.Stderr, "s3bench: s3gate profile %s: %v\n", file, err)
			}
		}()
	}
}
