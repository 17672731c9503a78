package secretvar

import (
	"reflect"
	"testing"
)

func TestIs(t *testing.T) {
	tests := []struct {
		tag  reflect.StructTag
		name string
		want bool
	}{
		{`env:"X"`, "DLIBOT_LOG_LEVEL", false},
		{`env:"X" secret:"true"`, "DLIBOT_LOG_LEVEL", true},
		{`secret:"false"`, "SLACK_BOT_TOKEN", true},
		{"", "SLACK_SIGNING_SECRET", true},
		{"", "nats_password", true},
		{"", "TLS_PRIVATE_KEY", true},
		{"", "HUAWEICLOUD_SDK_AK", true},
		{"", "HUAWEICLOUD_SDK_SK", true},
		{"", "HUAWEICLOUD_SDK_AK_ID", false},
		{"", "DLI_TASK", false},
		{"", "", false},
	}
	for _, tc := range tests {
		if got := Is(tc.tag, tc.name); got != tc.want {
			t.Errorf("Is(%q, %q) = %v, want %v", tc.tag, tc.name, got, tc.want)
		}
	}
}
