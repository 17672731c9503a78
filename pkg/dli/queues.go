package dli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	dlisdk "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// QueueType is a queue's type (reference 6.3).
type QueueType string

// Queue types. ListQueues with "" lists DLI's default, QueueTypeSQL.
const (
	QueueTypeSQL     QueueType = "sql"     // queues for SQL jobs
	QueueTypeGeneral QueueType = "general" // queues for Flink and Spark jobs
	QueueTypeAll     QueueType = "all"     // every queue (a filter value)
)

// Queue is a DLI queue (reference 6.3 and 6.4).
type Queue struct {
	Name        string
	Description string
	Owner       string
	Type        QueueType
	// CUs is the queue's current number of compute units.
	CUs int
	// CUSpec is the CUs bought (yearly/monthly) or initially set.
	CUSpec int
	// CUScaleOutLimit and CUScaleInLimit bound elastic scaling; 0 when
	// unknown.
	CUScaleOutLimit, CUScaleInLimit int
	ResourceID                      string
	EnterpriseProjectID             string
	// ResourceMode is 0 for a shared queue, 1 for a dedicated one.
	ResourceMode int
	Platform     string
	IsRestarting bool
	Created      time.Time
}

// ListQueues lists the project's queues of the given type ("" is DLI's
// default, SQL queues; QueueTypeAll lists every queue) (reference 6.3).
func (c *Client) ListQueues(ctx context.Context, typ QueueType) ([]Queue, error) {
	var out []Queue
	err := c.call(ctx, "ListQueues", true, func(s *dlisdk.DliClient) error {
		resp, err := s.ListQueues(&model.ListQueuesRequest{QueueType: opt(string(typ))})
		if err != nil {
			return err
		}
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		out = out[:0]
		for _, q := range deref(resp.Queues) {
			out = append(out, Queue{
				Name: deref(q.QueueName), Description: deref(q.Description), Owner: deref(q.Owner),
				Type: QueueType(enumValue(q.QueueType)), CUs: int(deref(q.CuCount)), CUSpec: int(deref(q.CuSpec)),
				CUScaleOutLimit: int(deref(q.CuScaleOutLimit)), CUScaleInLimit: int(deref(q.CuScaleInLimit)),
				ResourceID: deref(q.ResourceId), EnterpriseProjectID: deref(q.EnterpriseProjectId),
				ResourceMode: int(deref(q.ResourceMode)), Platform: deref(q.Platform),
				IsRestarting: deref(q.IsRestarting), Created: msTime(q.CreateTime),
			})
		}
		return nil
	})
	return out, err
}

// GetQueue returns one queue (reference 6.4).
func (c *Client) GetQueue(ctx context.Context, name string) (Queue, error) {
	const op = "GetQueue"
	if name == "" {
		return Queue{}, invalidf(op, "queue name is empty")
	}
	var out Queue
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		q, err := s.ShowQueue(&model.ShowQueueRequest{QueueName: name})
		if err != nil {
			return err
		}
		if err := checkSuccess(q.IsSuccess, q.Message); err != nil {
			return err
		}
		out = Queue{
			Name: deref(q.QueueName), Description: deref(q.Description), Owner: deref(q.Owner),
			Type: QueueType(deref(q.QueueType)), CUs: int(deref(q.CuCount)), CUSpec: int(deref(q.CuSpec)),
			CUScaleOutLimit: int(deref(q.CuScaleOutLimit)), CUScaleInLimit: int(deref(q.CuScaleInLimit)),
			ResourceID: deref(q.ResourceId), EnterpriseProjectID: deref(q.EnterpriseProjectId),
			ResourceMode: int(deref(q.ResourceMode)), Created: msTime(q.CreateTime),
		}
		return nil
	})
	return out, err
}

// ScaleDirection says whether ScaleQueue adds or removes CUs.
type ScaleDirection string

// Scale directions (the action values of reference 6.5).
const (
	ScaleOut ScaleDirection = "scale_out"
	ScaleIn  ScaleDirection = "scale_in"
)

