//go:build !unix

package controlplane

import (
	"os"
	"syscall"
)

// Outside Unix there are no process groups or SIGTERM; the package compiles
// so that importers do, and stop kills the process outright.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminate(p *os.Process) error { return p.Kill() }

func kill(p *os.Process) error { return p.Kill() }
