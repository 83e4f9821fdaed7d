package redact

import (
	"net/url"
	"regexp"
	"strings"
)

// Mask replaces every secret shown.
const Mask = "***"

// URL returns raw with its credentials masked: the password of the user info, or the whole user
// info of a URL with a user name alone (often a token) unless it is an ssh URL (whose user,
// often "git", is no secret), and the value of every query parameter. The rest of raw is kept as
// written, even when it does not parse as a URL, so that it reads as the user typed it.
func URL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		authority = maskUserInfo(scheme, authority[:at]) + authority[at:]
	}
	return scheme + "://" + authority + maskQuery(tail)
}

// maskUserInfo masks the password of user:password, or a lone user name but for ssh.
func maskUserInfo(scheme, userinfo string) string {
	if user, _, has := strings.Cut(userinfo, ":"); has {
		return user + ":" + Mask
	}
	if s := strings.ToLower(scheme); s == "ssh" || strings.HasSuffix(s, "+ssh") {
		return userinfo
	}
	return Mask
}

// maskQuery masks every value of the query string in tail (path?query#fragment).
func maskQuery(tail string) string {
	path, query, has := strings.Cut(tail, "?")
	if !has {
		return tail
	}
	query, fragment, hasFragment := strings.Cut(query, "#")
	params := strings.Split(query, "&")
	for i, p := range params {
		if key, _, has := strings.Cut(p, "="); has {
			params[i] = key + "=" + Mask
		} else if p != "" {
			params[i] = Mask // a bare "?token"
		}
	}
	out := path + "?" + strings.Join(params, "&")
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// urlInText finds URLs in a message: up to a space or a quote, which end a URL as Go's
// errors quote it (Get "https://…": …).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>` + "`" + `]+`)

// Text returns s with the credentials of every URL in it masked, as [URL] does.
func Text(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, URL)
}

// Credentials returns the secrets in raw's user info, for a [Set]: the password, or the lone
// user name of a URL that is not ssh. None for a URL without user info.
func Credentials(raw string) []string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	authority, _, _ := strings.Cut(rest, "/")
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return nil
	}
	userinfo := authority[:at]
	if masked := maskUserInfo(scheme, userinfo); masked == userinfo {
		return nil
	}
	var out []string
	user, password, has := strings.Cut(userinfo, ":")
	if !has {
		password = user
	}
	out = append(out, password)
	if unescaped, err := url.PathUnescape(password); err == nil && unescaped != password {
		out = append(out, unescaped)
	}
	return out
}
