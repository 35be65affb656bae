package record

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// Dialect selects the JSON that [Dialect.Encode] writes. [Decode] needs no
// dialect: it reads them all.
type Dialect int

const (
	// Python writes exactly what the Python client writes. It is the zero
	// value because Python candidates are the peers this module is for: the
	// annotation then always looks as one of them would have written it.
	Python Dialect = iota
	// ClientGo writes what client-go's ConfigMap lock wrote up to v0.27, for
	// fleets whose other members are Go programs: client-go cannot read the
	// Python dialect, whose lease is a string and whose times are not
	// RFC 3339.
	ClientGo
)

// String returns the constant's name.
func (d Dialect) String() string {
	switch d {
	case Python:
		return "Python"
	case ClientGo:
		return "ClientGo"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

// Encode returns r as the annotation value d writes. An unknown Dialect
// encodes as Python rather than returning "", because an empty annotation
// means "no record" and would invite every candidate to take the lock.
//
// Python: byte-identical to json.dumps of the Python client's lock dict:
// times in time.Local, rounded half-to-even to the microsecond as
// datetime.fromtimestamp does; the lease as whole seconds ("15") or Python's
// float repr ("2.5"); LeaderTransitions is dropped, as Python drops it.
//
// ClientGo: compact encoding/json output with RFC 3339 UTC times to the
// second (null when zero), and the lease rounded up to a whole second so that
// no reader sees a shorter lease than ours.
func (d Dialect) Encode(r Record) string {
	// Records are small: build on the stack, allocate only the result.
	var buf [256]byte
	if d == ClientGo {
		return string(appendClientGo(buf[:0], r))
	}
	return string(appendPython(buf[:0], r))
}

func appendPython(b []byte, r Record) []byte {
	// The key order is that of the Python client's lock_record dict. The
	// lease and the times are ASCII digits and punctuation that need no
	// escaping.
	b = append(b, `{"holderIdentity": `...)
	b = appendPyString(b, r.HolderIdentity)
	b = append(b, `, "leaseDurationSeconds": "`...)
	b = appendPySeconds(b, r.LeaseDuration)
	b = append(b, `", "acquireTime": "`...)
	b = appendPyTime(b, r.AcquireTime)
	b = append(b, `", "renewTime": "`...)
	b = appendPyTime(b, r.RenewTime)
	return append(b, `"}`...)
}

const hexDigits = "0123456789abcdef"

// appendPyString quotes s as CPython's json encoder does with
// ensure_ascii=True. Ranging over s turns each invalid UTF-8 byte into
// U+FFFD.
func appendPyString(b []byte, s string) []byte {
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', byte(c))
		case c >= 0x20 && c <= 0x7e:
			b = append(b, byte(c))
		case c == '\b':
			b = append(b, `\b`...)
		case c == '\f':
			b = append(b, `\f`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '\r':
			b = append(b, `\r`...)
		case c == '\t':
			b = append(b, `\t`...)
		case c > 0xffff:
			// Beyond the BMP, as a UTF-16 surrogate pair.
			c -= 0x10000
			b = appendU4(b, 0xd800|c>>10)
			b = appendU4(b, 0xdc00|c&0x3ff)
		default:
			b = appendU4(b, c)
		}
	}
	return append(b, '"')
}

func appendU4(b []byte, c rune) []byte {
	return append(b, '\\', 'u',
		hexDigits[c>>12&0xf], hexDigits[c>>8&0xf], hexDigits[c>>4&0xf], hexDigits[c&0xf])
}

// appendPySeconds writes d as Python's str() of the lease: an int for whole
// seconds, else the float repr of the seconds.
func appendPySeconds(b []byte, d time.Duration) []byte {
	if d%time.Second == 0 {
		return strconv.AppendInt(b, int64(d/time.Second), 10)
	}
	return appendPyFloat(b, float64(d)/1e9)
}

// appendPyFloat writes Python's repr of a finite f: the shortest digits that
// read back as f, as Go has them too, but in positional notation for decimal
// exponents -4 to 15 (Go's %g switches at 21) and with ".0" when integral.
// Go's exponent form ("1e-05", "1.5e+16") is already Python's.
func appendPyFloat(b []byte, f float64) []byte {
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64)
	if exp := decimalExponent(e); exp < -4 || exp >= 16 {
		return append(b, e...)
	}
	n := len(b)
	b = strconv.AppendFloat(b, f, 'f', -1, 64)
	for _, c := range b[n:] {
		if c == '.' {
			return b
		}
	}
	return append(b, ".0"...)
}

