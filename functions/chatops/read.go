package chatops

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/slack-go/slack"

	"github.com/dlibot/dlibot/functions/chatops/command"
	"github.com/dlibot/dlibot/functions/chatops/policy"
	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/notify"
	"github.com/dlibot/dlibot/pkg/notify/blockkit"
)

// maxLogLines is the most lines `spark logs --lines` may ask for.
const maxLogLines = 1000

// read runs a command that changes nothing.
func (s *Service) read(ctx context.Context, req request, cmd *command.Command, role *policy.Role) reply {
	ctx = cachedReads(ctx)
	switch cmd.Name() {
	case "help":
		if len(cmd.Args) > 0 {
			name := strings.Join(cmd.Args, " ")
			sp := command.Lookup(name)
			if sp == nil {
				msg := fmt.Sprintf("There is no command `%s`.", name)
				if sug := command.Suggest(name, command.Names()); sug != "" && command.Lookup(sug) != nil {
					msg += fmt.Sprintf(" Did you mean `%s`?", sug)
				}
				return errorReply(msg)
			}
			return helpFor(sp, role)
		}
		return helpList(role)
	case "whoami":
		return s.whoami(req, role)
	case "queues":
		return s.queues(ctx)
	case "queue":
		return s.queue(ctx, cmd.Args[0])
	case "plans":
		return s.plans(ctx, cmd.Args[0])
	case "flink list":
		return s.flinkList(ctx, cmd)
	case "flink show":
		return s.flinkShow(ctx, cmd.Args[0])
	case "spark list":
		return s.sparkList(ctx, cmd)
	case "spark show":
		return s.sparkShow(ctx, cmd.Args[0])
	case "spark logs":
		return s.sparkLogs(ctx, req, cmd)
	case "sql":
		return s.submitSQL(ctx, req, cmd)
	case "sql status":
		return s.sqlStatus(ctx, cmd.Args[0])
	case "sql result":
		return s.sqlResult(ctx, req, cmd.Args[0])
	case "jobs":
		return s.jobs(ctx, cmd)
	}
	return errorReply(fmt.Sprintf("`%s` is not a read command.", cmd.Name()))
}

func (s *Service) whoami(req request, role *policy.Role) reply {
	if role == nil {
		return denied("whoami", role)
	}
	maxCU := "no ceiling of its own (queue limits apply)"
	if role.MaxCU > 0 {
		maxCU = fmt.Sprintf("%d CU", role.MaxCU)
	}
	var cmds []string
	for _, sp := range command.Specs {
		if role.Allows(sp.Name) {
			cmds = append(cmds, sp.Name)
		}
	}
	sqlMode := "read-only statements"
	if role.Allows(command.SQLWrite) {
		sqlMode = "any statement"
	} else if !role.Allows("sql") {
		sqlMode = "none"
	}
	mode := "confirmations on (NATS)"
	if s.ReadOnly() {
		mode = "read-only (no NATS): changes are refused"
	}
	return reply{text: "You are " + role.Name, outcome: OutcomeOK, blocks: blockkit.Blocks(
		blockkit.Fields(
			blockkit.Field{Label: "User", Value: req.User},
			blockkit.Field{Label: "Role", Value: role.Name},
			blockkit.Field{Label: "Max CU", Value: maxCU},
			blockkit.Field{Label: "SQL", Value: sqlMode},
		),
		blockkit.Section("*Commands:* "+blockkit.Escape(strings.Join(cmds, ", "))),
		blockkit.Context("chatops · "+mode),
	)}
}

func (s *Service) queues(ctx context.Context) reply {
	qs, err := s.dli.ListQueues(ctx, dli.QueueTypeAll)
	if err != nil {
		return dliError("listing queues", err)
	}
	sort.Slice(qs, func(i, j int) bool { return qs[i].Name < qs[j].Name })
	rows := make([][]string, len(qs))
	for i, q := range qs {
		lim := "–"
		if q.CUScaleOutLimit > 0 {
			lim = fmt.Sprintf("%d–%d", q.CUScaleInLimit, q.CUScaleOutLimit)
		}
		prot := ""
		if s.pol.Protected(q.Name) {
			prot = "protected"
		}
		rows[i] = []string{q.Name, string(q.Type), strconv.Itoa(q.CUs), lim, s.cost(q.CUs), prot}
	}
	return reply{text: fmt.Sprintf("%d queues", len(qs)), outcome: OutcomeOK, blocks: append(
		[]slack.Block{blockkit.Header(fmt.Sprintf("DLI queues (%d)", len(qs)))},
		table([]string{"QUEUE", "TYPE", "CU", "LIMITS", "COST", ""}, rows, s.cfg.TableRows, "queues")...)}
}

