package controlplane

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowestPort is the lowest port freePorts picks from.
const lowestPort = 10000

// freePorts returns n distinct ports that are free on 127.0.0.1.
//
// They come from below the kernel's ephemeral range, not from binding port
// 0: a restarted process needs its old port back, and while etcd is down the
// apiserver reconnects over and over, each time from a new ephemeral port,
// which could be the one etcd had.
func freePorts(n int) ([]int, error) {
	high := ephemeralLow()
	if high-lowestPort < 100*n {
		// No room below the ephemeral range: let the kernel choose.
		return kernelPorts(n)
	}
	var ports []int
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	const tries = 1000
	for range tries {
		if len(ports) == n {
			return ports, nil
		}
		port := lowestPort + rand.IntN(high-lowestPort)
		// A port already picked is still bound, so it cannot come twice.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		listeners = append(listeners, l)
		ports = append(ports, port)
	}
	if len(ports) == n {
		return ports, nil
	}
	return nil, fmt.Errorf("no %d free ports on 127.0.0.1 in [%d, %d) after %d tries", n, lowestPort, high, tries)
}

// ephemeralLow returns the lowest port of the kernel's ephemeral range, or
// the usual 32768 where that cannot be read.
func ephemeralLow() int {
	const usual = 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return usual
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return usual
	}
	low, err := strconv.Atoi(fields[0])
	if err != nil {
		return usual
	}
	return low
}

// kernelPorts returns n distinct ports the kernel picks on 127.0.0.1.
func kernelPorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port on 127.0.0.1: %w", err)
		}
		// Held open until all are picked, so that none comes twice.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
