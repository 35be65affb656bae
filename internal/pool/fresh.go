package pool

// Fresh returns an empty pool, with no candidates and no events, that runs
// the same Go binary and Python script as p. A test binary builds
// examples/candidate once with New and gives each test its own pool, so that
// parallel tests neither rebuild nor see each other's events. Stderr is not
// copied.
func (p *Pool) Fresh() *Pool {
	return &Pool{
		GoBinary:     p.GoBinary,
		PythonScript: p.PythonScript,
		changed:      make(chan struct{}),
		procs:        map[string]*Candidate{},
	}
}
