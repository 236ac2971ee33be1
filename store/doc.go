// Package store keeps Elevate's state in one bbolt file (Open, the default) or
// in a PostgreSQL database (OpenPostgres): access requests and their whole
// lifecycle (approvals included), the chat messages that show each request,
// chat-user ↔ Entra-user bindings, and a hash-chained audit log.
//
// The store is written once against a small transactional, ordered key-value
// interface (kv.go: bbolt's buckets, keys, cursors and sequences, the subset we
// use); bbolt implements it directly and pg.go implements it on PostgreSQL, so
// every rule below holds on both. TestMain runs every test of this package once
// per backend.
//
// Every state change is one read-write transaction that also appends
// exactly one audit record, so the request and its audit trail never diverge.
// Writes use DB.Update, never DB.Batch: Batch waits up to 10 ms to coalesce,
// which would blow the Slack ack budget (DESIGN §7).
//
// The bucket tree (update this drawing whenever the layout changes, together
// with a new migration in migrations.go):
//
//	meta/
//	  version                       → uint64 BE, schema version (see migrations)
//	  copy_unfinished               → text: a CopyTo into this store under way or stopped (copy.go)
//	requests/                       sequence = last request id
//	  <id>                          → Request (JSON)
//	requests_open/                  v1: requests in a non-terminal state
//	  <id>                          → empty
//	requests_by_chat_user/          v2: every request
//	  <str platform><str chat user><id>  → empty
//	requests_by_user/               v2: requests with an Entra user id
//	  <str user id><id>             → empty
//	messages/
//	  <request id>/                 sequence = last ref number
//	    <n>                         → MessageRef (JSON)
//	bindings/
//	  <str platform><str chat user> → Binding (JSON)
//	bindings_by_user/               v2
//	  <str user id><str platform><str chat user> → empty
//	audit/                          sequence = last Seq ever appended
//	  <seq>                         → AuditRecord (JSON)
//	conversations/                  v3: chat adapters' conversation references
//	  <str platform><str key>       → Conversation (JSON)
//	schedule/                       v4: scheduler state (schedule.go)
//	  jobs/<str job>                → JobRun (JSON): the last slot claimed
//	  once/<str key>                → unix nanos: done at most once (reminders, alerts)
//	  alerts/<str key>              → Alert (JSON): raised or cleared
//	  state/<str key>               → what a watch last saw (bytes)
//	  events_cursor                 → 8B audit seq indexed up to
//	events/                         v4: activation events by time (events.go)
//	  <8B unix nanos><8B ref>       → kind, role, user, durations, PIM request id
//	events_dict/                    v4: "s"<str pair> → 8B n; "i"<8B n> → <str pair>
//	events_by_graph/                v4: <str PIM request id> → events key
//	snapshots/                      v4: <str name><8B unix nanos> → Snapshot (JSON)
//	reviews/                        v4: <str campaign id> → Campaign (JSON) (reviews.go)
//	review_items/                   v4: <str campaign><str user id><str role id> → ReviewItem (JSON)
//	cursors/                        v5: pollers' state (cursors.go)
//	  <name>                        → opaque bytes (JSON): high-water marks, posted ids, extensions,
//	                                  intents of PIM writes without a request (intent/convert/…)
//	replays/                        v6: what chat adapters already handled (replays.go)
//	  keys/<key>                    → 8B unix nanos: remembered until then
//	  expiry/<8B unix nanos><key>   → empty: the same, by expiry, for pruning
//	outbox/                         v7: chat deliveries not made yet (outbox.go); sequence = last id
//	  <id>                          → OutboxItem (JSON), written in the transaction that caused it
//	outbox_by_conversation/         v8: <str conversation><id> → empty (OutboxItem.Conversation)
//	outbox_by_request/              v8: <8B request id><id> → empty (items with a request)
//
// A multi-role request ("exchange,sharepoint 4h …") is one Request per role, created together
// with consecutive ids and linked by Request.Group (the first id) and GroupSize; no bucket or
// index of its own. Each item keeps its own state, PIM write intent, schedule ids and
// extension, so every PIM write is reconciled per role; the approval is one decision written
// to all items in one transaction (UpdateGroup). Why, and the rest: multi.go.
//
// Keys: <id>, <n> and <seq> are 8-byte big-endian integers so that byte order
// is numeric order; time-ordered keys, if added, are big-endian Unix nanos.
// <str s> is uvarint(len(s)) followed by s: self-delimiting, so any bytes are
// allowed in ids and a prefix of whole <str> fields selects exactly the keys
// with those fields (all requests of a platform, of a chat user, …). Index keys
// end in the request id, so a prefix scan returns requests in creation order.
//
// Values are decoded (and thereby copied) before the transaction ends; no
// bbolt type appears in the exported API.
//
// In PostgreSQL the same tree is the rows of one table:
//
//	elevate_kv(bucket bytea, key bytea, value bytea NULL, seq bigint, PRIMARY KEY (bucket, key))
//
// A bucket's path is the names from the root down, each as <str name>; the
// root's path is empty. A key of a bucket is the row (path, key, value); a
// nested bucket is a row of its parent with value NULL, and its own keys have
// its path: the top-level buckets are (empty, "requests", NULL), …; request 7 is
// (<str requests>, <7>, JSON); a message reference is
// (<str messages><str <request id>>, <n>, JSON). A bucket's sequence is the
// seq of its own row. bytea compares as memcmp, bbolt's key order.
// Write transactions run one at a time per process (as bbolt's do), keep their
// writes in memory (reads and cursors see them) and send them in one round trip
// together with the fence's read of the leader's lease (without a fence, on their
// own) before the commit; a write transaction's BEGIN goes with its first read
// (pg_write.go); reads are REPEATABLE READ snapshots; a transaction reads
// the top-level buckets in one query and keeps what it read; cursors read 8
// rows, then twice as many per round trip up to 512. The schema version is meta/version, as in the file.
package store
