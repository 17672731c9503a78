package obsimport

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/dlibot/dlibot/pkg/events"
)

func TestReadReplay(t *testing.T) {
	native, _ := os.ReadFile("testdata/events/obs-native.json")
	in := "# keys to backfill\n" +
		"obs://raw-data/landing/events/dt=2026-11-26/a b+c.csv\n" +
		"\n" +
		"raw-data/landing/events/dt=2026-11-26/it's.csv\n" +
		"raw-data/landing/events/dt=2026-11-26/\n" +
		strings.ReplaceAll(string(native), "\n", "") + "\n"
	objs, err := ReadReplay(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Bucket+"/"+o.Key)
	}
	want := []string{"raw-data/landing/events/dt=2026-11-26/a b+c.csv", "raw-data/landing/events/dt=2026-11-26/it's.csv",
		"raw-data/landing/events/dt=2026-11-26/red flower.csv"}
	if strings.Join(keys, "|") != strings.Join(want, "|") {
		t.Errorf("keys %q, want %q", keys, want)
	}
	if _, err := ReadReplay(strings.NewReader("ok/key\nnot-a-key\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad line: %v", err)
	}
	arr := "[" + string(native) + "," + string(native) + "]"
	if objs, err := ReadReplay(strings.NewReader(arr)); err != nil || len(objs) != 2 {
		t.Errorf("array: %d objects, %v", len(objs), err)
	}
}

// TestReplayIsIdempotent: replaying keys already imported (with or
// without their ETag) imports nothing again; a key never seen is imported.
func TestReplayIsIdempotent(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	failing := "landing/events/dt=2026-11-26/FAIL.csv"
	h.im.Handle(ctx, objectEvent(t, keyName(1), "e1"))
	h.im.Handle(ctx, objectEvent(t, failing, "f1"))
	h.drive(20)
	objs, err := ReadReplay(strings.NewReader("raw-data/" + keyName(1) + "\nraw-data/" + keyName(2) + "\nraw-data/other/x.csv\nraw-data/" + failing + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Replay(ctx, h.set, objs, func(ctx context.Context, subject string, e events.Event) (bool, error) {
		if out := h.im.Handle(ctx, e); out.Kind() != events.KindAck {
			t.Errorf("outcome %v", out)
		}
		return false, nil
	})
	if err != nil || rep.Published != 3 || rep.NoRule != 1 {
		t.Fatalf("report %+v, %v", rep, err)
	}
	h.drive(20)
	counts := h.importCounts()
	if counts[keyName(1)] != 1 || counts[keyName(2)] != 1 || counts[failing] != 2 {
		t.Errorf("import counts %v (a failed file is retried by a replay, nothing else twice)", counts)
	}
}

func TestCheckRules(t *testing.T) {
	h := newHarness(t, nil)
	out := CheckRules(h.set, "", []string{
		"raw-data/landing/sales/2026/11/26/hour=07/it's.csv",
		"obs://raw-data/landing/batch/orders/dt=1/_SUCCESS",
		"raw-data/landing/batch/orders/dt=1/p.csv",
		"raw-data/nothing.csv",
		"raw-data/landing/events/dt=1/noext",
	})
	want := []string{
		"rule sales (line 3): import obs://raw-data/landing/sales/2026/11/26/hour=07/it's.csv as csv into analytics.sales partition (dt=2026-11-26, hour=07) on queue etl; trigger each; re-upload: skip\n    as SQL: LOAD DATA INPATH 'obs://raw-data/landing/sales/2026/11/26/hour=07/it\\'s.csv' INTO TABLE `analytics`.`sales`",
		"rule batch (line 22): import obs://raw-data/landing/batch/orders/dt=1/ as csv into staging.orders partition (dt=1), overwrite",
		"data file of a marker rule",
		"no rule matches",
		"no format",
	}
	for i, w := range want {
		if !strings.Contains(out[i], w) {
			t.Errorf("line %d:\n%s\nlacks\n%s", i, out[i], w)
		}
	}
}