// decimalExponent returns the exponent of a number in strconv's 'e' format.
func decimalExponent(e []byte) int {
	i := len(e) - 1
	for i > 0 && e[i] != 'e' {
		i--
	}
	exp := 0
	for _, c := range e[i+2:] {
		exp = exp*10 + int(c-'0')
	}
	if i+1 < len(e) && e[i+1] == '-' {
		exp = -exp
	}
	return exp
}

// appendPyTime writes str(datetime.fromtimestamp(t)): naive local time, with
// microseconds only when there are any.
func appendPyTime(b []byte, t time.Time) []byte {
	t = roundMicroHalfEven(t).In(local())
	year, month, day := t.Date()
	hour, minute, second := t.Clock()
	if year < 0 { // Python cannot have these; write something readable.
		b = append(b, '-')
		year = -year
	}
	b = appendPadded(b, year, 4)
	b = append(b, '-')
	b = appendPadded(b, int(month), 2)
	b = append(b, '-')
	b = appendPadded(b, day, 2)
	b = append(b, ' ')
	b = appendPadded(b, hour, 2)
	b = append(b, ':')
	b = appendPadded(b, minute, 2)
	b = append(b, ':')
	b = appendPadded(b, second, 2)
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		b = appendPadded(b, us, 6)
	}
	return b
}

// local returns time.Local, or UTC if a program has set it to nil, where
// Time.In and time.Date would panic.
func local() *time.Location {
	if loc := time.Local; loc != nil {
		return loc
	}
	return time.UTC
}

// roundMicroHalfEven rounds t to the microsecond, ties to even, as CPython's
// datetime.fromtimestamp rounds (ROUND_HALF_EVEN); Go's Time.Round would
// round ties up.
func roundMicroHalfEven(t time.Time) time.Time {
	ns := t.Nanosecond()
	rem := ns % 1000
	if rem == 0 {
		return t
	}
	t = t.Add(-time.Duration(rem))
	if rem > 500 || rem == 500 && ns/1000%2 == 1 {
		t = t.Add(time.Microsecond)
	}
	return t
}

// appendPadded writes a non-negative v in decimal, zero-padded to width.
func appendPadded(b []byte, v, width int) []byte {
	var tmp [20]byte
	d := strconv.AppendInt(tmp[:0], int64(v), 10)
	for i := len(d); i < width; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

func appendClientGo(b []byte, r Record) []byte {
	// Field order and names of client-go's LeaderElectionRecord before v0.28
	// added strategy and preferredHolder.
	b = append(b, `{"holderIdentity":`...)
	b = appendGoString(b, r.HolderIdentity)
	b = append(b, `,"leaseDurationSeconds":`...)
	b = strconv.AppendInt(b, ceilSeconds(r.LeaseDuration), 10)
	b = append(b, `,"acquireTime":`...)
	b = appendGoTime(b, r.AcquireTime)
	b = append(b, `,"renewTime":`...)
	b = appendGoTime(b, r.RenewTime)
	b = append(b, `,"leaderTransitions":`...)
	b = strconv.AppendInt(b, int64(r.LeaderTransitions), 10)
	return append(b, '}')
}

// ceilSeconds rounds d up to whole seconds.
func ceilSeconds(d time.Duration) int64 {
	s := d / time.Second
	if d%time.Second > 0 {
		s++
	}
	return int64(s)
}

// appendGoTime writes t as metav1.Time marshals: null when zero, else quoted
// RFC 3339 in UTC without fraction.
func appendGoTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339)
	return append(b, '"')
}

// appendGoString quotes s as encoding/json.Marshal does: HTML-safe, U+2028
// and U+2029 escaped, invalid UTF-8 bytes as \ufffd, everything else raw.
func appendGoString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, `\b`...)
			case '\f':
				b = append(b, `\f`...)
			case '\n':
				b = append(b, `\n`...)
			case '\r':
				b = append(b, `\r`...)
			case '\t':
				b = append(b, `\t`...)
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = appendU4(b, r)
			}
			start = i + size
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
