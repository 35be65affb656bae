package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// on every mainstream Linux architecture.
const clockTicks = 100

// procSample is what /proc says about one process at one moment.
type procSample struct {
	RSS     int64   // bytes, VmRSS of /proc/PID/status
	RSSAnon int64   // bytes, RssAnon: the heap and stacks, without the mapped binary
	CPU     float64 // seconds, utime+stime of /proc/PID/stat (all threads)
}

func readProc(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		key, rest, ok := strings.Cut(sc.Text(), ":")
		var dst *int64
		switch key {
		case "VmRSS":
			dst = &s.RSS
		case "RssAnon":
			dst = &s.RSSAnon
		default:
			continue
		}
		f := strings.Fields(rest) // "12345 kB"
		if !ok || len(f) < 1 {
			continue
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/status %s: %w", pid, key, err)
		}
		*dst = kb * 1024
	}
	utime, stime, _, err := statFields(pid)
	if err != nil {
		return s, err
	}
	s.CPU = float64(utime+stime) / clockTicks
	return s, nil
}

// statFields returns utime, stime and ppid from /proc/PID/stat.
func statFields(pid int) (utime, stime int64, ppid int, err error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3, state
	if len(f) < 13 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ppid, err = strconv.Atoi(f[1]) // field 4
	if err != nil {
		return 0, 0, 0, err
	}
	if utime, err = strconv.ParseInt(f[11], 10, 64); err != nil { // field 14
		return 0, 0, 0, err
	}
	if stime, err = strconv.ParseInt(f[12], 10, 64); err != nil { // field 15
		return 0, 0, 0, err
	}
	return utime, stime, ppid, nil
}

// childPIDs returns the processes whose parent is this process and whose
// executable is named name: the control plane's etcd and kube-apiserver.
func childPIDs(name string) []int {
	self := os.Getpid()
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		_, _, ppid, err := statFields(pid)
		if err != nil || ppid != self {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err == nil && filepath.Base(exe) == name {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuMeter measures the CPU time of a set of processes over a window.
type cpuMeter struct {
	pids  []int
	start []float64
}

func newCPUMeter(pids ...int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: make([]float64, len(pids))}
	for i, pid := range pids {
		if s, err := readProc(pid); err == nil {
			m.start[i] = s.CPU
		}
	}
	return m
}

// seconds returns the CPU seconds each process used since newCPUMeter.
func (m *cpuMeter) seconds() []float64 {
	out := make([]float64, len(m.pids))
	for i, pid := range m.pids {
		if s, err := readProc(pid); err == nil {
			out[i] = s.CPU - m.start[i]
		}
	}
	return out
}

// tcpSockets counts the TCP sockets of a process: its socket descriptors
// whose inodes /proc/PID/net/tcp and tcp6 list, in any state.
func tcpSockets(pid int) (int, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err != nil {
			continue
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	if len(inodes) == 0 {
		return 0, nil
	}
	n := 0
	for _, table := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			f := strings.Fields(line)
			if i == 0 || len(f) < 10 {
				continue
			}
			// Only established connections (state 01): a connect in
			// progress has not reached the server yet.
			if f[3] == "01" && inodes[f[9]] {
				n++
			}
		}
	}
	return n, nil
}
