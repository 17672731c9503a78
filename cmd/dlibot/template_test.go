package main

// Checks of template.yaml (the AWS SAM template) against the CloudFormation
// and SAM resource types (goformation decodes every resource strictly:
// unknown properties and wrong types fail) and against this binary: every
// Handler is a function the dispatcher knows, every route is served by the
// function it is wired to, every environment variable is one the
// configuration reads, and secrets only ever arrive by reference.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"
	"github.com/sethvargo/go-envconfig"

	"github.com/dlibot/dlibot/pkg/dli"
	"github.com/dlibot/dlibot/pkg/host"
)

const templatePath = "../../template.yaml"

// dlibotFunctions are the Handler values a template may use (DESIGN.md).
var dlibotFunctions = []string{"autoscale", "chatops", "jobwatch", "obsimport"}

// requiredRoutes are the HTTP routes the issue and DESIGN.md require.
var requiredRoutes = []string{"POST /slack/commands", "POST /slack/interactions", "POST /events", "POST /webhooks/obs"}

func openTemplate(t *testing.T, overrides map[string]any) *cloudformation.Template {
	t.Helper()
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	js, err := evaluateConditions(raw, overrides)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	tpl, err := goformation.ParseJSONWithOptions(js, &intrinsics.ProcessorOptions{
		ParameterOverrides: overrides,
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Fn::Sub":    fnSub,
			"Fn::GetAtt": fnGetAtt,
		},
	})
	if err != nil {
		t.Fatalf("template.yaml does not decode as CloudFormation/SAM: %v", err)
	}
	return tpl
}

