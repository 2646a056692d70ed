// Package logfile holds what the processors' append-only files have in
// common: the frame that carries each record (its length and a CRC32C,
// so a torn or corrupt record is detected), a reader that walks the
// frames of a file, and the lock that keeps a second process out of a
// directory of such files. What a record holds is up to each package.
package logfile

import "errors"

// LockFile is the name of the lock file LockDir creates in a directory.
const LockFile = "LOCK"

// The errors carry no package prefix: the package that owns the file
// adds its own, and says which file, when it passes them on.
var (
	// ErrBadFrame means bytes that do not form a valid frame: a torn
	// write at the tail of a file, or corruption elsewhere. Packages
	// return it too for a frame whose payload does not decode, so one
	// errors.Is check covers both.
	ErrBadFrame = errors.New("torn or corrupt record")
	// ErrLocked is what LockDir's error wraps when another process holds
	// the directory's lock.
	ErrLocked = errors.New("directory is in use by another process")
)