func (s *Service) queue(ctx context.Context, name string) reply {
	q, err := s.dli.GetQueue(ctx, name)
	if err != nil {
		return dliError("queue "+name, err)
	}
	plans, err := s.dli.ListPlans(ctx, q.Name)
	if err != nil {
		return dliError("plans of "+name, err)
	}
	prot := "no"
	if s.pol.Protected(q.Name) {
		prot = "yes — changes need a second person's approval"
	}
	blocks := []slack.Block{
		blockkit.Header("Queue " + q.Name),
		blockkit.Fields(
			blockkit.Field{Label: "Type", Value: string(q.Type)},
			blockkit.Field{Label: "CUs", Value: fmt.Sprintf("%d (%s)", q.CUs, s.cost(q.CUs))},
			blockkit.Field{Label: "Scaling limits", Value: fmt.Sprintf("%d–%d CU", q.CUScaleInLimit, q.CUScaleOutLimit)},
			blockkit.Field{Label: "Protected", Value: prot},
			blockkit.Field{Label: "Owner", Value: q.Owner},
			blockkit.Field{Label: "Description", Value: q.Description},
		),
		blockkit.Section("*Scheduled CU changes*"),
	}
	blocks = append(blocks, planTable(plans, s.cfg.TableRows)...)
	return reply{text: "Queue " + q.Name, outcome: OutcomeOK, blocks: blocks}
}

func planTable(plans []dli.Plan, max int) []slack.Block {
	sort.Slice(plans, func(i, j int) bool { return plans[i].ID < plans[j].ID })
	rows := make([][]string, len(plans))
	for i, p := range plans {
		active := "active"
		if p.Inactive {
			active = "inactive"
		}
		rows[i] = []string{strconv.FormatInt(p.ID, 10), p.Name, strconv.Itoa(p.TargetCU),
			fmt.Sprintf("%02d:%02d", p.StartHour, p.StartMinute), weekdays(p.RepeatDays), active}
	}
	return table([]string{"ID", "NAME", "CU", "AT", "DAYS", ""}, rows, max, "plans")
}

func (s *Service) plans(ctx context.Context, queue string) reply {
	plans, err := s.dli.ListPlans(ctx, queue)
	if err != nil {
		return dliError("plans of "+queue, err)
	}
	return reply{text: fmt.Sprintf("%d scheduled CU changes on %s", len(plans), queue), outcome: OutcomeOK,
		blocks: append([]slack.Block{blockkit.Header(fmt.Sprintf("Scheduled CU changes of %s (%d)", queue, len(plans)))}, planTable(plans, s.cfg.TableRows)...)}
}

func (s *Service) flinkList(ctx context.Context, cmd *command.Command) reply {
	page, err := s.dli.ListFlinkJobs(ctx, dli.FlinkJobQuery{Limit: 100, Queue: cmd.Flag("queue"), Status: dli.FlinkJobStatus(strings.ToLower(cmd.Flag("status")))})
	if err != nil {
		return dliError("listing Flink jobs", err)
	}
	rows := make([][]string, len(page.Jobs))
	for i, j := range page.Jobs {
		rows[i] = []string{strconv.FormatInt(j.ID, 10), j.Name, string(j.Status), j.Queue, fmtTime(j.Created)}
	}
	total := max(page.Total, len(page.Jobs))
	return reply{text: fmt.Sprintf("%d Flink jobs", total), outcome: OutcomeOK, blocks: append(
		[]slack.Block{blockkit.Header(fmt.Sprintf("Flink jobs (%d)", total))},
		table([]string{"ID", "NAME", "STATUS", "QUEUE", "CREATED"}, rows, s.cfg.TableRows, "jobs")...)}
}

func parseFlinkID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("`%s` is not a Flink job id (a positive number)", s)
	}
	return id, nil
}