// evaluateConditions returns the template as JSON with every entry of
// Conditions replaced by its value for the parameters' defaults (with
// overrides), so that goformation's Fn::If can pick a branch. (goformation's
// own EvaluateConditions also replaces each resource that carries a
// Condition by that condition's value.)
func evaluateConditions(yamlDoc []byte, overrides map[string]any) ([]byte, error) {
	js, err := intrinsics.ProcessYAML(yamlDoc, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := json.Unmarshal(js, &doc); err != nil {
		return nil, err
	}
	params := map[string]any{}
	ps, _ := doc["Parameters"].(map[string]any)
	for name, p := range ps {
		if pm, ok := p.(map[string]any); ok {
			params[name] = pm["Default"]
		}
	}
	for k, v := range overrides {
		params[k] = v
	}
	conds, _ := doc["Conditions"].(map[string]any)
	values := map[string]bool{}
	var eval func(expr any, depth int) (bool, error)
	value := func(x any) (string, error) {
		if m, ok := x.(map[string]any); ok {
			name, ok := m["Ref"].(string)
			if !ok || len(m) != 1 {
				return "", fmt.Errorf("condition operand %v: only Ref and literals are supported", x)
			}
			v, ok := params[name]
			if !ok {
				return "", fmt.Errorf("condition refers to unknown parameter %s", name)
			}
			x = v
		}
		if f, ok := x.(float64); ok {
			return strconv.FormatFloat(f, 'f', -1, 64), nil
		}
		return fmt.Sprint(x), nil
	}
	eval = func(expr any, depth int) (bool, error) {
		if depth > 20 {
			return false, errors.New("conditions nest too deep (a cycle?)")
		}
		m, ok := expr.(map[string]any)
		if !ok || len(m) != 1 {
			return false, fmt.Errorf("condition %v is not a single-function object", expr)
		}
		for fn, arg := range m {
			if fn == "Condition" {
				name, _ := arg.(string)
				c, ok := conds[name]
				if !ok {
					return false, fmt.Errorf("unknown condition %q", name)
				}
				return eval(c, depth+1)
			}
			args, _ := arg.([]any)
			switch fn {
			case "Fn::Equals":
				if len(args) != 2 {
					return false, fmt.Errorf("Fn::Equals wants 2 operands, got %v", arg)
				}
				a, err := value(args[0])
				if err != nil {
					return false, err
				}
				b, err := value(args[1])
				return a == b, err
			case "Fn::Not":
				if len(args) != 1 {
					return false, fmt.Errorf("Fn::Not wants 1 operand, got %v", arg)
				}
				v, err := eval(args[0], depth+1)
				return !v, err
			case "Fn::And", "Fn::Or":
				and := fn == "Fn::And"
				for _, a := range args {
					v, err := eval(a, depth+1)
					if err != nil {
						return false, err
					}
					if v != and {
						return v, nil
					}
				}
				return and, nil
			}
			return false, fmt.Errorf("condition function %s not supported", fn)
		}
		return false, nil
	}
	for name, c := range conds {
		v, err := eval(c, 0)
		if err != nil {
			return nil, fmt.Errorf("condition %s: %w", name, err)
		}
		values[name] = v
	}
	for name, v := range values {
		conds[name] = v
	}
	return json.Marshal(doc)
}

// fnGetAtt resolves Fn::GetAtt to a readable placeholder, "GetAtt:Res.Attr",
// so tests can see what a property points at (goformation leaves it nil).
func fnGetAtt(_ string, input any, _ any) any {
	switch v := input.(type) {
	case string:
		return "GetAtt:" + v
	case []any:
		parts := make([]string, 0, len(v))
		for _, p := range v {
			parts = append(parts, fmt.Sprint(p))
		}
		return "GetAtt:" + strings.Join(parts, ".")
	}
	return nil
}

var subVar = regexp.MustCompile(`\$\{([.:0-9A-Za-z]+)\}`)

// fnSub is goformation's Fn::Sub for the string form, except that Number
// parameters are formatted (goformation leaves "${N}" in place) and the
// pseudo parameters it does not know get fixed values.
func fnSub(name string, input any, template any) any {
	s, ok := input.(string)
	if !ok {
		return intrinsics.FnSub(name, input, template)
	}
	return subVar.ReplaceAllStringFunc(s, func(m string) string {
		v := subVar.FindStringSubmatch(m)[1]
		switch v {
		case "AWS::Partition":
			return "aws"
		case "AWS::URLSuffix":
			return "amazonaws.com"
		}
		if strings.Contains(v, ".") {
			return fnGetAtt("", v, template).(string)
		}
		switch r := intrinsics.Ref("Ref", v, template).(type) {
		case nil:
			return "${" + v + "}" // a resource: its ID is only known when deployed
		case float64:
			return strconv.FormatFloat(r, 'f', -1, 64)
		default:
			return fmt.Sprint(r)
		}
	})
}

func samFunctions(t *testing.T, tpl *cloudformation.Template) map[string]*serverless.Function {
	t.Helper()
	fns := tpl.GetAllServerlessFunctionResources()
	if len(fns) == 0 {
		t.Fatal("template.yaml has no AWS::Serverless::Function")
	}
	return fns
}

func TestTemplateDecodes(t *testing.T) {
	tpl := openTemplate(t, nil)
	if tpl.Transform == nil || tpl.Transform.String == nil || *tpl.Transform.String != "AWS::Serverless-2016-10-31" {
		t.Errorf("Transform = %+v, want AWS::Serverless-2016-10-31", tpl.Transform)
	}
	g, err := tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatalf("Globals.Function: %v", err)
	}
	if g.Runtime == nil || *g.Runtime != "provided.al2023" {
		t.Errorf("Globals.Function.Runtime = %v, want provided.al2023", g.Runtime)
	}
	if g.Architectures == nil || strings.Join(*g.Architectures, ",") != "arm64" {
		t.Errorf("Globals.Function.Architectures = %v, want [arm64]", g.Architectures)
	}
	if g.CodeUri == nil || g.CodeUri.String == nil || *g.CodeUri.String != "." {
		t.Errorf("Globals.Function.CodeUri = %+v, want \".\" (the root Makefile builds the bootstrap)", g.CodeUri)
	}
}

