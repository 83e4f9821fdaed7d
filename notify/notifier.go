package notify

import (
	"context"
	"maps"
	"net/http"
	"slices"
	gosync "sync"
	"time"
)

// Options configure a Notifier; DefaultOptions returns the documented defaults.
type Options struct {
	// QueueSize is how many messages may wait for delivery, in all and to each receiver;
	// one more is dropped. Each receiver has a worker of its own, so that one that is down or
	// slow delays only its own messages.
	QueueSize int
	// Attempts bounds the posts of one message (the first and the retries); Timeout bounds each.
	Attempts int
	Timeout  time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts; it doubles from MinBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Remember is how many sent (or pending) message keys are kept for deduplication; the
	// oldest is forgotten first.
	Remember int
	// Client posts the messages; nil for one that follows no redirects (a redirect would
	// carry the message, and perhaps the URL's token, to another place).
	Client *http.Client
	// Report, when set, is called with the outcome of every message: from Notify for a
	// message dropped or deduplicated, from a worker once a delivery is sent or has failed.
	// It must return quickly.
	Report func(Result)
}

// DefaultOptions returns Options with queues of 100 messages, 5 attempts of 10s each, retries backing off from 1s to 30s, and 10,000 keys remembered.
func DefaultOptions() Options {
	return Options{QueueSize: 100, Attempts: 5, Timeout: 10 * time.Second,
		MinBackoff: time.Second, MaxBackoff: 30 * time.Second, Remember: 10000}
}

// Receiver is where messages go: a notification of ferry.yaml with its URL resolved.
type Receiver struct {
	Name string // the notification's name
	Type string // Slack, Teams or Webhook
	URL  string // a secret: never logged, never in a Result
}

// Outcome is what became of one message.
type Outcome string

// The outcomes of a message, as the metric ferry_notifications_total counts them.
const (
	Sent         Outcome = "sent"         // the receiver answered 2xx
	Failed       Outcome = "failed"       // every attempt failed, or the receiver refused it (4xx)
	Dropped      Outcome = "dropped"      // the queue was full, or the Notifier stopped first
	Deduplicated Outcome = "deduplicated" // the same message was sent (or is on its way) already
)

// Result reports the outcome of one message to one receiver. It never holds the receiver's URL.
type Result struct {
	Receiver string // the receiver's name
	Event    Event
	Env      string
	Revision string
	Outcome  Outcome
	Attempts int           // posts made (0 unless Sent or Failed)
	Latency  time.Duration // from Notify to the receiver's 2xx answer (Sent only)
	Err      error         // why it failed or was dropped; nil otherwise
}

// Notifier delivers messages in the background; build it with New and run it with Run.
type Notifier struct {
	opts  Options
	queue chan delivery
	sent  *keys
}

// delivery is one message on its way to one receiver.
type delivery struct {
	to     Receiver
	msg    Message
	key    string
	queued time.Time
}

// New returns a Notifier with opts; zero fields take DefaultOptions' values.
func New(opts Options) *Notifier {
	def := DefaultOptions()
	for _, f := range []struct{ v, d *int }{{&opts.QueueSize, &def.QueueSize},
		{&opts.Attempts, &def.Attempts}, {&opts.Remember, &def.Remember}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	for _, f := range []struct{ v, d *time.Duration }{{&opts.Timeout, &def.Timeout},
		{&opts.MinBackoff, &def.MinBackoff}, {&opts.MaxBackoff, &def.MaxBackoff}} {
		if *f.v <= 0 {
			*f.v = *f.d
		}
	}
	if opts.Client == nil {
		opts.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Notifier{opts: opts, queue: make(chan delivery, opts.QueueSize), sent: newKeys(opts.Remember)}
}

// Notify queues m for r and returns at once. A message whose key — receiver, event,
// environment, revision, and for approval-needed the stage — was sent or queued before is
// deduplicated; a message that finds the queue full is dropped. Both are reported, never
// waited for.
func (n *Notifier) Notify(r Receiver, m Message) {
	d := delivery{to: r, msg: m, key: keyOf(r.Name, m), queued: time.Now()}
	if !n.sent.add(d.key) {
		n.report(d, Deduplicated, 0, nil)
		return
	}
	select {
	case n.queue <- d:
	default:
		n.sent.remove(d.key) // not sent: a later occurrence may be
		n.report(d, Dropped, 0, errQueueFull)
	}
}

// keyOf is the deduplication key of m for receiver name. A rollout may wait for approval at
// more than one stage of one revision: each is a message.
func keyOf(name string, m Message) string {
	key := name + "\x00" + string(m.Event) + "\x00" + m.Env + "\x00" + m.Revision
	if m.Event == ApprovalNeeded {
		key += "\x00" + m.Stage
	}
	return key
}

// Run delivers queued messages until ctx ends, with a worker for each receiver (by name); a
// delivery in progress then stops, and messages still queued are reported dropped.
func (n *Notifier) Run(ctx context.Context) {
	lanes := map[string]chan delivery{}
	var wg gosync.WaitGroup
	defer func() {
		wg.Wait()
		for _, lane := range append([]chan delivery{n.queue}, slices.Collect(maps.Values(lanes))...) {
			n.dropAll(lane)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-n.queue:
			lane := lanes[d.to.Name]
			if lane == nil {
				lane = make(chan delivery, n.opts.QueueSize)
				lanes[d.to.Name] = lane
				wg.Add(1)
				go func() { defer wg.Done(); n.work(ctx, lane) }()
			}
			select {
			case lane <- d:
			default:
				n.report(d, Dropped, 0, errQueueFull)
			}
		}
	}
}

// work delivers the messages of one receiver's lane until ctx ends.
func (n *Notifier) work(ctx context.Context, lane <-chan delivery) {
	for {
		select {
		case <-ctx.Done():
			return
		case d := <-lane:
			n.deliver(ctx, d)
		}
	}
}

// dropAll reports every message left in queue dropped.
func (n *Notifier) dropAll(queue chan delivery) {
	for {
		select {
		case d := <-queue:
			n.report(d, Dropped, 0, errStopped)
		default:
			return
		}
	}
}

func (n *Notifier) report(d delivery, o Outcome, attempts int, err error) {
	if o == Failed || o == Dropped {
		n.sent.remove(d.key)
	}
	if n.opts.Report == nil {
		return
	}
	res := Result{Receiver: d.to.Name, Event: d.msg.Event, Env: d.msg.Env, Revision: d.msg.Revision,
		Outcome: o, Attempts: attempts, Err: err}
	if o == Sent {
		res.Latency = time.Since(d.queued)
	}
	n.opts.Report(res)
}

// keys is a bounded set of message keys: past its size, the oldest key is forgotten.
type keys struct {
	mu    gosync.Mutex
	max   int
	seq   uint64
	byKey map[string]uint64 // key -> when it was added
	order []keyAt           // keys in the order added; removed ones stay until evicted
}

type keyAt struct {
	key string
	seq uint64
}

func newKeys(max int) *keys { return &keys{max: max, byKey: map[string]uint64{}} }

// add adds key and reports whether it was new.
func (k *keys) add(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.byKey[key]; ok {
		return false
	}
	k.seq++
	k.byKey[key] = k.seq
	k.order = append(k.order, keyAt{key, k.seq})
	for len(k.byKey) > k.max || len(k.order) > 2*k.max {
		old := k.order[0]
		k.order = k.order[1:]
		if k.byKey[old.key] == old.seq {
			delete(k.byKey, old.key)
		}
	}
	return true
}

func (k *keys) remove(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.byKey, key)
}
