package audit

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The schema describes exactly the members Record encodes, and requires
// exactly the ones always present.
func TestRecordSchemaMatchesRecord(t *testing.T) {
	t.Parallel()
	var schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(RecordSchema, &schema); err != nil {
		t.Fatal(err)
	}
	var members, always []string
	rt := reflect.TypeFor[Record]()
	for i := range rt.NumField() {
		name, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		members = append(members, name)
		if opts != "omitempty" {
			always = append(always, name)
		}
	}
	var props []string
	for k := range schema.Properties {
		props = append(props, k)
	}
	slices.Sort(members)
	slices.Sort(props)
	slices.Sort(always)
	slices.Sort(schema.Required)
	if !slices.Equal(members, props) {
		t.Errorf("schema properties %v, Record members %v", props, members)
	}
	if !slices.Equal(always, schema.Required) {
		t.Errorf("schema requires %v, Record always writes %v", schema.Required, always)
	}
}