func TestTemplateHandlersAndBuild(t *testing.T) {
	tpl := openTemplate(t, nil)
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	// The Lambda build: static, no RPC mode, reproducible paths, arm64 as
	// the template's Architectures say.
	for _, want := range []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=$(LAMBDA_GOARCH)", "LAMBDA_GOARCH ?= arm64",
		"-tags lambda.norpc", "-trimpath", "-ldflags='-s -w'", "-o $(ARTIFACTS_DIR)/bootstrap ./cmd/dlibot"} {
		if !strings.Contains(string(mk), want) {
			t.Errorf("the Makefile's Lambda build lacks %q", want)
		}
	}
	handlers := map[string]string{}
	for id, fn := range samFunctions(t, tpl) {
		if fn.AWSCloudFormationMetadata["BuildMethod"] != "makefile" {
			t.Errorf("%s: Metadata.BuildMethod = %v, want makefile", id, fn.AWSCloudFormationMetadata["BuildMethod"])
		}
		if !makefileBuilds(string(mk), id) {
			t.Errorf("%s: the root Makefile has no build-%s target (sam build calls it)", id, id)
		}
		if fn.Handler == nil {
			t.Errorf("%s: no Handler", id)
			continue
		}
		h := *fn.Handler
		if prev, dup := handlers[h]; dup {
			t.Errorf("%s and %s both run Handler %q", prev, id, h)
		}
		handlers[h] = id
		if fn.Role == nil || !strings.HasPrefix(*fn.Role, "GetAtt:") {
			t.Errorf("%s: Role = %v, want a role of this template: without one SAM generates a role with AWSLambdaBasicExecutionRole (logs on every group)", id, fn.Role)
		} else if _, err := tpl.GetIAMRoleWithName(strings.TrimSuffix(strings.TrimPrefix(*fn.Role, "GetAtt:"), ".Arn")); err != nil {
			t.Errorf("%s: Role %s: %v", id, *fn.Role, err)
		}
	}
	for _, name := range dlibotFunctions {
		t.Run(name, func(t *testing.T) {
			id, ok := handlers[name]
			if !ok {
				t.Fatalf("no function in template.yaml has Handler %q", name)
			}
			if _, err := host.DefaultRegistry.Lookup(name); err != nil {
				t.Skipf("%s (Handler %s): function %q is not registered in cmd/dlibot yet (%v); the dispatcher would refuse it", id, name, name, err)
			}
		})
	}
	for h, id := range handlers {
		if !contains(dlibotFunctions, h) {
			t.Errorf("%s: Handler %q is not a dlibot function (want one of %v)", id, h, dlibotFunctions)
		}
	}
}

// makefileBuilds reports whether the Makefile provides build-<id>, either
// literally or through LAMBDA_FUNCTIONS.
func makefileBuilds(mk, id string) bool {
	if strings.Contains(mk, "build-"+id+":") {
		return true
	}
	m := regexp.MustCompile(`(?m)^LAMBDA_FUNCTIONS\s*:?=\s*(.*)$`).FindStringSubmatch(mk)
	return m != nil && contains(strings.Fields(m[1]), id)
}

func TestTemplateRoutes(t *testing.T) {
	tpl := openTemplate(t, nil)
	owners := host.DefaultRegistry.Owners()
	wired := map[string]string{} // route → Handler
	for id, fn := range samFunctions(t, tpl) {
		for evName, ev := range fn.Events {
			if ev.Type != "HttpApi" {
				continue
			}
			p := ev.Properties.HttpApiEvent
			if p == nil || p.Method == nil || p.Path == nil {
				t.Errorf("%s.%s: HttpApi event without Method and Path", id, evName)
				continue
			}
			if p.PayloadFormatVersion == nil || *p.PayloadFormatVersion != "2.0" {
				t.Errorf("%s.%s: PayloadFormatVersion must be \"2.0\" (the Lambda host decodes API Gateway v2 requests)", id, evName)
			}
			route := strings.ToUpper(*p.Method) + " " + *p.Path
			if prev, dup := wired[route]; dup {
				t.Errorf("%s wired twice (%s and %s)", route, prev, *fn.Handler)
			}
			wired[route] = *fn.Handler
			switch owner, known := owners[route]; {
			case route == "POST /events":
				// Every function serves /events in Lambda: it handles the
				// CloudEvents it consumes and answers 404 to the others.
			case !known:
				t.Errorf("%s.%s: route %s is served by no dlibot function", id, evName, route)
			case owner != *fn.Handler:
				t.Errorf("%s.%s: route %s goes to %s, but %s serves it", id, evName, route, *fn.Handler, owner)
			}
		}
	}
	for _, r := range requiredRoutes {
		if _, ok := wired[r]; !ok {
			t.Errorf("template.yaml does not route %s", r)
		}
	}
	for route, owner := range owners {
		if got, ok := wired[route]; !ok {
			t.Errorf("%s (served by %s) has no route in template.yaml", route, owner)
		} else if got != owner {
			t.Errorf("%s goes to %s in template.yaml, want %s", route, got, owner)
		}
	}
}

