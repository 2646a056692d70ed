package conformance

import (
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidConfigurationExits: a bad setting stops s3gate before it
// serves, with a non-zero status and a message naming the setting.
func TestInvalidConfigurationExits(t *testing.T) {
	t.Parallel()
	bin := s3gateBinary(t)
	cases := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"--listen", "nonsense"}, "", "S3GATE_LISTEN"},
		{nil, "S3GATE_LOG_LEVEL=loud", "--log-level"},
		{nil, "S3GATE_ROOT_ACCESS_KEY=onlyhalf", "S3GATE_ROOT_SECRET_KEY"},
		{[]string{"--no-such-flag"}, "", "unknown flag"},
	}
	for _, c := range cases {
		args := append([]string{"serve", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"}, c.args...)
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + t.TempDir()}
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() == 0 {
			t.Errorf("%v %s: exit %v, want non-zero\n%s", c.args, c.env, err, out)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("%v %s: output does not name %q:\n%s", c.args, c.env, c.want, out)
		}
	}
}
