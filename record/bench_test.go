package record_test

import (
	"testing"
	"time"

	"github.com/kubepy/leaderelection/record"
)

var benchRecord = record.Record{
	HolderIdentity:    "my-controller-6f9c7d8b5-x2x7k_3f0c2a8e-9d41-4f0a-b7a3-1e2f3a4b5c6d",
	LeaseDuration:     15 * time.Second,
	AcquireTime:       time.Date(2026, 11, 22, 10, 15, 30, 250_000_000, time.UTC),
	RenewTime:         time.Date(2026, 11, 22, 10, 17, 45, 123_456_789, time.UTC),
	LeaderTransitions: 3,
}

var sinkString string
var sinkRecord record.Record

func benchmarkEncode(b *testing.B, d record.Dialect) {
	b.ReportAllocs()
	for b.Loop() {
		sinkString = d.Encode(benchRecord)
	}
}

func benchmarkDecode(b *testing.B, d record.Dialect) {
	raw := d.Encode(benchRecord)
	if _, err := record.Decode(raw); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkRecord, _ = record.Decode(raw)
	}
}

func BenchmarkEncodePython(b *testing.B)   { benchmarkEncode(b, record.Python) }
func BenchmarkEncodeClientGo(b *testing.B) { benchmarkEncode(b, record.ClientGo) }
func BenchmarkDecodePython(b *testing.B)   { benchmarkDecode(b, record.Python) }
func BenchmarkDecodeClientGo(b *testing.B) { benchmarkDecode(b, record.ClientGo) }