func TestTemplateSchedulesAndS3(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		overrides                    map[string]any
		jobwatch, interval           string
		autoscale, autoscaleInterval string
	}{
		{"defaults", nil, "rate(1 minute)", "1m", "rate(60 minutes)", "60m"},
		{"custom", map[string]any{"JobwatchIntervalMinutes": 5, "AutoscaleIntervalMinutes": 1},
			"rate(5 minutes)", "5m", "rate(1 minute)", "1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tpl := openTemplate(t, tc.overrides)
			byHandler := functionsByHandler(t, tpl)
			sched := func(h string) string {
				for _, ev := range byHandler[h].Events {
					if ev.Type == "Schedule" && ev.Properties.ScheduleEvent != nil {
						return ev.Properties.ScheduleEvent.Schedule
					}
				}
				return ""
			}
			if got := sched("jobwatch"); got != tc.jobwatch {
				t.Errorf("jobwatch schedule = %q, want %q", got, tc.jobwatch)
			}
			if got := byHandler["jobwatch"].Environment.Variables["JOBWATCH_INTERVAL"]; got != tc.interval {
				t.Errorf("JOBWATCH_INTERVAL = %q, want %q (must match the schedule)", got, tc.interval)
			}
			if got := sched("autoscale"); got != tc.autoscale {
				t.Errorf("autoscale schedule = %q, want %q", got, tc.autoscale)
			}
			if got := byHandler["autoscale"].Environment.Variables["AUTOSCALE_INTERVAL"]; got != tc.autoscaleInterval {
				t.Errorf("AUTOSCALE_INTERVAL = %q, want %q (must match the schedule)", got, tc.autoscaleInterval)
			}
			// chatops (timed reverts) and obsimport (queue sweeps) tick too:
			// in Lambda only a schedule drives them.
			for _, h := range []string{"chatops", "obsimport"} {
				if s := sched(h); s != "rate(1 minute)" {
					t.Errorf("%s schedule = %q, want rate(1 minute)", h, s)
				}
			}
		})
	}
	tpl := openTemplate(t, nil)
	perm, err := tpl.GetLambdaPermissionWithName("ObsimportS3Permission")
	if err != nil {
		t.Fatal(err)
	}
	if perm.Principal != "s3.amazonaws.com" || perm.AWSCloudFormationCondition != "HasImportBucket" || perm.SourceAccount == nil {
		t.Errorf("ObsimportS3Permission = principal %q condition %q source account %v; want s3.amazonaws.com, HasImportBucket, set",
			perm.Principal, perm.AWSCloudFormationCondition, perm.SourceAccount)
	}
	b, err := tpl.GetS3BucketWithName("ImportBucket")
	if err != nil {
		t.Fatal(err)
	}
	if b.AWSCloudFormationCondition != "CreateImportBucket" {
		t.Errorf("ImportBucket condition = %q, want CreateImportBucket", b.AWSCloudFormationCondition)
	}
	if b.NotificationConfiguration == nil || len(b.NotificationConfiguration.LambdaConfigurations) != 1 ||
		b.NotificationConfiguration.LambdaConfigurations[0].Event != "s3:ObjectCreated:*" {
		t.Errorf("ImportBucket must notify obsimport of s3:ObjectCreated:*, got %+v", b.NotificationConfiguration)
	}
}

