// Package fs is the s3gate backend that stores buckets and objects in a
// local directory.
//
// # Layout
//
//	<data>/.lock                   flock held by the one process using <data>
//	<data>/tmp/                    writes in progress; emptied by Open
//	<data>/buckets/<bucket>/       one directory per bucket
//	<data>/buckets/<bucket>/.bucket    {"created": unix-nanoseconds}
//	<data>/buckets/<bucket>/<path>     objects and their directories
//
// Everything is reached through an os.Root on <data>, so no name, symlink
// or ".." can lead outside it. Bucket names are used only after passing
// S3's naming rules, so they are plain single path components.
//
// A key is split on "/" into segments; every segment but the last names a
// directory, the last names the object file. A segment s becomes
//
//	esc(s) + ".d"   for a directory
//	esc(s) + ".o"   for an object file
//
// where esc percent-encodes (%XX, upper case) every byte outside
// [A-Za-z0-9._-]. The suffixes keep the namespaces apart, so keys "a" and
// "a/b" coexist (a.o and a.d/b.o), a folder marker "a/" is a.d/.o, and no
// name is ever "", "." or "..": the keys "..", "/x", "a//b" and "x\x00y"
// are just ...o, .d/x.o, a.d/.d/b.o and x%00y.o.
//
// When esc(s) plus the suffix would exceed NAME_MAX (255 bytes), the name is
// a truncated esc(s), "~", the first 32 hex digits of SHA-256(s), and the
// suffix. "~" is always escaped in ordinary names, so it marks hashed ones.
// The full segment stays recoverable: an object's footer holds its key,
// and a hashed directory holds a file named "segment" with its segment.
// Names that are not the canonical name of the segment they decode to are
// ignored, as are other files (temp files, the segment file, .bucket).
//
// # Object files
//
// An object file is the object's bytes followed by a footer:
//
//	data | JSON metadata | uint64 big-endian length of the JSON | "S3GATEO1"
//
// The JSON holds the format version, the key, size, ETag (hex MD5),
// modification time, content headers and user metadata. Readers find it
// with pread from the end of the file; the data region is everything
// before it. Data and metadata therefore commit together. JSON strings are
// UTF-8: invalid bytes in a header or metadata value become U+FFFD.
//
// # Commit protocol
//
// A PUT streams the body through a bounded buffer into a new file in
// <data>/tmp (same filesystem), computing the MD5 as bytes pass, and
// appends the footer. Only when the body returns io.EOF with the declared
// size does it commit: with the bucket lock held shared and the key's
// striped lock held, it checks any If-Match/If-None-Match against the
// current object, creates missing parent directories and renames the temp
// file over the key; with Options.Fsync the file is fsynced before and its
// directory after the rename. A failed body, a size mismatch or a
// cancelled context removes the temp file and leaves the key as it was.
// rename(2) replaces atomically, so readers see the old or the new version
// whole, and a reader that already opened the file keeps its inode.
//
// A crash can leave only files in <data>/tmp, which the next Open removes.
//
// DeleteObject removes the file, then the parent directories it leaves
// empty. A PUT that loses a freshly made directory to that cleanup sees its
// rename fail with ENOENT and retries. Hashed directories are created in
// tmp with their segment file and renamed into place; to remove one, the
// bucket lock is held exclusively (so no PUT commits into it) while it is
// renamed back into tmp. Either way a hashed directory never exists
// without its segment file, even across a crash.
//
// CreateBucket prepares the bucket directory in tmp and renames it into
// place. DeleteBucket holds the bucket lock exclusively, so no PUT commits
// meanwhile, checks that no object file remains, and renames the directory
// into tmp before removing it.
//
// # Listing
//
// Within a directory, an object sorts by its segment and a directory by its
// segment plus "/": exactly where its keys fall in UTF-8 binary order. A
// depth-first walk over each directory's sorted entries therefore yields
// keys in S3 order, starting at the deepest directory the prefix names.
// Directories entirely at or before StartAfter are skipped, and a directory
// whose keys all roll up into one common prefix is not descended into: one
// object file anywhere below it is enough. Sizes, ETags and times come from
// each listed object's footer. Each page reads and sorts every directory it
// visits in full, so a page costs time and memory in proportion to the
// largest of them.
//
// os.Root resolves a path one component at a time, so walks (mkdir,
// cleanup, listing) step from directory to directory through handles
// rather than by path, holding at most a few dozen at once.
//
// One process owns a data directory: Open takes a non-blocking flock on
// <data>/.lock and fails with ErrLocked if another process holds it.
package fs
