package natstest_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dlibot/dlibot/pkg/events/natstest"
)

func TestRestartKeepsStoreAndURL(t *testing.T) {
	srv := natstest.Start(t)
	url := srv.URL()
	_, js := srv.Connect()
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	if srv.URL() != url {
		t.Errorf("URL changed across restart: %s → %s", url, srv.URL())
	}
	_, js2 := srv.Connect()
	kv2, err := js2.KeyValue(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	e, err := kv2.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Errorf("after restart: %v %v", e, err)
	}
}

func TestStoreDirSharedBetweenServers(t *testing.T) {
	dir := t.TempDir()
	a := natstest.Start(t, natstest.StoreDir(dir))
	_, js := a.Connect()
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	a.Shutdown()
	b := natstest.Start(t, natstest.StoreDir(dir))
	_, js = b.Connect()
	if _, err := js.Stream(context.Background(), "S"); err != nil {
		t.Errorf("stream lost: %v", err)
	}
	if b.StoreDirPath() != dir {
		t.Errorf("store dir %q", b.StoreDirPath())
	}
}
