package fs_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/fs"
)

// The test binary doubles as a helper process, selected by environment.
const (
	helperMode = "S3GATE_FS_TEST_HELPER"
	helperDir  = "S3GATE_FS_TEST_DIR"
	helperArg  = "S3GATE_FS_TEST_ARG"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperMode); mode != "" {
		if err := runHelper(mode, os.Getenv(helperDir)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func runHelper(mode, dir string) error {
	s, err := fs.Open(dir, fs.Options{Fsync: true})
	if err != nil {
		return err
	}
	defer s.Close()
	switch mode {
	case "hold":
		// Hold the lock until the parent closes our stdin.
		fmt.Println("locked")
		_, err := io.Copy(io.Discard, os.Stdin)
		return err
	case "stall":
		// Start two writes that never finish; the parent kills us.
		done := make(chan error)
		for _, key := range []string{"k", "new/key"} {
			go func() {
				_, err := s.PutObject(context.Background(), "bkt", key, &stallingReader{}, backends.PutOptions{Size: -1})
				done <- err
			}()
		}
		return <-done
	case "complete":
		// Complete the upload described in helperArg; the parent kills
		// us midway.
		var arg completeArg
		if err := json.Unmarshal([]byte(os.Getenv(helperArg)), &arg); err != nil {
			return err
		}
		_, err := s.CompleteMultipartUpload(context.Background(), "bkt", arg.Key, arg.ID, arg.Parts, backends.CompleteOptions{})
		return err
	}
	return fmt.Errorf("unknown mode %q", mode)
}

// stallingReader returns 1 MiB, then blocks forever.
type stallingReader struct{ n int }

func (r *stallingReader) Read(p []byte) (int, error) {
	const limit = 1 << 20
	if r.n >= limit {
		select {}
	}
	n := min(len(p), limit-r.n)
	for i := range n {
		p[i] = 'x'
	}
	r.n += n
	return n, nil
}

func helper(t *testing.T, mode, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperMode+"="+mode, helperDir+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

func TestLockAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cmd := helper(t, "hold", dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if s, err := fs.Open(dir, fs.Options{}); !errors.Is(err, fs.ErrLocked) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("Open while another process holds the lock = %v, want ErrLocked", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	s, err := fs.Open(dir, fs.Options{})
	if err != nil {
		t.Fatalf("Open after the other process exited: %v", err)
	}
	s.Close()
}

// A process killed mid-write leaves only temp files, which the next Open
// removes; the key keeps its previous version.
func TestKilledWrite(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir, fs.Options{Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateBucket(t.Context(), "bkt"); err != nil {
		t.Fatal(err)
	}
	putString(t, s, "bkt", "k", "v1")
	s.Close()

	cmd := helper(t, "stall", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	tmp := filepath.Join(dir, "tmp")
	for deadline := time.Now().Add(20 * time.Second); ; {
		if n := bigFiles(tmp, 1<<20); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("helper never wrote its temp files")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	if got := tree(t, filepath.Join(dir, "buckets")); !slices.Equal(got, []string{".", "bkt", "bkt/.bucket", "bkt/k.o"}) {
		t.Errorf("buckets after the kill: %q", got)
	}
	s = openStore(t, dir)
	if got := tree(t, tmp); !slices.Equal(got, []string{"."}) {
		t.Errorf("tmp after reopening: %q", got)
	}
	if got, err := getString(t, s, "bkt", "k"); err != nil || got != "v1" {
		t.Errorf("GetObject(k) = %q, %v; want the previous version", got, err)
	}
	if _, err := s.HeadObject(t.Context(), "bkt", "new/key", backends.GetOptions{}); !errors.Is(err, backends.ErrNoSuchKey) {
		t.Errorf("HeadObject(new/key) = %v, want ErrNoSuchKey", err)
	}
}

// bigFiles counts files in dir of at least size bytes.
func bigFiles(dir string, size int64) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Size() >= size && strings.HasSuffix(e.Name(), ".put") {
			n++
		}
	}
	return n
}

type completeArg struct {
	Key   string
	ID    string
	Parts []backends.CompletedPart
}

// A process killed while it completes an upload leaves either the upload
// (whole and completable) or the object (and no upload), never both and
// never neither.
func TestKilledComplete(t *testing.T) {
	dir := t.TempDir()
	s, err := fs.Open(dir, fs.Options{Fsync: true})
	if err != nil {
		t.Fatal(err)
	}
	sizes := make([]int, 12)
	for i := range sizes {
		sizes[i] = backends.MinPartSize
	}
	id, parts, whole := newUpload(t, s, "k", sizes...)
	s.Close()

	arg, err := json.Marshal(completeArg{Key: "k", ID: id, Parts: parts})
	if err != nil {
		t.Fatal(err)
	}
	cmd := helper(t, "complete", dir)
	cmd.Env = append(cmd.Env, helperArg+"="+string(arg))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tmp := filepath.Join(dir, "tmp")
	killed := false
wait:
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		select {
		case err := <-exited:
			if err != nil {
				t.Fatalf("helper: %v", err)
			}
			break wait // finished before we saw it copying
		default:
		}
		if entries, _ := os.ReadDir(tmp); slices.ContainsFunc(entries, func(e os.DirEntry) bool { return strings.HasSuffix(e.Name(), ".mpu") }) {
			killed = cmd.Process.Kill() == nil
			<-exited
			break
		}
	}
	t.Logf("killed mid-completion: %v", killed)

	s = openStore(t, dir)
	uploads := listUploads(t, s)
	got, err := getString(t, s, "bkt", "k")
	switch {
	case err == nil && len(uploads) == 0:
		t.Log("the completion had committed")
		if got != string(whole) {
			t.Fatalf("object has %d bytes, want %d", len(got), len(whole))
		}
	case errors.Is(err, backends.ErrNoSuchKey) && slices.Equal(uploads, []string{id}):
		t.Log("the upload survived")
		if _, err := s.CompleteMultipartUpload(t.Context(), "bkt", "k", id, parts, backends.CompleteOptions{}); err != nil {
			t.Fatalf("completing the surviving upload: %v", err)
		}
		if got, err := getString(t, s, "bkt", "k"); err != nil || got != string(whole) {
			t.Fatalf("object has %d bytes, %v", len(got), err)
		}
	default:
		t.Fatalf("after the kill: object %d bytes (%v), uploads %q", len(got), err, uploads)
	}
	wantEmptyDirs(t, dir)
}