func functionsByHandler(t *testing.T, tpl *cloudformation.Template) map[string]*serverless.Function {
	t.Helper()
	out := map[string]*serverless.Function{}
	for _, fn := range samFunctions(t, tpl) {
		if fn.Handler != nil {
			out[*fn.Handler] = fn
		}
	}
	for _, h := range dlibotFunctions {
		if out[h] == nil {
			t.Fatalf("no function with Handler %s", h)
		}
		if out[h].Environment == nil {
			out[h].Environment = &serverless.Function_FunctionEnvironment{}
		}
	}
	return out
}

// hostVariables are the variables every function reads: the hosting
// Config and the DLI client's.
func hostVariables() map[string]bool {
	out := map[string]bool{}
	for _, s := range host.Settings(&host.Config{}) {
		out[s.Name] = true
	}
	for _, s := range host.Settings(&dli.Config{}) {
		out[s.Name] = true
	}
	return out
}

// functionVariables returns the variables function name's Registration.Config
// reads (every key it looks up, prefixes included), and false when the
// function declares no Config.
func functionVariables(name string) (map[string]bool, bool) {
	var r host.Registration
	for _, x := range functionRegistrations() {
		if x.Name == name {
			r = x
		}
	}
	if r.Config == nil {
		return nil, false
	}
	seen := map[string]bool{}
	c, _ := r.Config(context.Background(), envconfig.LookuperFunc(func(k string) (string, bool) {
		seen[k] = true
		return "", false
	}))
	for _, s := range host.Settings(c) {
		if !seen[s.Name] && !anyHasSuffix(seen, s.Name) {
			seen[s.Name] = true
		}
	}
	return seen, true
}

func anyHasSuffix(set map[string]bool, suffix string) bool {
	for k := range set {
		if strings.HasSuffix(k, "_"+suffix) {
			return true
		}
	}
	return false
}

func TestTemplateEnvironment(t *testing.T) {
	tpl := openTemplate(t, nil)
	hostVars := hostVariables()
	byHandler := functionsByHandler(t, tpl)
	for _, name := range dlibotFunctions {
		t.Run(name, func(t *testing.T) {
			vars := byHandler[name].Environment.Variables
			own, registered := functionVariables(name)
			var unchecked []string
			for _, k := range sortedKeys(vars) {
				if hostVars[k] || own[k] {
					continue
				}
				for _, other := range dlibotFunctions {
					if other != name && strings.HasPrefix(k, strings.ToUpper(other)+"_") {
						t.Errorf("%s is %s's variable, set on %s", k, other, name)
					}
				}
				if registered {
					t.Errorf("%s: no configuration reads %s (not in host.Config, dli.Config or %s's Registration.Config)", name, k, name)
				} else {
					unchecked = append(unchecked, k)
				}
			}
			for _, k := range []string{"DLI_REGION", "HUAWEICLOUD_SDK_PROJECT_ID", "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "NATS_URL", "LOG_LEVEL"} {
				if _, ok := vars[k]; !ok {
					t.Errorf("%s: %s is not set", name, k)
				}
			}
			if (name == "chatops") != (vars["SLACK_SIGNING_SECRET"] != "") {
				t.Errorf("SLACK_SIGNING_SECRET on %s = %v; only chatops verifies Slack requests", name, vars["SLACK_SIGNING_SECRET"] != "")
			}
			if len(unchecked) > 0 {
				t.Skipf("%s has no Registration.Config: cannot check %v", name, unchecked)
			}
		})
	}
}

var dynamicRef = regexp.MustCompile(`^\{\{resolve:(secretsmanager|ssm):[^}]+\}\}$`)

