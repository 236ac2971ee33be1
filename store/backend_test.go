package store

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/elevate-pim/elevate/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	bolt "go.etcd.io/bbolt"
)

// The conformance suite: TestMain runs every test of this package once per backend, so that
// bbolt and PostgreSQL are held to the same tests. -backend picks one.
var backendFlag = flag.String("backend", "all", "store backend to test: bolt, postgres or all")

// testBackend is a store implementation under test.
type testBackend struct {
	name string
	// loc returns where a new, empty store lives: a file path or a database URL.
	loc func(t testing.TB) string
	// open opens the store at loc as the program does.
	open func(loc string) (*Store, error)
	// raw opens loc's key-value layer without Open's migrations, for building old schemas and
	// tampering. The caller closes it.
	raw func(t testing.TB, loc string) kvDB
	// dump returns everything stored at loc, to show that something left it untouched.
	dump func(t testing.TB, loc string) []byte
}

var backends = []*testBackend{
	{
		name: "bolt",
		loc:  func(t testing.TB) string { return filepath.Join(t.TempDir(), "elevate.db") },
		open: Open,
		raw: func(t testing.TB, loc string) kvDB {
			t.Helper()
			db, err := bolt.Open(loc, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			return boltBackend{db}
		},
		dump: func(t testing.TB, loc string) []byte {
			t.Helper()
			b, err := os.ReadFile(loc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
	},
	{
		name: "postgres",
		loc:  func(t testing.TB) string { return pgtest.URL(t) },
		open: func(loc string) (*Store, error) { return OpenPostgres(context.Background(), loc, PostgresOptions{}) },
		raw: func(t testing.TB, loc string) kvDB {
			t.Helper()
			ctx := context.Background()
			pool, err := pgxpool.New(ctx, loc)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(ctx, pgSchema); err != nil {
				t.Fatal(err)
			}
			return &pgBackend{pool: pool}
		},
		dump: func(t testing.TB, loc string) []byte {
			t.Helper()
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, loc)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var out bytes.Buffer
			for _, q := range []string{
				"SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'public' ORDER BY 1, 2",
				"SELECT bucket, key, value, seq FROM elevate_kv ORDER BY bucket, key",
				"SELECT xmin::text FROM elevate_kv ORDER BY bucket, key",
			} {
				rows, err := conn.Query(ctx, q)
				if err != nil {
					fmt.Fprintf(&out, "%s: %v\n", q, err)
					continue
				}
				for rows.Next() {
					vals, err := rows.Values()
					if err != nil {
						t.Fatal(err)
					}
					fmt.Fprintf(&out, "%q\n", vals)
				}
				rows.Close()
			}
			return out.Bytes()
		},
	},
}

// current is the backend the tests run against now.
var current = backends[0]

func TestMain(m *testing.M) {
	flag.Parse()
	code := 0
	ran := false
	for _, b := range backends {
		if *backendFlag != "all" && *backendFlag != b.name {
			continue
		}
		ran = true
		current = b
		fmt.Printf("=== store tests on %s\n", b.name)
		if c := m.Run(); c != 0 {
			fmt.Printf("--- store tests on %s: FAIL\n", b.name)
			code = c
		}
	}
	pgtest.Stop()
	if !ran {
		fmt.Printf("-backend %q: no such backend\n", *backendFlag)
		code = 2
	}
	os.Exit(code)
}

// openAt opens the store at loc on the current backend.
func openAt(loc string) (*Store, error) { return current.open(loc) }

// rawUpdate runs fn in one write transaction on loc's key-value layer, below Open.
func rawUpdate(t testing.TB, loc string, fn func(tx kvTx) error) {
	t.Helper()
	db := current.raw(t, loc)
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

// rawView runs fn in one read transaction on loc's key-value layer, below Open.
func rawView(t testing.TB, loc string, fn func(tx kvTx) error) {
	t.Helper()
	db := current.raw(t, loc)
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}
