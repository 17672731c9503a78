package dlitest

import (
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	dli "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/services/dli/v1/model"
)

// TestSDKQueuesAndPlans calls every queue and plan endpoint through the
// official SDK client (signed with AK/SK) and checks the answers decode into
// the SDK's models.
func TestSDKQueuesAndPlans(t *testing.T) {
	srv := NewServer(t) // signatures on; the clock starts at the wall clock
	for _, s := range []QueueSpec{{Name: "etl", CUCount: 64, MaxCU: 256}, {Name: "flinkq", Type: QueueTypeGeneral, CUCount: 128}} {
		if err := srv.AddQueue(s); err != nil {
			t.Fatal(err)
		}
	}
	c := sdkClient(t, srv)

	list, err := c.ListQueues(&model.ListQueuesRequest{QueueType: ptr("all"), WithPriv: ptr(true), WithChargeInfo: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	if list.IsSuccess == nil || !*list.IsSuccess || list.Queues == nil || len(*list.Queues) != 2 {
		t.Fatalf("list queues: %+v", list)
	}
	q := (*list.Queues)[0]
	if *q.QueueName != "etl" || *q.CuCount != 64 || q.QueueType.Value() != "sql" || *q.CuScaleOutLimit != 256 ||
		*q.CuScaleInLimit != 16 || *q.IsRestarting || *q.CreateTime != srv.Clock().Now().UnixMilli() || *q.ChargingMode != 1 ||
		*q.CidrInMgntsubnet == "" || *q.ResourceId == "" || *q.CuSpec != 64 {
		t.Fatalf("queue: %+v", q)
	}
	// Without queue_type the SDK gets the reference's default: sql queues.
	list, err = c.ListQueues(&model.ListQueuesRequest{})
	if err != nil || len(*list.Queues) != 1 {
		t.Fatalf("default queue_type: %v %+v", err, list)
	}

	show, err := c.ShowQueue(&model.ShowQueueRequest{QueueName: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	if *show.QueueName != "etl" || *show.CuCount != 64 || *show.QueueType != "sql" || *show.CreateTime == 0 ||
		*show.ResourceMode != 1 || *show.CuScaleInLimit != 16 || *show.CuScaleOutLimit != 256 || !*show.IsSuccess {
		t.Fatalf("show queue: %+v", show)
	}

	act, err := c.RunQueueAction(&model.RunQueueActionRequest{QueueName: "etl",
		Body: &model.RunQueueActionRequestBody{Action: "scale_out", CuCount: ptr(int32(16))}})
	if err != nil {
		t.Fatal(err)
	}
	if !*act.Result || *act.QueueName != "etl" {
		t.Fatalf("scale: %+v", act)
	}
	srv.Advance(srv.Options().Timing.ScaleDelay)
	if q := qState(t, srv, "etl"); q.CUCount != 80 {
		t.Fatalf("after scale: %+v", q)
	}

	days := model.GetQueuePlanRequestBodyRepeatDayEnum()
	created, err := c.CreateQueuePlan(&model.CreateQueuePlanRequest{QueueName: "etl", Body: &model.QueuePlanRequestBody{
		PlanName: "plan_A", TargetCu: 128, StartHour: 20, StartMinute: 30,
		RepeatDay: []model.QueuePlanRequestBodyRepeatDay{days.MONDAY, days.SUNDAY}, Activate: ptr(true),
	}})
	if err != nil || !*created.IsSuccess {
		t.Fatalf("create plan: %v %+v", err, created)
	}
	// No repeat_day: the SDK sends null, the plan runs once.
	if _, err := c.CreateQueuePlan(&model.CreateQueuePlanRequest{QueueName: "etl", Body: &model.QueuePlanRequestBody{
		PlanName: "once", TargetCu: 64, StartHour: 3, StartMinute: 0}}); err != nil {
		t.Fatalf("create once plan: %v", err)
	}
	plans, err := c.ListQueuePlans(&model.ListQueuePlansRequest{QueueName: "etl"})
	if err != nil {
		t.Fatal(err)
	}
	if plans.Plans == nil || len(*plans.Plans) != 2 {
		t.Fatalf("list plans: %+v", plans)
	}
	p := (*plans.Plans)[0]
	if *p.PlanName != "plan_A" || *p.TargetCu != 128 || *p.StartHour != 20 || *p.StartMinute != 30 || !*p.Activate ||
		len(p.RepeatDay) != 2 || p.RepeatDay[0].Value() != "MONDAY" || p.RepeatDay[1].Value() != "SUNDAY" || *p.Id == 0 {
		t.Fatalf("plan: %+v", p)
	}
	id := *p.Id
	upd, err := c.UpdateQueuePlan(&model.UpdateQueuePlanRequest{QueueName: "etl", PlanId: strconv.FormatInt(id, 10), Body: &model.QueuePlanRequestBody{
		PlanName: "plan_A", TargetCu: 96, StartHour: 21, StartMinute: 0, RepeatDay: []model.QueuePlanRequestBodyRepeatDay{days.FRIDAY}}})
	if err != nil {
		t.Fatal(err)
	}
	if *upd.PlanId != id || *upd.QueueName != "etl" || !*upd.IsSuccess {
		t.Fatalf("update plan: %+v", upd)
	}
	del, err := c.DeleteQueuePlan(&model.DeleteQueuePlanRequest{QueueName: "etl", PlanId: id})
	if err != nil || !*del.IsSuccess {
		t.Fatalf("delete plan: %v %+v", err, del)
	}
	other := (*plans.Plans)[1]
	bd, err := c.BatchDeleteQueuePlans(&model.BatchDeleteQueuePlansRequest{QueueName: "etl",
		Body: &model.BatchDeleteQueuePlansRequestBody{PlanIds: []int64{*other.Id}}})
	if err != nil || !*bd.IsSuccess {
		t.Fatalf("batch delete: %v %+v", err, bd)
	}

	// Errors reach the SDK as ServiceResponseError with DLI's code.
	_, err = c.ShowQueue(&model.ShowQueueRequest{QueueName: "nope"})
	var se *sdkerr.ServiceResponseError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.ErrorCode != "DLI.0008" {
		t.Fatalf("unknown queue: %v", err)
	}
	_, err = c.DeleteQueuePlan(&model.DeleteQueuePlanRequest{QueueName: "etl", PlanId: id})
	if !errors.As(err, &se) || se.ErrorCode != "DLI.0002" {
		t.Fatalf("deleted plan: %v", err)
	}

	for _, r := range srv.Requests() {
		if !r.AuthOK {
			t.Fatalf("SDK request not authenticated: %+v", r)
		}
	}
}

// TestSDKAuthFailures: the SDK sees 401 DLI.0013 for a wrong SK and for a
// missing security token in token mode, and passes with the token.
func TestSDKAuthFailures(t *testing.T) {
	srv := NewServer(t, Options{SecurityToken: "tok-1"})
	if err := srv.AddQueue(QueueSpec{Name: "etl"}); err != nil {
		t.Fatal(err)
	}
	o := srv.Options()
	client := func(sk, token string) *dli.DliClient {
		b := basic.NewCredentialsBuilder().WithAk(o.AK).WithSk(sk).WithProjectId(o.ProjectID)
		if token != "" {
			b = b.WithSecurityToken(token)
		}
		cred, err := b.SafeBuild()
		if err != nil {
			t.Fatal(err)
		}
		return dli.NewDliClient(dli.DliClientBuilder().WithEndpoints([]string{srv.URL}).WithCredential(cred).Build())
	}
	for _, tc := range []struct {
		name, sk, token string
		ok              bool
	}{
		{"good", o.SK, "tok-1", true},
		{"wrong SK", "bad-sk", "tok-1", false},
		{"no token", o.SK, "", false},
		{"wrong token", o.SK, "tok-2", false},
	} {
		_, err := client(tc.sk, tc.token).ShowQueue(&model.ShowQueueRequest{QueueName: "etl"})
		if tc.ok {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		var se *sdkerr.ServiceResponseError
		if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized || se.ErrorCode != "DLI.0013" {
			t.Errorf("%s: %v, want 401 DLI.0013", tc.name, err)
		}
	}
}
