package jobwatch

import (
	"context"
	"strings"
	"testing"

	"github.com/dlibot/dlibot/pkg/host"
	"github.com/sethvargo/go-envconfig"
)

func TestRegistrationConfigNamesPrefixedVariables(t *testing.T) {
	r := Registration()
	c, err := r.Config(context.Background(), envconfig.MapLookuper(map[string]string{"JOBWATCH_INTERVAL": "45s"}))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, s := range host.Settings(c) {
		if s.Name == "JOBWATCH_INTERVAL" && strings.Contains(s.Value, "45s") {
			found = true
		}
	}
	if !found {
		t.Errorf("settings %+v lack JOBWATCH_INTERVAL=45s", host.Settings(c))
	}
	if _, err := r.Config(context.Background(), envconfig.MapLookuper(map[string]string{"JOBWATCH_ROUTES": "queue=x"})); err == nil || !strings.Contains(err.Error(), "JOBWATCH_ROUTES") {
		t.Errorf("bad routes: %v", err)
	}
}