func (s *Service) flinkShow(ctx context.Context, raw string) reply {
	id, err := parseFlinkID(raw)
	if err != nil {
		return errorReply(err.Error())
	}
	j, err := s.dli.GetFlinkJob(ctx, id)
	if err != nil {
		return dliError("Flink job "+raw, err)
	}
	blocks := []slack.Block{
		blockkit.Header(fmt.Sprintf("Flink job %d · %s", j.ID, j.Name)),
		blockkit.Fields(
			blockkit.Field{Label: "Status", Value: string(j.Status)},
			blockkit.Field{Label: "Queue", Value: j.Queue},
			blockkit.Field{Label: "Type", Value: j.Type},
			blockkit.Field{Label: "Created", Value: fmtTime(j.Created)},
			blockkit.Field{Label: "Started", Value: fmtTime(j.Started)},
			blockkit.Field{Label: "Savepoint", Value: map[bool]string{true: "yes", false: "no"}[j.HasSavepoint]},
		),
	}
	if j.StatusDesc != "" {
		blocks = append(blocks, blockkit.Section("*Status detail:* "+blockkit.Escape(j.StatusDesc)))
	}
	return reply{text: "Flink job " + raw, outcome: OutcomeOK, ids: []string{raw}, blocks: blocks}
}

func (s *Service) sparkList(ctx context.Context, cmd *command.Command) reply {
	page, err := s.dli.ListBatches(ctx, dli.BatchQuery{Size: 100, Queue: cmd.Flag("queue"), State: dli.SparkState(strings.ToLower(cmd.Flag("state")))})
	if err != nil {
		return dliError("listing Spark jobs", err)
	}
	rows := make([][]string, len(page.Batches))
	for i, b := range page.Batches {
		rows[i] = []string{b.ID, b.Name, string(b.State), b.Queue, fmtTime(b.Created)}
	}
	total := max(page.Total, len(page.Batches))
	return reply{text: fmt.Sprintf("%d Spark jobs", total), outcome: OutcomeOK, blocks: append(
		[]slack.Block{blockkit.Header(fmt.Sprintf("Spark batch jobs (%d)", total))},
		table([]string{"ID", "NAME", "STATE", "QUEUE", "CREATED"}, rows, s.cfg.TableRows, "jobs")...)}
}

func (s *Service) sparkShow(ctx context.Context, id string) reply {
	b, err := s.dli.GetBatch(ctx, id)
	if err != nil {
		return dliError("Spark job "+id, err)
	}
	blocks := []slack.Block{
		blockkit.Header("Spark job " + b.Name),
		blockkit.Fields(
			blockkit.Field{Label: "ID", Value: b.ID},
			blockkit.Field{Label: "State", Value: string(b.State)},
			blockkit.Field{Label: "Queue", Value: b.Queue},
			blockkit.Field{Label: "Created", Value: fmtTime(b.Created)},
			blockkit.Field{Label: "Duration", Value: fmtDuration(b.Duration)},
			blockkit.Field{Label: "App ID", Value: b.AppID},
		),
	}
	if len(b.Log) > 0 {
		blocks = append(blocks, blockkit.Code(b.Log, 10))
	}
	return reply{text: "Spark job " + id, outcome: OutcomeOK, ids: []string{id}, blocks: blocks}
}

func (s *Service) sparkLogs(ctx context.Context, req request, cmd *command.Command) reply {
	id := cmd.Args[0]
	n := s.cfg.LogLines
	if v := cmd.Flag("lines"); v != "" {
		x, err := strconv.Atoi(v)
		if err != nil || x < 1 || x > maxLogLines {
			return errorReply(fmt.Sprintf("`--lines %s`: want a number from 1 to %d.", v, maxLogLines))
		}
		n = x
	}
	lg, err := s.dli.BatchLogs(ctx, id, dli.LogQuery{Size: n})
	if err != nil {
		return dliError("log of Spark job "+id, err)
	}
	if int64(len(lg.Lines)) < min(int64(n), lg.Total) {
		// DLI's default window is the last 100 lines: ask for the last n
		from := int(max(0, lg.Total-int64(n)))
		if lg, err = s.dli.BatchLogs(ctx, id, dli.LogQuery{From: &from, Size: n}); err != nil {
			return dliError("log of Spark job "+id, err)
		}
	}
	lines := lg.Lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return infoReply("The log of Spark job " + id + " is empty.")
	}
	code := blockkit.Code(lines, 0)
	blocks := []slack.Block{blockkit.Section(fmt.Sprintf("*Log of Spark job %s* (last %d lines)", blockkit.Escape(id), len(lines))), code}
	if code != nil && strings.Contains(code.Text.Text, "earlier lines") {
		note := "The whole tail did not fit here"
		if s.upload(ctx, req.Channel, "spark-"+keyToken(id)+".log", []byte(strings.Join(lines, "\n")+"\n"),
			fmt.Sprintf("Log of Spark job %s, last %d lines (for <@%s>)", blockkit.Escape(id), len(lines), req.User)) {
			note += "; it is attached to the channel as a file."
		} else {
			note += "; ask with a smaller `--lines`."
		}
		blocks = append(blocks, blockkit.Context(note))
	}
	return reply{text: "Log of Spark job " + id, outcome: OutcomeOK, ids: []string{id}, blocks: blocks}
}