func TestTemplateSecretsByReference(t *testing.T) {
	tpl := openTemplate(t, nil)
	secret := map[string]bool{}
	for _, s := range append(host.Settings(&host.Config{}), host.Settings(&dli.Config{})...) {
		if s.Secret {
			secret[s.Name] = true
		}
	}
	for id, fn := range samFunctions(t, tpl) {
		if fn.Environment == nil {
			continue
		}
		for k, v := range fn.Environment.Variables {
			if !secret[k] && !regexp.MustCompile(`SECRET|TOKEN|PASSWORD|_AK$|_SK$`).MatchString(k) {
				continue
			}
			if !dynamicRef.MatchString(v) {
				t.Errorf("%s: secret %s must be a Secrets Manager or SSM dynamic reference, got a literal or parameter", id, k)
			}
		}
	}
	nats, ok := tpl.Parameters["NatsUrl"]
	if !ok || nats.NoEcho == nil || !*nats.NoEcho {
		t.Errorf("parameter NatsUrl must be NoEcho (the URL may carry user:password)")
	}
	for name, p := range tpl.Parameters {
		if p.NoEcho != nil && *p.NoEcho && p.Default != nil && p.Default != "" {
			t.Errorf("NoEcho parameter %s has a non-empty default", name)
		}
	}
}

func TestTemplateLeastPrivilege(t *testing.T) {
	tpl := openTemplate(t, nil)
	allowed := map[string]bool{"logs:CreateLogStream": true, "logs:PutLogEvents": true, "sqs:SendMessage": true}
	roles := tpl.GetAllIAMRoleResources()
	if len(roles) != len(dlibotFunctions) {
		t.Errorf("%d IAM roles, want one per function (%d)", len(roles), len(dlibotFunctions))
	}
	for id, r := range roles {
		if len(r.ManagedPolicyArns) > 0 {
			t.Errorf("%s: managed policies %v; use scoped inline statements", id, r.ManagedPolicyArns)
		}
		for _, p := range r.Policies {
			doc, _ := p.PolicyDocument.(map[string]any)
			stmts, _ := doc["Statement"].([]any)
			if len(stmts) == 0 {
				t.Errorf("%s/%s: no statements", id, p.PolicyName)
			}
			for _, s := range stmts {
				st, _ := s.(map[string]any)
				if st["Effect"] != "Allow" {
					continue
				}
				for _, a := range stringsOf(st["Action"]) {
					if !allowed[a] {
						t.Errorf("%s/%s: action %s is more than dlibot needs (%v)", id, p.PolicyName, a, sortedKeys(allowed))
					}
				}
				res := stringsOf(st["Resource"])
				if len(res) == 0 {
					res = []string{"<unresolved>"} // GetAtt: goformation leaves it unresolved; it names one resource
				}
				for _, x := range res {
					if x == "*" || strings.HasSuffix(x, ":*:*") {
						t.Errorf("%s/%s: resource %q is a wildcard", id, p.PolicyName, x)
					}
				}
			}
		}
	}
	// Every function has its own log group with a retention, named as
	// Lambda names it, so nothing else creates one without retention.
	groups := map[string]bool{}
	for id, g := range tpl.GetAllLogsLogGroupResources() {
		if g.RetentionInDays == nil {
			t.Errorf("%s: no RetentionInDays", id)
		}
		if g.LogGroupName != nil {
			groups[*g.LogGroupName] = true
		}
	}
	for id, fn := range samFunctions(t, tpl) {
		if fn.FunctionName == nil || !groups["/aws/lambda/"+*fn.FunctionName] {
			t.Errorf("%s: no log group /aws/lambda/<FunctionName> with retention (FunctionName %v)", id, fn.FunctionName)
		}
	}
}

func TestTemplateOutputs(t *testing.T) {
	tpl := openTemplate(t, nil)
	want := []string{"ApiUrl"}
	for id := range samFunctions(t, tpl) {
		want = append(want, id+"Arn")
	}
	for _, o := range want {
		if _, ok := tpl.Outputs[o]; !ok {
			t.Errorf("no output %s", o)
		}
	}
}

