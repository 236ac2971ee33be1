package lead

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var dbn atomic.Int64

func testURL(t *testing.T) string {
	base := os.Getenv("ELEVATE_TEST_POSTGRES_URL")
	conn, err := pgx.Connect(context.Background(), base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	name := fmt.Sprintf("lead_%d_%d", time.Now().UnixNano(), dbn.Add(1))
	if _, err := conn.Exec(context.Background(), "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return strings.Replace(base, "/postgres?", "/"+name+"?", 1)
}
