// Package secretvar decides which configuration variables hold secrets, so
// that `dlibot config check` (host.Settings) redacts exactly the variables
// the configuration reference (configdoc) marks as secret.
package secretvar

import (
	"reflect"
	"strings"
)

// Is reports whether the environment variable name, declared by a struct
// field with the given tag (empty when there is no field), holds a secret:
// the field is tagged `secret:"true"`, or the name looks secret — it
// contains SECRET, TOKEN, PASSWORD or PRIVATE or ends in _SK or _AK (case
// ignored), which catches the variables of other packages' structs that
// carry no `secret` tag.
func Is(tag reflect.StructTag, name string) bool {
	if tag.Get("secret") == "true" {
		return true
	}
	n := strings.ToUpper(name)
	for _, s := range []string{"SECRET", "TOKEN", "PASSWORD", "PRIVATE"} {
		if strings.Contains(n, s) {
			return true
		}
	}
	return strings.HasSuffix(n, "_SK") || strings.HasSuffix(n, "_AK")
}
