package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"portico/internal/erp"
)

// errorBody is the one shape of every error response, so that the ERP needs a single parser: what went
// wrong, and which request field it concerns when there is one. A refused invoice lists every problem in
// Problems, so the ERP can fix them together; Field is then the first one's.
type errorBody struct {
	Error    string            `json:"error"`
	Field    string            `json:"field,omitempty"`
	Problems []*erp.FieldError `json:"problems,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"could not encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, field, format string, args ...any) {
	writeJSON(w, status, errorBody{Error: fmt.Sprintf(format, args...), Field: field})
}

// writeProblems answers with every problem; error sums them up with the first ones, for a person reading a
// log of responses.
func writeProblems(w http.ResponseWriter, status int, what string, problems []*erp.FieldError) {
	msg := what + ": "
	for i, p := range problems {
		if i == 3 {
			msg += fmt.Sprintf("; and %d more", len(problems)-i)
			break
		}
		if i > 0 {
			msg += "; "
		}
		msg += p.Error()
	}
	writeJSON(w, status, errorBody{Error: msg, Field: problems[0].Field, Problems: problems})
}

// FieldError is a request body or path value the API cannot accept; Field is its JSON name (dotted for
// nested values, as invoice bodies will have).
type FieldError struct {
	Field  string
	Reason string
}

// Error names the field first, as the caller will look it up by name.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func fieldErr(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// errContentType is told apart from a FieldError because it is answered with 415, not 400.
var errContentType = errors.New("Content-Type must be application/json")

// decodeBody decodes an optional JSON object into v. Unknown fields are refused rather than ignored, so a
// misspelt option is reported instead of silently not applied. It reports whether there was a body.
func decodeBody(contentType string, body []byte, v any) (bool, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return false, nil
	}
	if contentType != "" {
		mt, _, err := mime.ParseMediaType(contentType)
		if err != nil || mt != "application/json" {
			return true, errContentType
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return true, jsonFieldError(err)
	}
	if dec.More() {
		return true, &FieldError{Reason: "the body must hold a single JSON object"}
	}
	return true, nil
}

func jsonFieldError(err error) *FieldError {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syntax):
		return fieldErr("", "the body is not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field == "" {
			return fieldErr("", "the body must be a JSON object")
		}
		return fieldErr(typ.Field, "must be a JSON %s", jsonKind(typ.Type.Kind().String()))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("", "the body is not valid JSON (it ends too early)")
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field")
	}
	return fieldErr("", "the body is not valid JSON")
}

func jsonKind(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	default:
		return "number"
	}
}
