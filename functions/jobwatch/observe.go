package jobwatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"iter"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dlibot/dlibot/pkg/dli"
)

// DLI is the part of the DLI client jobwatch uses; *dli.Client satisfies it.
type DLI interface {
	FlinkJobs(ctx context.Context, q dli.FlinkJobQuery) iter.Seq2[dli.FlinkJob, error]
	Batches(ctx context.Context, q dli.BatchQuery) iter.Seq2[dli.SparkBatch, error]
	SQLJobs(ctx context.Context, q dli.SQLJobQuery) iter.Seq2[dli.SQLJob, error]
	BatchLogs(ctx context.Context, id string, q dli.LogQuery) (dli.BatchLog, error)
}

// obs is one job as listed, in a kind-neutral shape.
type obs struct {
	Kind, ID, Name, Queue, Status, Desc, Owner string
	// Subject is the job's identity across runs: the Flink job id, the
	// Spark batch name, the SQL statement (hashed with the queue).
	Subject  string
	Started  time.Time
	Ended    time.Time
	Duration time.Duration
}

func fromFlink(j dli.FlinkJob) obs {
	id := strconv.FormatInt(j.ID, 10)
	return obs{Kind: KindFlink, ID: id, Name: j.Name, Queue: j.Queue, Status: string(j.Status),
		Desc: j.StatusDesc, Owner: j.User, Subject: id, Started: j.Started, Duration: j.Duration}
}

func fromSpark(b dli.SparkBatch) obs {
	o := obs{Kind: KindSpark, ID: b.ID, Name: b.Name, Queue: b.Queue, Status: string(b.State),
		Owner: b.Owner, Started: b.Created, Duration: b.Duration}
	if o.Name == "" {
		o.Subject = "id:" + b.ID
	} else {
		o.Subject = "name:" + b.Name
	}
	if o.Status == "dead" || o.Status == "success" {
		o.Ended = b.Updated
	}
	return o
}

func fromSQL(j dli.SQLJob) obs {
	name := strings.Join(strings.Fields(j.Statement), " ")
	if len(name) > 80 {
		name = name[:80] + "…"
	}
	sum := sha256.Sum256([]byte(j.Queue + "\x00" + strings.Join(strings.Fields(j.Statement), " ")))
	subj := "stmt:" + hex.EncodeToString(sum[:8])
	if j.Statement == "" {
		subj = "id:" + j.ID
	}
	return obs{Kind: KindSQL, ID: j.ID, Name: name, Queue: j.Queue, Status: string(j.Status),
		Desc: j.Message, Owner: j.Owner, Subject: subj, Started: j.Started, Ended: j.Ended, Duration: j.Duration}
}

// keyToken makes s safe inside a KV key.
func keyToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}

// list lists every job of kind (per queue when Queues is set), at the maximum
// page size, one DLI call per page.
// Spark batches and SQL jobs are listed from start on (their cursors).
func (w *Watcher) list(ctx context.Context, kind string, start time.Time) ([]obs, error) {
	queues := w.cfg.Queues
	if len(queues) == 0 {
		queues = []string{""}
	}
	var out []obs
	for _, q := range queues {
		switch kind {
		case KindFlink:
			for j, err := range w.dli.FlinkJobs(ctx, dli.FlinkJobQuery{Limit: 100, Queue: q}) {
				if err != nil {
					return nil, err
				}
				out = append(out, fromFlink(j))
			}
		case KindSpark:
			// start: the Spark cursor (zero: every batch).
			for b, err := range w.dli.Batches(ctx, dli.BatchQuery{Size: 100, Queue: q, Start: start}) {
				if err != nil {
					return nil, err
				}
				out = append(out, fromSpark(b))
			}
		case KindSQL:
			for j, err := range w.dli.SQLJobs(ctx, dli.SQLJobQuery{PageSize: 100, Queue: q, Start: start}) {
				if err != nil {
					return nil, err
				}
				out = append(out, fromSQL(j))
			}
		}
	}
	return out, nil
}

// flinkProblemStatuses are the Flink statuses listed on their own at the
// start of a poll (failed and billing), so new failures are found before
// the full listing.
func flinkProblemStatuses() []string {
	var out []string
	for s, si := range statusTable[KindFlink] {
		if si.class == classFailed || si.class == classBilling {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// listFlinkProblems lists the Flink jobs in a failed or billing status (a
// status filter per status and queue: a page each unless many jobs sit
// there).
func (w *Watcher) listFlinkProblems(ctx context.Context) ([]obs, error) {
	queues := w.cfg.Queues
	if len(queues) == 0 {
		queues = []string{""}
	}
	var out []obs
	for _, q := range queues {
		for _, st := range flinkProblemStatuses() {
			for j, err := range w.dli.FlinkJobs(ctx, dli.FlinkJobQuery{Limit: 100, Queue: q, Status: dli.FlinkJobStatus(st)}) {
				if err != nil {
					return nil, err
				}
				out = append(out, fromFlink(j))
			}
		}
	}
	return out, nil
}
