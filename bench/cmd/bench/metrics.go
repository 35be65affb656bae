package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
)

// lockResources are the resources whose requests are counted: ConfigMaps
// (ours and Python's lock) and Leases (client-go's lock).
var lockResources = map[string]bool{"configmaps": true, "leases": true}

// requestCounts is apiserver_request_total summed by verb over
// lockResources, with when it was read.
type requestCounts struct {
	At     time.Time
	ByVerb map[string]float64
}

// scrapeRequests reads the API server's own /metrics.
func scrapeRequests(ctx context.Context, cs kubernetes.Interface) (requestCounts, error) {
	body, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	at := time.Now()
	if err != nil {
		return requestCounts{}, fmt.Errorf("scraping /metrics: %w", err)
	}
	c := requestCounts{At: at, ByVerb: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1024*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		end := strings.LastIndexByte(rest, '}')
		if end < 0 {
			continue
		}
		labels := parseLabels(rest[:end])
		if !lockResources[labels["resource"]] {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest[end+1:]), 64)
		if err != nil {
			continue
		}
		c.ByVerb[labels["verb"]] += v
	}
	return c, sc.Err()
}

// parseLabels parses the inside of a Prometheus label set: k="v",k2="v2".
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return out
		}
		key := strings.TrimSpace(s[:eq])
		s = s[eq+2:]
		var val strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
			}
			val.WriteByte(s[i])
		}
		out[key] = val.String()
		if i+1 >= len(s) {
			return out
		}
		s = strings.TrimPrefix(s[i+1:], ",")
	}
	return out
}

// window is the difference of two scrapes.
type window struct {
	Elapsed time.Duration
	ByVerb  map[string]float64 // requests in the window
}

func diff(before, after requestCounts) window {
	w := window{Elapsed: after.At.Sub(before.At), ByVerb: map[string]float64{}}
	for verb, v := range after.ByVerb {
		if d := v - before.ByVerb[verb]; d != 0 {
			w.ByVerb[verb] = d
		}
	}
	return w
}

func (w window) total() float64 {
	var t float64
	for _, v := range w.ByVerb {
		t += v
	}
	return t
}

// perMinute is the request rate of the window.
func (w window) perMinute() float64 {
	if w.Elapsed <= 0 {
		return 0
	}
	return w.total() / w.Elapsed.Minutes()
}

// verbs prints the counts by verb: "GET 30, PUT 30".
func (w window) verbs() string {
	keys := make([]string, 0, len(w.ByVerb))
	for k := range w.ByVerb {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.0f", k, w.ByVerb[k])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
