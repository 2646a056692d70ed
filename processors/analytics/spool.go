package analytics

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The spool is a directory of batches the sink did not take, one file per
// batch, named
//
//	<unix nanoseconds, 20 digits>-<sequence, 10 digits>-<kind>-<rows>-<crc32 of the content, 8 hex digits>.jsonl
//
// so that the names sort oldest first and say, without opening the file,
// what it holds (the rows counted when it is dropped) and what its content
// must hash to. The content is one JSON object per line (Request or
// HookOutcome, by kind); strings that are not valid UTF-8 come back with
// U+FFFD in place of the bad bytes.
//
// A file is written under a temporary name (spoolTmpPrefix), synced and
// renamed, so a crash never leaves part of a batch under a batch's name;
// temporary files left by a crash are removed when the spool is opened.
// The names' times never go backwards, even when the clock does: each is
// after the newest name already in the directory.
//
// One Recorder at a time may use a directory. The spool is not safe for
// concurrent use: only the Recorder's loop touches it.
const (
	spoolExt       = ".jsonl"
	spoolTmpPrefix = ".tmp-"
)

// fullLogEvery spaces the warnings of a full spool.
const fullLogEvery = time.Minute

// spoolFile is one batch in the spool.
type spoolFile struct {
	name string
	time int64 // unix nanoseconds
	seq  uint64
	kind string
	rows int
	crc  uint32
	size int64
}

func (f *spoolFile) makeName() string {
	return fmt.Sprintf("%020d-%010d-%s-%d-%08x%s", f.time, f.seq, f.kind, f.rows, f.crc, spoolExt)
}

// parseSpoolName reads a batch's name; ok is false for any other name.
func parseSpoolName(name string) (f spoolFile, ok bool) {
	base, found := strings.CutSuffix(name, spoolExt)
	if !found {
		return f, false
	}
	parts := strings.Split(base, "-")
	if len(parts) != 5 || len(parts[0]) != 20 || len(parts[1]) != 10 || len(parts[4]) != 8 {
		return f, false
	}
	var err [4]error
	f.time, err[0] = strconv.ParseInt(parts[0], 10, 64)
	f.seq, err[1] = strconv.ParseUint(parts[1], 10, 64)
	f.rows, err[2] = strconv.Atoi(parts[3])
	crc, e := strconv.ParseUint(parts[4], 16, 32)
	err[3] = e
	if errors.Join(err[:]...) != nil || f.rows <= 0 || (parts[2] != kindRequest && parts[2] != kindHook) {
		return f, false
	}
	f.kind, f.crc, f.name = parts[2], uint32(crc), name
	return f, true
}

// spool is the directory of batches waiting for the sink, bounded in bytes.
type spool struct {
	dir   string
	limit int64
	files []spoolFile // oldest first
	bytes int64       // the sum of files' sizes
	seq   uint64
	last  int64 // the newest name's time
	// fullLogged is when dropping for the bound was last logged.
	fullLogged time.Time
	m          *metrics
	log        *slog.Logger
}

// openSpool opens (creating) dir, removes the temporary files a crash left
// and indexes the batches there. Other files are left alone.
func openSpool(dir string, limit int64, m *metrics, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("analytics: spool: %w", err)
	}
	entries, err := os.ReadDir(dir) // sorted by name: oldest first
	if err != nil {
		return nil, fmt.Errorf("analytics: spool: %w", err)
	}
	s := &spool{dir: dir, limit: limit, m: m, log: log}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, spoolTmpPrefix) {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				log.Warn("analytics: removing a partial spool file", "file", name, "err", err)
			}
			continue
		}
		f, ok := parseSpoolName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		f.size = info.Size()
		s.files = append(s.files, f)
		s.bytes += f.size
		s.last = max(s.last, f.time)
		s.seq = max(s.seq, f.seq)
	}
	s.trim(0) // the bound may have shrunk since the files were written
	s.m.spoolBytes.Set(float64(s.bytes))
	return s, nil
}

func (s *spool) empty() bool { return len(s.files) == 0 }

// oldest is the oldest batch; ok is false when the spool is empty.
func (s *spool) oldest() (f spoolFile, ok bool) {
	if len(s.files) == 0 {
		return f, false
	}
	return s.files[0], true
}

