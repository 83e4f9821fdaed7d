package source

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	gosync "sync"

	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
)

// MaxAdvertisement bounds the ref advertisement (the answer to GET …/info/refs) ferry reads
// from an HTTP git server. go-git keeps every advertised ref in memory, so a server that
// advertises without end would otherwise grow the agent's heap until the fetch timeout. A
// repository with 100,000 branches advertises about 6 MiB.
const MaxAdvertisement = 16 << 20

// ErrAdvertisementTooLarge is wrapped when a server advertises more than MaxAdvertisement
// bytes of refs.
var ErrAdvertisementTooLarge = fmt.Errorf("the server advertised more than %d MiB of refs", MaxAdvertisement>>20)

var installHTTP gosync.Once

// installCappedHTTP makes go-git's http and https transports read ref advertisements through
// capAdvertisement. go-git chooses transports per protocol for the whole process. The
// environment's proxy settings and CA files still apply, through http.DefaultTransport; but
// per-endpoint options (a client certificate, a CA bundle, InsecureSkipTLS or a proxy in
// go-git's options), which ferry never sets, would make go-git refuse the wrapped transport
// with an error naming its type: whoever adds one must cap the advertisement another way.
func installCappedHTTP() {
	installHTTP.Do(func() {
		c := githttp.NewClient(&http.Client{Transport: capAdvertisement{next: http.DefaultTransport}})
		client.InstallProtocol("http", c)
		client.InstallProtocol("https", c)
	})
}

// capAdvertisement limits the body of ref advertisements to MaxAdvertisement bytes.
type capAdvertisement struct{ next http.RoundTripper }

func (t capAdvertisement) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/info/refs") {
		return resp, err
	}
	resp.Body = &cappedBody{body: resp.Body, left: MaxAdvertisement}
	return resp, nil
}

type cappedBody struct {
	body io.ReadCloser
	left int64
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, ErrAdvertisementTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.body.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.body.Close() }
