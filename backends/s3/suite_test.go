package s3

import (
	"testing"

	"github.com/s3gate/s3gate/backends"
	"github.com/s3gate/s3gate/backends/backendtest"
)

// TestSuite runs the acceptance suite with every gateway bucket a backend
// bucket of its own, in a namespace per subtest.
func TestSuite(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	caps := newTestStore(t, nil).Capabilities("")
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		return newTestStore(t, map[string]Mapping{"*": {Bucket: namespace() + "-*"}})
	}, caps)
}

// TestSuitePrefixed runs the suite with every gateway bucket a prefix of
// one backend bucket (per subtest).
func TestSuitePrefixed(t *testing.T) {
	needVersitygw(t)
	t.Parallel()
	caps := newTestStore(t, nil).Capabilities("")
	backendtest.Run(t, func(t *testing.T) backends.Backend {
		return newTestStore(t, map[string]Mapping{"*": {Bucket: "shared-" + namespace(), Prefix: "tenants/*/"}})
	}, caps)
}
