package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultPostgres is the server the tests use when BACKCHANNEL_TEST_POSTGRES is unset, as in
// the store's own tests.
const defaultPostgres = "postgres://root@127.0.0.1:5432/postgres?sslmode=disable"

// newDatabase creates an empty PostgreSQL database for one test and returns its URL; it is
// dropped when the test ends. The tests fail, rather than skip, when PostgreSQL is unreachable,
// unless BACKCHANNEL_TEST_POSTGRES is "skip": a CI without PostgreSQL must say so.
func newDatabase(t *testing.T) string {
	t.Helper()
	admin := os.Getenv("BACKCHANNEL_TEST_POSTGRES")
	switch admin {
	case "skip":
		t.Skip("BACKCHANNEL_TEST_POSTGRES=skip")
	case "":
		admin = defaultPostgres
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("PostgreSQL for tests (BACKCHANNEL_TEST_POSTGRES, or =skip): %v", err)
	}
	defer c.Close(ctx)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "bc_cmd_test_" + hex.EncodeToString(rnd[:])
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("BACKCHANNEL_TEST_POSTGRES must be a URL: %v", err)
	}
	u.Path = "/" + name
	return u.String()
}