// TestTemplateParametersUsed fails on a parameter nothing references.
func TestTemplateParametersUsed(t *testing.T) {
	raw, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	tpl := openTemplate(t, nil)
	for name := range tpl.Parameters {
		re := regexp.MustCompile(`!Ref ` + name + `\b|\$\{` + name + `\}`)
		if !re.Match(raw) {
			t.Errorf("parameter %s is never referenced", name)
		}
	}
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestTemplateReservedConcurrency: ticks run one at a time and obsimport is
// bounded by default; -1 leaves a function unreserved; chatops never is.
func TestTemplateReservedConcurrency(t *testing.T) {
	for _, tc := range []struct {
		name      string
		overrides map[string]any
		want      map[string]int // handler → reserved; absent = unreserved
	}{
		{"defaults", nil, map[string]int{"jobwatch": 1, "autoscale": 1, "obsimport": 5}},
		{"unreserved", map[string]any{"TickConcurrency": -1, "ObsimportConcurrency": -1}, map[string]int{}},
		{"custom", map[string]any{"TickConcurrency": 2, "ObsimportConcurrency": 20}, map[string]int{"jobwatch": 2, "autoscale": 2, "obsimport": 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byHandler := functionsByHandler(t, openTemplate(t, tc.overrides))
			for _, h := range dlibotFunctions {
				got := byHandler[h].ReservedConcurrentExecutions
				want, reserved := tc.want[h]
				switch {
				case !reserved && got != nil:
					t.Errorf("%s: reserved concurrency %d, want unreserved", h, *got)
				case reserved && (got == nil || *got != want):
					t.Errorf("%s: reserved concurrency %v, want %d", h, got, want)
				}
			}
		})
	}
}

// TestTemplateCfnLint runs cfn-lint (AWS's CloudFormation linter, which
// applies the real SAM transform) when it is installed: goformation's SAM
// model lags SAM itself, cfn-lint does not.
func TestTemplateCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Skip("cfn-lint is not installed (pip install cfn-lint); goformation checks still ran")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, lint, templatePath).CombinedOutput()
	// cfn-lint's exit status is a bit set: 2 errors, 4 warnings, 8
	// informational. Errors fail the test; the rest is logged (new cfn-lint
	// releases add rules).
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.ExitCode()&2 == 0 && exit.ExitCode() != 1:
		t.Logf("cfn-lint %s: warnings only (%v):\n%s", templatePath, err, out)
	default:
		t.Errorf("cfn-lint %s: %v\n%s", templatePath, err, out)
	}
}

// TestTemplateIngestAuth: every function wired to an ingest route (POST
// /events, host.IngestRoutes) gets DLIBOT_INGEST_TOKENS by dynamic
// reference and no DLIBOT_INGEST_AUTH=none; the others do not get the
// tokens at all (least privilege).
func TestTemplateIngestAuth(t *testing.T) {
	tpl := openTemplate(t, nil)
	for id, fn := range samFunctions(t, tpl) {
		ingest := false
		for _, ev := range fn.Events {
			if ev.Type != "HttpApi" || ev.Properties.HttpApiEvent == nil || ev.Properties.HttpApiEvent.Path == nil {
				continue
			}
			p := ev.Properties.HttpApiEvent
			route := "POST " + *p.Path
			if p.Method != nil {
				route = strings.ToUpper(*p.Method) + " " + *p.Path
			}
			ingest = ingest || route == "POST /events" || host.IngestRoutes[route]
		}
		vars := map[string]string{}
		if fn.Environment != nil {
			vars = fn.Environment.Variables
		}
		tokens, has := vars["DLIBOT_INGEST_TOKENS"]
		switch {
		case ingest && !has:
			t.Errorf("%s serves an ingest route but has no DLIBOT_INGEST_TOKENS: it would refuse every request", id)
		case ingest && !dynamicRef.MatchString(tokens):
			t.Errorf("%s: DLIBOT_INGEST_TOKENS must be a dynamic reference", id)
		case !ingest && has:
			t.Errorf("%s serves no ingest route but gets DLIBOT_INGEST_TOKENS", id)
		}
		if vars["DLIBOT_INGEST_AUTH"] == host.IngestAuthNone {
			t.Errorf("%s: DLIBOT_INGEST_AUTH=none leaves the public ingest routes open", id)
		}
	}
}
