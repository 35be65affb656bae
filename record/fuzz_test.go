package record_test

import (
	"testing"

	"github.com/kubepy/leaderelection/record"
)

// FuzzDecode checks that Decode never panics and that whatever it accepts
// survives being written back in either dialect. Run it with
//
//	go test -run=^$ -fuzz=FuzzDecode -fuzztime=60s ./record/
func FuzzDecode(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, err := record.Decode(in)
		if err != nil {
			return
		}
		enc := record.Python.Encode(r)
		back, err := record.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Python.Encode(Decode(%q))) = Decode(%q): %v", in, enc, err)
		}
		if back.HolderIdentity != r.HolderIdentity {
			t.Fatalf("holder %q came back as %q via %q", r.HolderIdentity, back.HolderIdentity, enc)
		}
		// What Python wrote once, it writes again the same.
		if again := record.Python.Encode(back); again != enc {
			t.Fatalf("Python.Encode not stable:\n%s\n%s", enc, again)
		}
		enc = record.ClientGo.Encode(r)
		if back, err = record.Decode(enc); back.HolderIdentity != r.HolderIdentity {
			t.Fatalf("holder %q came back as %q (%v) via %q", r.HolderIdentity, back.HolderIdentity, err, enc)
		}
	})
}
