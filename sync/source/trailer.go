package source

import (
	"context"
	"strings"
)

// Message returns the full message of revision, a commit SHA that Tree would accept. Its
// error is like Tree's.
func (s *Source) Message(ctx context.Context, revision string) (string, error) {
	c, err := s.commit(ctx, revision)
	if err != nil {
		return "", failed(err)
	}
	return c.Message, nil
}

// Trailer returns the value of the git trailer key (compared without regard to case) in
// message, and whether it is there. Trailers are what `git interpret-trailers` reads: the
// `Key: value` lines of the message's last paragraph, never its first (the subject). A value
// may go on in lines that begin with white space. The paragraph counts as trailers when every
// line is a trailer or goes on with one, or, as git allows, when it holds a trailer git itself
// writes (Signed-off-by, "(cherry picked from commit …)") and at least a quarter of its lines
// are trailers. Of several trailers with key, the first counts.
func Trailer(message, key string) (string, bool) {
	for _, t := range trailers(message) {
		if strings.EqualFold(t[0], key) {
			return t[1], true
		}
	}
	return "", false
}

// trailers returns the key-value pairs of message's trailer block, in order (nil when it has
// none).
func trailers(message string) [][2]string {
	paras := paragraphs(message)
	if len(paras) < 2 {
		return nil // a message of one paragraph is all subject
	}
	lines := paras[len(paras)-1]
	var out [][2]string
	trailerLines, others, gitWritten, continues := 0, 0, false, false
	for _, line := range lines {
		if continues && (line[0] == ' ' || line[0] == '\t') { // the trailer's value goes on
			out[len(out)-1][1] = strings.TrimSpace(out[len(out)-1][1] + " " + strings.TrimSpace(line))
			continue
		}
		key, value, ok := trailerLine(line)
		continues = ok
		switch {
		case ok:
			trailerLines++
			gitWritten = gitWritten || strings.EqualFold(key, "Signed-off-by")
			out = append(out, [2]string{key, value})
		case strings.HasPrefix(line, "(cherry picked from commit "):
			trailerLines, gitWritten = trailerLines+1, true
		default:
			others++
		}
	}
	// A line that is no trailer makes the paragraph part of the body, unless git wrote a
	// trailer into it and a quarter of its lines are trailers.
	if others > 0 && !(gitWritten && 4*trailerLines >= trailerLines+others) {
		return nil
	}
	return out
}

// trailerLine splits a `Key: value` line. A key is letters, digits and hyphens, as git
// requires; white space may come between it and the colon.
func trailerLine(line string) (key, value string, ok bool) {
	key, value, ok = strings.Cut(line, ":")
	key = strings.TrimRight(key, " \t")
	if !ok || key == "" {
		return "", "", false
	}
	for _, r := range key {
		if !(r == '-' || '0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z') {
			return "", "", false
		}
	}
	return key, strings.TrimSpace(value), true
}

// paragraphs splits message into paragraphs of non-blank lines, without trailing white
// space. A stored message has no comment lines left: git removed them when committing.
func paragraphs(message string) [][]string {
	var paras [][]string
	var cur []string
	for _, line := range strings.Split(strings.ReplaceAll(message, "\r\n", "\n"), "\n") {
		line = strings.TrimRight(line, " \t\r")
		switch {
		case line == "":
			if cur != nil {
				paras, cur = append(paras, cur), nil
			}
			continue
		}
		cur = append(cur, line)
	}
	if cur != nil {
		paras = append(paras, cur)
	}
	return paras
}
