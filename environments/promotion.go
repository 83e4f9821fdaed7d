package environments

import (
	"container/heap"
	"slices"
	"strings"
)

// PromotionOrder returns the names of p's environments with every promotion source before
// the environments promoted from it. Among environments whose sources are placed, file order
// decides, so the order is stable. Environments on a promotion cycle, which Parse refuses,
// come last in file order; a source that names no environment counts as none.
func (p *Pipeline) PromotionOrder() []string {
	src := sources(p.Environments)
	targets := make([][]int, len(src))
	ready := &indexHeap{}
	for i, s := range src {
		if s < 0 {
			heap.Push(ready, i)
		} else {
			targets[s] = append(targets[s], i)
		}
	}
	order := make([]string, 0, len(src))
	placed := make([]bool, len(src))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		order = append(order, p.Environments[i].Name)
		placed[i] = true
		for _, t := range targets[i] {
			heap.Push(ready, t)
		}
	}
	for i, ok := range placed {
		if !ok {
			order = append(order, p.Environments[i].Name)
		}
	}
	return order
}

// sources returns, for each environment, the index of the environment it is promoted from, or
// -1 when it has no promotion or its source is unknown or itself. A name that occurs twice
// refers to its first occurrence.
func sources(envs []Environment) []int {
	byName := make(map[string]int, len(envs))
	for i, e := range envs {
		if _, dup := byName[e.Name]; !dup {
			byName[e.Name] = i
		}
	}
	src := make([]int, len(envs))
	for i, e := range envs {
		src[i] = -1
		if e.Promotion == nil {
			continue
		}
		if j, ok := byName[e.Promotion.From]; ok && j != i {
			src[i] = j
		}
	}
	return src
}

// validatePromotions checks that every promotion source names another environment and that
// the promotion graph has no cycle. A cycle is reported once, at the promotion.from of its
// first environment in file order.
func validatePromotions(r *report, envs []Environment) {
	names := make(map[string]bool, len(envs))
	for _, e := range envs {
		names[e.Name] = true
	}
	for i, e := range envs {
		if e.Promotion == nil || e.Promotion.From == "" {
			continue
		}
		at := field(field(index("environments", i), "promotion"), "from")
		switch from := e.Promotion.From; {
		case from == e.Name:
			r.errorf(at, "must name another environment, not %q itself", from)
		case !names[from]:
			r.errorf(at, "no environment is called %q", from)
		}
	}
	for _, c := range cycles(sources(envs)) {
		steps := make([]string, len(c))
		for k, i := range c {
			steps[k] = envs[i].Name
		}
		at := field(field(index("environments", c[0]), "promotion"), "from")
		r.errorf(at, "promotion cycle %s; promotions must form a graph without cycles", strings.Join(steps, " → "))
	}
}

// validatePromotionMode checks promotion.mode: images or revision. A revision promotion moves
// the environment's pin, so the environment needs one; and it moves the whole repository, so
// promotion.images, which would say that only some tags move, is refused rather than ignored.
func validatePromotionMode(r *report, e *Environment, at string) {
	switch pr := e.Promotion; pr.Mode {
	case PromotionImages:
	case PromotionRevision:
		if e.Pin == "" {
			r.errorf(field(at, "mode"), "mode %s moves the environment's pin: set pin: to the commit SHA %s runs now", pr.Mode, e.Name)
		}
		if len(pr.Images) > 0 {
			r.errorf(field(at, "images"), "is for mode images only: mode %s promotes the whole revision, every image with it", pr.Mode)
		}
	default:
		r.errorf(field(at, "mode"), "must be %s or %s, got %q", PromotionImages, PromotionRevision, pr.Mode)
	}
}

// cycles returns the cycles of the graph in which environment i is promoted from src[i]
// (-1: from none). Each cycle lists environment indexes in the direction promotions flow,
// starting and ending at its first environment in file order: [a b a] for a → b → a.
func cycles(src []int) [][]int {
	const (
		unseen = iota
		onWalk
		done
	)
	state := make([]int, len(src))
	var found [][]int
	for i := range src {
		var walk []int // i, its source, its source's source, …
		j := i
		for j >= 0 && state[j] == unseen {
			state[j] = onWalk
			walk = append(walk, j)
			j = src[j]
		}
		if j >= 0 && state[j] == onWalk {
			found = append(found, flow(walk[slices.Index(walk, j):]))
		}
		for _, k := range walk {
			state[k] = done
		}
	}
	return found
}

// flow turns a cycle given along promotion sources, [m s1 … sk] where m's source is s1 and
// sk's source is m, into the direction promotions flow, starting and ending at its smallest
// index: min → … → min.
func flow(bySource []int) []int {
	m := slices.Index(bySource, slices.Min(bySource))
	c := append(slices.Clone(bySource[m:]), bySource[:m]...) // rotated to start at the min
	out := []int{c[0]}
	for k := len(c) - 1; k >= 1; k-- {
		out = append(out, c[k])
	}
	return append(out, c[0])
}

// indexHeap is a min-heap of environment indexes, to pick the first in file order.
type indexHeap []int

func (h indexHeap) Len() int           { return len(h) }
func (h indexHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h indexHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *indexHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *indexHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
