package audit

import _ "embed"

// RecordSchema is the JSON Schema (draft 2020-12) of a record line, format
// version 1, for checks such as AG-OBS-012.
//
//go:embed schema/record-v1.json
var RecordSchema []byte
