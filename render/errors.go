package render

import (
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
	b.WriteString(repoRelative(e.Err.Error()))
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// repoRelative removes kustomize's view of the repository's location from a message, so that
// it names files as they are in the repository.
func repoRelative(msg string) string {
	msg = strings.ReplaceAll(msg, virtualRoot+"/", "")
	return strings.ReplaceAll(msg, virtualRoot, ".")
}
