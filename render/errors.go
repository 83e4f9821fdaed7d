package render

import (
	"regexp"
	"strings"
)

// Error is a render failure. File is the repository-relative file it concerns (the overlay's
// kustomization when no better file is known) and Object the object, as Kind namespace/name,
// where there is one.
type Error struct {
	File   string
	Object string
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Object != "" {
		b.WriteString(": ")
		b.WriteString(e.Object)
	}
	b.WriteString(": ")
	b.WriteString(redactLiterals(repoRelative(e.Err.Error())))
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// repoRelative removes kustomize's view of the repository's location from a message, so that
// it names files as they are in the repository.
func repoRelative(msg string) string {
	msg = strings.ReplaceAll(msg, virtualRoot+"/", "")
	return strings.ReplaceAll(msg, virtualRoot, ".")
}

// kustomize quotes a generator literal without "=" whole, and such a literal is often a secret
// typed with another separator ("password:hunter2"): messages show it as "***".
var (
	literalSources = regexp.MustCompile(`literal sources \[[^\]]*\]`)
	literalSource  = regexp.MustCompile(`invalid literal source .*?, expected key=value`)
)

func redactLiterals(msg string) string {
	msg = literalSources.ReplaceAllLiteralString(msg, "literal sources [***]")
	return literalSource.ReplaceAllLiteralString(msg, "invalid literal source ***, expected key=value")
}
