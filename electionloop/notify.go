package electionloop

import "sync"

// notifier calls OnNewLeader from one goroutine, in the order the changes
// were seen, so a slow callback never delays a renewal and never sees the
// leaders out of order.
type notifier struct {
	callback func(string)

	mu      sync.Mutex
	queue   []string
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

func startNotifier(callback func(string)) *notifier {
	n := &notifier{callback: callback, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if callback == nil {
		close(n.done)
		return n
	}
	go n.loop()
	return n
}

func (n *notifier) notify(identity string) {
	if n.callback == nil {
		return
	}
	n.mu.Lock()
	n.queue = append(n.queue, identity)
	n.mu.Unlock()
	n.poke()
}

// stop delivers what is queued and waits for the goroutine to end.
func (n *notifier) stop() {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.poke()
	<-n.done
}

func (n *notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) loop() {
	defer close(n.done)
	for range n.wake {
		n.mu.Lock()
		queue, stopped := n.queue, n.stopped
		n.queue = nil
		n.mu.Unlock()
		for _, id := range queue {
			n.callback(id)
		}
		if stopped {
			return
		}
	}
}
