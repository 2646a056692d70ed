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
//	<data>/uploads/<bucket>/<id>/      one multipart upload in progress
//	<data>/uploads/<bucket>/<id>/upload.json   its descriptor
//	<data>/uploads/<bucket>/<id>/NNNNN.part    part NNNNN (00001-10000)
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
//	data | [parts table] | JSON metadata | uint64 big-endian length of the JSON | "S3GATEO1"
//
// The JSON holds the format version, the key, size, ETag (hex MD5, or
// "<hex>-N" for a multipart object), modification time, content headers,
// user metadata, checksum and tags. Readers find it with pread from the
// end of the file; the data region is everything before it (and before
// the parts table). Data and metadata therefore commit together. JSON
// strings are UTF-8: invalid bytes in a header or metadata value become
// U+FFFD.
//
// An object completed from a multipart upload also records, in the JSON,
// its number of parts and the upload's id, and between data and JSON a
// table of fixed-size records, one per part in object order:
//
//	number uint32 | size uint64 | offset uint64 | MD5 [16] | checksum digest
//
// (big endian; the digest has the object's checksum algorithm's size), so
// a read of part N (by position) is one pread of its record, and the
// footer stays small however many parts there are.
//
// Part files in an upload directory have the same format, without a
// table; their JSON records the part number, size, MD5 ETag and checksum.
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
// # Multipart uploads
//
// Upload ids are 8 bytes of initiation time and 16 random bytes, in
// base32hex (URL-safe, 39 characters): unguessable, and sorting as strings
// in initiation order, which is S3's listing order within a key and its
// upload-id-marker order. Only well-formed ids become a path component.
//
// CreateMultipartUpload writes the descriptor (key, initiation time,
// headers, metadata, tags, checksum algorithm and type) into a directory
// in tmp and renames it into place under the bucket lock (shared), so an
// upload appears whole or not at all and never in a deleted bucket.
//
// UploadPart streams the part into tmp like a PUT, computing its MD5 and
// its checksum in the upload's algorithm (CRC64NVME by default), checks
// any checksum the client sent, and only at a clean EOF renames the file
// into the upload directory under the upload's lock, replacing a part of
// the same number atomically. An upload aborted or completed meanwhile
// makes the rename fail: ErrNoSuchUpload.
//
// CompleteMultipartUpload holds the upload's lock throughout, so it
// excludes part commits, aborts and other completions of the upload. It
// checks the listed parts against the part files' footers, derives the
// ETag (MD5 of the binary part MD5s) and checksum (CRC combination for
// FULL_OBJECT, digest of digests for COMPOSITE) from what the footers
// recorded, then concatenates the parts into a new file in tmp with
// io.Copy between files (copy_file_range: the data never passes through
// user space), appends the parts table and footer, and commits like a
// PUT: under the key lock, If-Match/If-None-Match are checked and the file
// renamed over the key. Still under the key lock, the upload directory is
// renamed into tmp and removed there. A crash before the object's rename
// leaves the upload intact (and a temp file Open removes); a crash after
// it but before the upload's rename leaves an object whose footer names
// the upload, and Open, finding that, removes the upload. Holding the key
// lock across both renames means no other write of the key can come in
// between. A completion retried after it succeeded finds the object by
// the same record and returns it again.
//
// AbortMultipartUpload renames the upload directory into tmp under the
// upload's lock and removes it. DeleteBucket, as S3 does, removes the
// bucket's uploads with it: under the exclusive bucket lock it renames the
// bucket directory, then its uploads directory, into tmp; Open removes
// uploads whose bucket is gone, should a crash fall between the two.
//
// ListParts reads the upload directory's part names and the footers of
// the parts on the page. ListMultipartUploads reads every descriptor of
// the bucket's uploads and sorts them by key and id, so a page costs time
// and memory in proportion to the bucket's uploads in progress.
//
// # Tagging
//
// Tags live in the footer. PutObjectTagging copies the data region and
// parts table of the object file it opened into a new file in tmp
// (copy_file_range again), appends a footer that differs only in its tags,
// and renames it over the key under the key lock if the key still holds
// the very file it copied (same inode; the copy keeps the source open, so
// the inode cannot be reused). If the object changed meanwhile, it starts
// over; a retag therefore never undoes a concurrent write, and the ETag,
// LastModified and bytes stay as they were.
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
