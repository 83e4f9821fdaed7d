package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/ferry-cd/ferry/sync"
)

// maxSubject bounds the SUBJECT column of `ferry status --history`, in runes.
const maxSubject = 50

// writeStatusHistory writes, after a blank line, each environment's sync history (the last
// sync.MaxHistory syncs that did something, as the agent recorded them), newest first, with
// ages relative to now. A failed or halted sync's message follows its subject.
func writeStatusHistory(w io.Writer, states []*sync.State, now time.Time) error {
	for _, st := range states {
		if _, err := fmt.Fprintf(w, "\n%s: last syncs, newest first\n", st.Env); err != nil {
			return err
		}
		if len(st.History) == 0 {
			if _, err := fmt.Fprintln(w, "  none recorded"); err != nil {
				return err
			}
			continue
		}
		tw := tabwriter.NewWriter(w, 6, 4, 3, ' ', 0)
		fmt.Fprintln(tw, "  AGE\tREVISION\tTRIGGER\tSTAGE\tRESULT\tDURATION\tSUBJECT\tMESSAGE")
		for _, rec := range slices.Backward(st.History) {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", age(now, rec.At), shortRevision(rec.Revision),
				cmp.Or(rec.Trigger, "-"), cmp.Or(rec.Stage, "-"), rec.Result, durationOf(rec.Duration),
				cmp.Or(truncate(oneLine(rec.Subject), maxSubject), "-"), truncate(oneLine(rec.Message), maxMessage))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// durationOf formats a sync's duration as the sync line does (1.42s), "-" when unknown.
func durationOf(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

// newestFirst returns history newest first, as `ferry status` and the status page show it.
func newestFirst(history []sync.SyncRecord) []sync.SyncRecord {
	out := slices.Clone(history)
	slices.Reverse(out)
	return out
}