// ScaleQueue scales a queue out or in by cus compute units, a multiple of
// 16 (reference 6.5). It is not retried after an ambiguous failure.
func (c *Client) ScaleQueue(ctx context.Context, name string, dir ScaleDirection, cus int) error {
	const op = "ScaleQueue"
	switch {
	case name == "":
		return invalidf(op, "queue name is empty")
	case dir != ScaleOut && dir != ScaleIn:
		return invalidf(op, "scale direction %q is neither %q nor %q", dir, ScaleOut, ScaleIn)
	case cus <= 0:
		return invalidf(op, "CU count %d is not positive", cus)
	}
	return c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		resp, err := s.RunQueueAction(&model.RunQueueActionRequest{QueueName: name, Body: &model.RunQueueActionRequestBody{
			Action: string(dir), CuCount: ptr(int32(cus)),
		}})
		if err != nil {
			return err
		}
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		if resp.Result != nil && !*resp.Result {
			return &Error{Message: "DLI reported the scaling failed: " + deref(resp.Message)}
		}
		return nil
	})
}

// RestartQueue restarts a SQL queue (reference 6.5). With force, running
// jobs are cancelled and DLI returns the id of the restart job; otherwise
// the id is empty. It is not retried after an ambiguous failure.
func (c *Client) RestartQueue(ctx context.Context, name string, force bool) (jobID string, err error) {
	const op = "RestartQueue"
	if name == "" {
		return "", invalidf(op, "queue name is empty")
	}
	err = c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		resp, err := s.RunQueueAction(&model.RunQueueActionRequest{QueueName: name, Body: &model.RunQueueActionRequestBody{
			Action: "restart", Force: ptr(force),
		}})
		if err != nil {
			return err
		}
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		jobID = deref(resp.JobId)
		return nil
	})
	return jobID, err
}

// Plan is a scheduled CU change of a queue (reference 6.7).
type Plan struct {
	ID int64
	PlanSpec
	// LastExecuted is when the plan last fired; zero if never.
	LastExecuted time.Time
}

// PlanSpec is what a scheduled CU change does (reference 6.6 and 6.10).
type PlanSpec struct {
	// Name: digits, letters and underscores, not only digits, not starting
	// with an underscore.
	Name string
	// TargetCU is the queue's CU count once the plan fires.
	TargetCU int
	// StartHour (0–23) and StartMinute (0–59) are when the plan fires.
	StartHour, StartMinute int
	// RepeatDays are the weekdays it fires on; none means once, at the next
	// StartHour:StartMinute.
	RepeatDays []time.Weekday
	// ValidFrom and ValidUntil bound the plan's validity; zero means
	// unbounded (the field is not sent).
	ValidFrom, ValidUntil time.Time
	// Inactive deactivates the plan (activate=false). The zero value is an
	// active plan; activate is always sent.
	Inactive bool
}

var weekdayNames = [...]string{"SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY"}

func parseWeekday(s string) (time.Weekday, error) {
	for i, n := range weekdayNames {
		if strings.EqualFold(s, n) {
			return time.Weekday(i), nil
		}
	}
	return 0, fmt.Errorf("unknown repeat_day %q", s)
}

func (p PlanSpec) validate(op string) error {
	switch {
	case p.Name == "":
		return invalidf(op, "plan name is empty")
	case p.TargetCU <= 0:
		return invalidf(op, "target CU %d is not positive", p.TargetCU)
	case p.StartHour < 0 || p.StartHour > 23:
		return invalidf(op, "start hour %d is not in 0..23", p.StartHour)
	case p.StartMinute < 0 || p.StartMinute > 59:
		return invalidf(op, "start minute %d is not in 0..59", p.StartMinute)
	case !p.ValidFrom.IsZero() && !p.ValidUntil.IsZero() && p.ValidUntil.Before(p.ValidFrom):
		return invalidf(op, "validity ends (%v) before it begins (%v)", p.ValidUntil, p.ValidFrom)
	}
	for _, d := range p.RepeatDays {
		if d < time.Sunday || d > time.Saturday {
			return invalidf(op, "repeat day %d is not a weekday", d)
		}
	}
	return nil
}

func (p PlanSpec) body() *model.QueuePlanRequestBody {
	days := make([]model.QueuePlanRequestBodyRepeatDay, 0, len(p.RepeatDays))
	for _, d := range p.RepeatDays {
		days = append(days, *enumOf[model.QueuePlanRequestBodyRepeatDay](weekdayNames[d]))
	}
	return &model.QueuePlanRequestBody{
		PlanName: p.Name, TargetCu: int32(p.TargetCU), StartHour: int32(p.StartHour), StartMinute: int32(p.StartMinute),
		RepeatDay: days, ValidDateBegin: toMS(p.ValidFrom), ValidDateEnd: toMS(p.ValidUntil), Activate: ptr(!p.Inactive),
	}
}

