package promote

import "strings"

func replaceAll(s, old, new string) string { return strings.ReplaceAll(s, old, new) }

// hasPrefixPath reports whether p is dir or inside it.
func hasPrefixPath(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
