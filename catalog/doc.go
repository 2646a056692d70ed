// Package catalog is s3gate's own record store, "the catalogue": bucket
// state, access keys (their secrets sealed; see identity/keystore) and one
// row per object, kept by the metadata hook (objects.go: SyncObject, the
// per-key critical section every hook uses, and ListObjects, whose read
// grants are part of the query).
//
// One schema, two databases. In the embedded shape the catalogue is a SQLite
// file in the data directory (pure-Go driver, WAL mode, one writer connection
// so writes serialise, a read-only pool beside it). Scaled out, every replica
// points at one PostgreSQL database. Open chooses by the DSN and never falls
// back: a configured PostgreSQL that cannot be reached is an error.
//
// # Migrations
//
// The schema lives in numbered files embedded in the binary, one directory per
// database: migrations/postgres/NNNN_name.sql and migrations/sqlite/NNNN_name.sql.
// Both directories hold the same numbers and names (a test checks it); the SQL
// differs only where the databases do (types, collations). Open applies every
// migration the database lacks, in order, inside one transaction, and records
// each in schema_migrations (version, name, applied_at). So:
//
//   - a start either applies all pending migrations or none;
//   - replicas starting at once are safe: on PostgreSQL the transaction first
//     takes a transaction-scoped advisory lock, so one replica migrates and the
//     others wait and then find nothing to do; on SQLite the transaction is
//     BEGIN IMMEDIATE, which holds the file's write lock;
//   - a recorded version whose name differs from this binary's file is an
//     error (two branches that both added migration N);
//   - versions newer than this binary knows are left alone, so an older
//     replica still starts during a rolling upgrade. Migrations must therefore
//     be additive (expand now, contract in a later release).
//
// To grow the schema, add the next number in both directories. A migration
// must run inside a transaction (no CREATE INDEX CONCURRENTLY).
//
// # Reads
//
// The gateway calls GetBucket on every request. The Catalog keeps the buckets
// it has read in a small in-process cache for a short time (CacheTTL, 1 s by
// default); this process's own writes drop the entry at once, but another
// replica's writes are seen only when the entry expires. Absent buckets are
// never cached, so a bucket created through another replica is visible at
// once.
//
// Listings of object rows can be served by PostgreSQL read replicas
// (ReadReplicas); everything that must see the latest write reads the
// primary. On SQLite the hooks' writes are prepared once and committed in
// groups (hotpath.go).
package catalog