// CreatePlan creates a scheduled CU change for a queue (reference 6.6). It
// is not retried after an ambiguous failure.
func (c *Client) CreatePlan(ctx context.Context, queue string, spec PlanSpec) error {
	const op = "CreatePlan"
	if queue == "" {
		return invalidf(op, "queue name is empty")
	}
	if err := spec.validate(op); err != nil {
		return err
	}
	return c.call(ctx, op, false, func(s *dlisdk.DliClient) error {
		resp, err := s.CreateQueuePlan(&model.CreateQueuePlanRequest{QueueName: queue, Body: spec.body()})
		if err != nil {
			return err
		}
		return checkSuccess(resp.IsSuccess, resp.Message)
	})
}

// ListPlans lists a queue's scheduled CU changes (reference 6.7).
func (c *Client) ListPlans(ctx context.Context, queue string) ([]Plan, error) {
	const op = "ListPlans"
	if queue == "" {
		return nil, invalidf(op, "queue name is empty")
	}
	var out []Plan
	err := c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.ListQueuePlans(&model.ListQueuePlansRequest{QueueName: queue})
		if err != nil {
			return err
		}
		if err := checkSuccess(resp.IsSuccess, resp.Message); err != nil {
			return err
		}
		out = out[:0]
		for _, p := range deref(resp.Plans) {
			pl := Plan{ID: deref(p.Id), LastExecuted: msTime(p.LastExecuteTime), PlanSpec: PlanSpec{
				Name: deref(p.PlanName), TargetCU: int(deref(p.TargetCu)),
				StartHour: int(deref(p.StartHour)), StartMinute: int(deref(p.StartMinute)),
				ValidFrom: msTime(p.ValidDateBegin), ValidUntil: msTime(p.ValidDateEnd),
				Inactive: p.Activate != nil && !*p.Activate,
			}}
			for _, d := range p.RepeatDay {
				wd, err := parseWeekday(d.Value())
				if err != nil {
					return &Error{Message: fmt.Sprintf("plan %d: %v", pl.ID, err)}
				}
				pl.RepeatDays = append(pl.RepeatDays, wd)
			}
			out = append(out, pl)
		}
		return nil
	})
	return out, err
}

// DeletePlans deletes several scheduled CU changes of a queue (reference
// 6.8). Retried like a read; when a retry finds the plans gone after an
// attempt whose answer was lost, that attempt deleted them: success.
func (c *Client) DeletePlans(ctx context.Context, queue string, ids []int64) error {
	const op = "DeletePlans"
	if queue == "" {
		return invalidf(op, "queue name is empty")
	}
	if len(ids) == 0 {
		return invalidf(op, "no plan ids")
	}
	return c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.BatchDeleteQueuePlans(&model.BatchDeleteQueuePlansRequest{QueueName: queue,
			Body: &model.BatchDeleteQueuePlansRequestBody{PlanIds: ids}})
		if err != nil {
			return err
		}
		return checkSuccess(resp.IsSuccess, resp.Message)
	})
}

// DeletePlan deletes one scheduled CU change (reference 6.9). Retried like
// DeletePlans, with the same "gone after a lost answer" success.
func (c *Client) DeletePlan(ctx context.Context, queue string, id int64) error {
	const op = "DeletePlan"
	if queue == "" {
		return invalidf(op, "queue name is empty")
	}
	return c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.DeleteQueuePlan(&model.DeleteQueuePlanRequest{QueueName: queue, PlanId: id})
		if err != nil {
			return err
		}
		return checkSuccess(resp.IsSuccess, resp.Message)
	})
}

// UpdatePlan replaces a scheduled CU change (reference 6.10). A PUT of the
// whole plan, it is retried like a read.
func (c *Client) UpdatePlan(ctx context.Context, queue string, id int64, spec PlanSpec) error {
	const op = "UpdatePlan"
	if queue == "" {
		return invalidf(op, "queue name is empty")
	}
	if err := spec.validate(op); err != nil {
		return err
	}
	return c.call(ctx, op, true, func(s *dlisdk.DliClient) error {
		resp, err := s.UpdateQueuePlan(&model.UpdateQueuePlanRequest{QueueName: queue, PlanId: strconv.FormatInt(id, 10), Body: spec.body()})
		if err != nil {
			return err
		}
		return checkSuccess(resp.IsSuccess, resp.Message)
	})
}
