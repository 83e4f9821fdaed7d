package promote

import "strings"

// hasPrefixPath reports whether p is dir or inside it.
func hasPrefixPath(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, strings.TrimSuffix(dir, "/")+"/")
}
