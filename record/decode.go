package record

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Decode reads an annotation value written by any client, in any dialect.
//
// It fails only where the Python client would see no record or would fail:
//
//   - "" returns [ErrNoRecord].
//   - Text that is not JSON, or JSON that is not an object, returns an error
//     wrapping [ErrMalformed].
//   - If any of holderIdentity, leaseDurationSeconds, acquireTime or
//     renewTime is missing or Python-falsy (null, false, 0, "", [], {}),
//     Decode returns what it could read together with an error wrapping
//     [ErrNoRecord] that names the absent fields.
//
// Otherwise the values are read leniently and never cause an error:
// a holderIdentity that is not a string becomes its compact JSON text; the
// lease may be a number or a numeric string, and one that is not a number
// of seconds, or is negative or NaN, reads as 0, while one too large for a
// time.Duration is clamped to the largest; times may be Python's
// "2006-01-02 15:04:05[.ffffff]" or ISO 8601 without zone (both read in
// time.Local) or RFC 3339 with or without fraction, and any other value reads
// as the zero time. Of the other keys only a numeric leaderTransitions is
// read.
func Decode(raw string) (Record, error) {
	var r Record
	if raw == "" {
		return r, ErrNoRecord
	}
	// A map, not a struct: Python's keys are case-sensitive where
	// encoding/json's struct fields are not, and the last duplicate wins in
	// both.
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return r, fmt.Errorf("%w: found a JSON %s", ErrMalformed, typeErr.Value)
		}
		return r, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if fields == nil {
		return r, fmt.Errorf("%w: found JSON null", ErrMalformed)
	}

	var absent []string
	value := func(key string) json.RawMessage {
		v, ok := fields[key]
		why := "missing"
		if ok {
			v = bytes.TrimSpace(v)
			if why = falsy(v); why == "" {
				return v
			}
		}
		absent = append(absent, key+" is "+why)
		return nil
	}
	if v := value("holderIdentity"); v != nil {
		r.HolderIdentity = holder(v)
	}
	if v := value("leaseDurationSeconds"); v != nil {
		r.LeaseDuration = leaseDuration(v)
	}
	if v := value("acquireTime"); v != nil {
		r.AcquireTime = parseTime(v)
	}
	if v := value("renewTime"); v != nil {
		r.RenewTime = parseTime(v)
	}
	if v, ok := fields["leaderTransitions"]; ok {
		r.LeaderTransitions = leaderTransitions(bytes.TrimSpace(v))
	}
	if absent != nil {
		return r, fmt.Errorf("%w: %s", ErrNoRecord, strings.Join(absent, ", "))
	}
	return r, nil
}

// falsy says why Python would take the JSON value v as false, or returns ""
// when Python would take it as true.
func falsy(v json.RawMessage) string {
	if len(v) == 0 { // Not from encoding/json; be safe anyway.
		return "empty"
	}
	switch v[0] {
	case 'n':
		return "null"
	case 'f':
		return "false"
	case 't':
		return ""
	case '"':
		if len(v) == 2 {
			return "empty"
		}
		return ""
	case '[', '{':
		if len(bytes.TrimSpace(v[1:len(v)-1])) == 0 {
			return "empty"
		}
		return ""
	}
	// A number. Python reads one without '.', 'e' or 'E' as an int and the
	// rest as floats, which can underflow to 0.0: "1e-400" is falsy too.
	if bytes.ContainsAny(v, ".eE") {
		if f, _ := strconv.ParseFloat(string(v), 64); f != 0 {
			return ""
		}
	} else if len(bytes.Trim(v, "-0")) != 0 {
		return ""
	}
	return "zero"
}

// holder reads a truthy holderIdentity. Python keeps whatever JSON value it
// finds; a string stands in for one that is not a string.
func holder(v json.RawMessage) string {
	var s string
	if v[0] == '"' {
		if json.Unmarshal(v, &s) == nil {
			return s
		}
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	// Strings inside a JSON array or object may hold invalid UTF-8, which
	// encoding/json lets through; replace it byte by byte, as Encode would,
	// so that the holder survives a round trip unchanged.
	return string([]rune(buf.String()))
}

// leaseDuration reads a truthy leaseDurationSeconds: a JSON number, or a
// string holding one as Python writes it.
func leaseDuration(v json.RawMessage) time.Duration {
	var s string
	switch c := v[0]; {
	case c == '"':
		if json.Unmarshal(v, &s) != nil {
			return 0
		}
		s = strings.TrimSpace(s)
	case c == '-' || c >= '0' && c <= '9':
		s = string(v)
	default:
		return 0
	}
	const maxSeconds = math.MaxInt64 / int64(time.Second)
	// Integers first, so that large ones keep every digit.
	if n, err := strconv.ParseInt(s, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		switch {
		case n <= 0:
			return 0
		case n > maxSeconds:
			return math.MaxInt64
		}
		return time.Duration(n) * time.Second
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0
	}
	switch ns := f * 1e9; {
	case !(ns > 0): // negative, zero or NaN
		return 0
	case ns >= math.MaxInt64: // including +Inf
		return math.MaxInt64
	default:
		return time.Duration(math.Round(ns))
	}
}

// Layouts for parseTime, by the character between date and time and by
// whether a zone follows. A fraction of any length after the seconds parses
// without being in the layout.
var timeLayouts = [2][2]string{
	{"2006-01-02 15:04:05", "2006-01-02 15:04:05Z07:00"},
	{"2006-01-02T15:04:05", time.RFC3339},
}

// parseTime reads a truthy time, or returns the zero time.
func parseTime(v json.RawMessage) time.Time {
	var s string
	if v[0] != '"' || json.Unmarshal(v, &s) != nil {
		return time.Time{}
	}
	s = strings.TrimSpace(s)
	if len(s) < len("2006-01-02T15:04:05") {
		return time.Time{}
	}
	var sep, zoned int
	switch s[10] {
	case ' ':
	case 'T':
		sep = 1
	default:
		return time.Time{}
	}
	// Zones start with 'Z', '+' or '-', and the date's '-'s come earlier.
	if strings.LastIndexAny(s, "Z+-") > 10 {
		zoned = 1
	}
	layout := timeLayouts[sep][zoned]
	var t time.Time
	var err error
	if zoned == 1 {
		t, err = time.Parse(layout, s)
	} else {
		// Python's naive times are the writer's local time; ours is the
		// best guess there is.
		t, err = time.ParseInLocation(layout, s, local())
	}
	if err != nil {
		return time.Time{}
	}
	return t
}

// leaderTransitions reads a JSON number as an int, truncating fractions
// and clamping to the int range; anything else reads as 0.
func leaderTransitions(v json.RawMessage) int {
	if len(v) == 0 || v[0] != '-' && (v[0] < '0' || v[0] > '9') {
		return 0
	}
	if n, err := strconv.ParseInt(string(v), 10, 0); err == nil || errors.Is(err, strconv.ErrRange) {
		return int(n)
	}
	f, _ := strconv.ParseFloat(string(v), 64)
	switch {
	case f != f:
		return 0
	case f >= math.MaxInt:
		return math.MaxInt
	case f <= math.MinInt:
		return math.MinInt
	}
	return int(f)
}
