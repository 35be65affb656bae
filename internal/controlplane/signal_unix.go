//go:build unix

package controlplane

import (
	"os"
	"syscall"
)

// terminate asks the process group of p to exit.
func terminate(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGTERM) }

// kill ends the process group of p.
func kill(p *os.Process) error { return syscall.Kill(-p.Pid, syscall.SIGKILL) }
