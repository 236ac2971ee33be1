package store

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

type migration struct {
	version int
	apply   func(kvTx) error
}

// migrations is every schema change, ordered by version from least to
// greatest; the last one is the latest version, which a fresh file gets. They
// run in one transaction in Open. Each MUST have a test in migrations_test.go
// that starts from a file at the previous version, and doc.go's drawing MUST
// be kept in step.
var migrations = []migration{
	{1, migrateV1},
	{2, migrateV2},
	{3, migrateV3}, // conversations.go
	{4, migrateV4}, // schedule.go: scheduler state, events index, snapshots, review campaigns
	{5, migrateV5}, // cursors.go: pollers' high-water marks and extension state
	{6, migrateV6}, // replays.go: what chat adapters already handled, for replay protection
	{7, migrateV7}, // outbox.go: chat deliveries waiting to be made
	{8, migrateV8}, // outbox.go: the outbox by conversation and by request
}

var latestVersion = uint64(migrations[len(migrations)-1].version)

// migrateV1 creates the base buckets.
func migrateV1(tx kvTx) error {
	for _, name := range [][]byte{bucketMeta, bucketRequests, bucketRequestsOpen, bucketMessages, bucketBindings, bucketAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// migrateV2 adds the indexes of requests by chat user and by Entra user and
// of bindings by Entra user, built from what v1 stored, so that "my requests"
// and "who is this Entra user in chat" stop scanning everything.
func migrateV2(tx kvTx) error {
	for _, name := range [][]byte{bucketRequestsByChat, bucketRequestsByUser, bucketBindingsByUser} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	err := tx.Bucket(bucketRequests).ForEach(func(k, v []byte) error {
		var r Request
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("request %x: %w", k, err)
		}
		return putRequestIndexes(tx, r)
	})
	if err != nil {
		return err
	}
	return tx.Bucket(bucketBindings).ForEach(func(_, v []byte) error {
		var b Binding
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("binding: %w", err)
		}
		return tx.Bucket(bucketBindingsByUser).Put(bindingByUserKey(b), []byte{})
	})
}

// readVersion returns the schema version, 0 for a file without one.
func readVersion(db kvDB) (uint64, error) {
	var v uint64
	err := db.View(func(tx kvTx) error {
		var err error
		v, err = version(tx)
		return err
	})
	return v, err
}

func version(tx kvTx) (uint64, error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, nil
	}
	b := meta.Get(keyVersion)
	if len(b) != 8 {
		return 0, fmt.Errorf("store: schema version is %d bytes, want 8 (damaged file?)", len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// migrate brings the file to latestVersion in one transaction, or leaves it
// untouched when it is current (no write at all) or newer (ErrSchemaTooNew).
func migrate(db kvDB, name string) error {
	v, err := readVersion(db)
	if err != nil {
		return err
	}
	if v == latestVersion {
		return nil
	}
	if v > latestVersion {
		return tooNew(name, v)
	}
	return db.Update(func(tx kvTx) error {
		return migrateTx(tx, name, latestVersion)
	})
}

// migrateTx applies the migrations after the file's version up to target.
func migrateTx(tx kvTx, name string, target uint64) error {
	v, err := version(tx)
	if err != nil {
		return err
	}
	if v > latestVersion {
		return tooNew(name, v)
	}
	for _, m := range migrations {
		mv := uint64(m.version)
		if mv <= v || mv > target {
			continue
		}
		if err := m.apply(tx); err != nil {
			return fmt.Errorf("store: migrate %s to version %d: %w", name, m.version, err)
		}
	}
	meta, err := bucket(tx, bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keyVersion, u64(target))
}
