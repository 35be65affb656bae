package pool

// PID returns the candidate's process id, for reading its /proc entries
// (the benchmarks measure RSS and CPU time per candidate).
func (c *Candidate) PID() int { return c.cmd.Process.Pid }