// add stores a batch of rows, encoded as data: first dropping the oldest
// batches while the spool would exceed its bound, or this one if it alone
// would. Every outcome is counted; the error says why data was not stored.
func (s *spool) add(kind string, rows int, data []byte) error {
	size := int64(len(data))
	if size > s.limit {
		s.m.drop(kind, reasonSpoolFull, rows)
		return fmt.Errorf("analytics: a batch of %d bytes exceeds the spool's bound of %d bytes", size, s.limit)
	}
	s.trim(size)
	s.seq++
	s.last = max(time.Now().UnixNano(), s.last+1)
	f := spoolFile{time: s.last, seq: s.seq, kind: kind, rows: rows, crc: crc32.ChecksumIEEE(data), size: size}
	f.name = f.makeName()
	if err := writeFileAtomic(s.dir, f.name, data); err != nil {
		s.m.drop(kind, reasonSpoolError, rows)
		return fmt.Errorf("analytics: spool: %w", err)
	}
	s.files = append(s.files, f)
	s.bytes += size
	s.m.spoolBytes.Set(float64(s.bytes))
	s.m.rows.WithLabelValues(kind, resultSpooled).Add(float64(rows))
	return nil
}

// trim drops the oldest batches until incoming more bytes fit.
func (s *spool) trim(incoming int64) {
	for len(s.files) > 0 && s.bytes+incoming > s.limit {
		f := s.files[0]
		s.remove(f)
		s.m.drop(f.kind, reasonSpoolFull, f.rows)
		if now := time.Now(); now.Sub(s.fullLogged) >= fullLogEvery {
			s.fullLogged = now
			s.log.Warn("analytics: the spool is full; dropping its oldest batches (see s3gate_analytics_dropped_total)",
				"file", f.name, "rows", f.rows, "bytes", s.limit)
		}
	}
}

// read returns the content of f, checked against its name's checksum.
func (s *spool) read(f spoolFile) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(s.dir, f.name))
	if err != nil {
		return nil, err
	}
	if got := crc32.ChecksumIEEE(data); got != f.crc {
		return nil, fmt.Errorf("checksum %08x, want %08x", got, f.crc)
	}
	return data, nil
}

// remove deletes f, the oldest batch (sent, dropped or corrupt).
func (s *spool) remove(f spoolFile) {
	if err := os.Remove(filepath.Join(s.dir, f.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		// It will be sent again after a restart; the sink de-duplicates.
		s.log.Warn("analytics: removing a spool file", "file", f.name, "err", err)
	}
	if len(s.files) > 0 && s.files[0].name == f.name {
		s.files = s.files[1:]
		s.bytes -= f.size
	}
	s.m.spoolBytes.Set(float64(s.bytes))
}

// discard removes a batch that cannot be read, counting its rows.
func (s *spool) discard(f spoolFile, err error) {
	s.log.Error("analytics: skipping a corrupt spool file", "file", f.name, "rows", f.rows, "err", err)
	s.remove(f)
	s.m.drop(f.kind, reasonSpoolCorrupt, f.rows)
}

// writeFileAtomic writes data to dir/name through a synced temporary file
// and a rename, then syncs dir so the name is durable.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, spoolTmpPrefix+"*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil // the batch is there; only its durability across a power cut is in doubt
	}
	defer d.Close()
	d.Sync()
	return nil
}

// encodeRows encodes rows as JSON lines. A row that cannot be encoded (a
// time outside years 0 to 9999) is left out; bad counts those.
func encodeRows[T any](rows []T) (data []byte, n, bad int) {
	var buf bytes.Buffer
	var line bytes.Buffer
	enc := json.NewEncoder(&line)
	enc.SetEscapeHTML(false)
	for i := range rows {
		line.Reset()
		if err := enc.Encode(&rows[i]); err != nil {
			bad++
			continue
		}
		buf.Write(line.Bytes())
		n++
	}
	return buf.Bytes(), n, bad
}

// decodeRows decodes the JSON lines of a batch of n rows.
func decodeRows[T any](data []byte, n int) ([]T, error) {
	rows := make([]T, 0, n)
	for len(data) > 0 {
		line, rest, ok := bytes.Cut(data, []byte{'\n'})
		if !ok {
			return nil, errors.New("the last line is cut short")
		}
		var v T
		if err := json.Unmarshal(line, &v); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(rows)+1, err)
		}
		rows = append(rows, v)
		data = rest
	}
	if len(rows) != n {
		return nil, fmt.Errorf("%d rows, want %d", len(rows), n)
	}
	return rows, nil
}