// upload shares long output as a file in channel; false when there is no
// notifier or it failed.
func (s *Service) upload(ctx context.Context, channel, name string, content []byte, comment string) bool {
	if s.notifier == nil || channel == "" {
		return false
	}
	if _, err := s.notifier.Upload(ctx, notify.File{Channel: channel, Name: name, Content: content, Comment: comment}); err != nil {
		s.log.Warn("chatops: file upload failed", "err", err, "file", name)
		return false
	}
	return true
}

func (s *Service) sqlStatus(ctx context.Context, id string) reply {
	j, err := s.dli.SQLJobStatus(ctx, id)
	if err != nil {
		return dliError("SQL job "+id, err)
	}
	blocks := []slack.Block{
		blockkit.Header("SQL job " + blockkit.Clip(id, 100)),
		blockkit.Fields(
			blockkit.Field{Label: "Status", Value: string(j.Status)},
			blockkit.Field{Label: "Type", Value: j.Type},
			blockkit.Field{Label: "Queue", Value: j.Queue},
			blockkit.Field{Label: "Owner", Value: j.Owner},
			blockkit.Field{Label: "Started", Value: fmtTime(j.Started)},
			blockkit.Field{Label: "Duration", Value: fmtDuration(j.Duration)},
			blockkit.Field{Label: "Rows", Value: strconv.FormatInt(j.ResultCount, 10)},
		),
		blockkit.Section("```" + blockkit.Escape(blockkit.Clip(j.Statement, 2000)) + "```"),
	}
	if j.Message != "" {
		blocks = append(blocks, blockkit.Section("*Message:* "+blockkit.Escape(j.Message)))
	}
	return reply{text: "SQL job " + id + ": " + string(j.Status), outcome: OutcomeOK, ids: []string{id}, blocks: blocks}
}

func (s *Service) sqlResult(ctx context.Context, req request, id string) reply {
	res, err := s.dli.PreviewSQLResult(ctx, id, "")
	if err != nil {
		return dliError("result of SQL job "+id, err)
	}
	headers := make([]string, len(res.Columns))
	for i, c := range res.Columns {
		headers[i] = c.Name
	}
	rows := make([][]string, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = make([]string, len(r))
		for k, v := range r {
			rows[i][k] = fmt.Sprint(v)
		}
	}
	blocks := []slack.Block{blockkit.Section(fmt.Sprintf("*Result of SQL job %s* (%d rows)", blockkit.Escape(id), max(res.RowCount, len(rows))))}
	if len(headers) == 0 {
		blocks = append(blocks, blockkit.Section("_no columns_"))
	} else {
		blocks = append(blocks, table(headers, rows, s.cfg.TableRows, "rows")...)
	}
	if len(rows) > s.cfg.TableRows {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write(headers)
		_ = w.WriteAll(rows)
		if s.upload(ctx, req.Channel, "sql-"+keyToken(id)+".csv", b.Bytes(), fmt.Sprintf("Result preview of SQL job %s (for <@%s>)", blockkit.Escape(id), req.User)) {
			blocks = append(blocks, blockkit.Context("All previewed rows are attached to the channel as CSV."))
		}
	}
	return reply{text: "Result of SQL job " + id, outcome: OutcomeOK, ids: []string{id}, blocks: blocks}
}

func (s *Service) jobs(ctx context.Context, cmd *command.Command) reply {
	page, err := s.dli.ListSQLJobs(ctx, dli.SQLJobQuery{PageSize: 50, Status: dli.SQLJobStatus(strings.ToUpper(cmd.Flag("status"))), Queue: cmd.Flag("queue")})
	if err != nil {
		return dliError("listing SQL jobs", err)
	}
	rows := make([][]string, len(page.Jobs))
	for i, j := range page.Jobs {
		rows[i] = []string{j.ID, string(j.Status), j.Type, j.Queue, fmtTime(j.Started), blockkit.Clip(j.Statement, 30)}
	}
	total := max(page.Total, len(page.Jobs))
	return reply{text: fmt.Sprintf("%d SQL jobs", total), outcome: OutcomeOK, blocks: append(
		[]slack.Block{blockkit.Header(fmt.Sprintf("SQL jobs (%d)", total))},
		table([]string{"JOB", "STATUS", "TYPE", "QUEUE", "STARTED", "STATEMENT"}, rows, s.cfg.TableRows, "jobs")...)}
}
