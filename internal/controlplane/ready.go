package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

const (
	// readyTimeout bounds each wait for a process to become ready; a cold
	// apiserver takes a few seconds.
	readyTimeout = 60 * time.Second
	// pollInterval is the pause between readiness checks.
	pollInterval = 100 * time.Millisecond
	// requestTimeout bounds one readiness check request.
	requestTimeout = 2 * time.Second
)

// waitReady calls check until it succeeds, p exits, or ctx or readyTimeout
// ends. Errors name what was awaited and end with the process's last lines.
func waitReady(ctx context.Context, p *process, what string, check func(context.Context) error) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited before it was ready: %v%s", what, p.err, p.out.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s: %w; last check: %v%s",
				what, time.Since(start).Round(time.Millisecond), ctx.Err(), err, p.out.tail())
		case <-tick.C:
		}
	}
}

// waitEtcd waits until etcd's /health reports healthy.
func (cp *ControlPlane) waitEtcd(ctx context.Context, p *process) error {
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	url := cp.etcdURL() + "/health"
	return waitReady(ctx, p, "etcd at "+cp.etcdURL(), func(ctx context.Context) error {
		body, err := getOK(ctx, client, url, "")
		if err != nil {
			return err
		}
		if !strings.Contains(body, `"health":"true"`) {
			return fmt.Errorf("GET %s: unhealthy: %s", url, body)
		}
		return nil
	})
}

// waitAPIServer waits until the apiserver's /readyz returns 200 and the
// default namespace exists; a controller creates it only after readiness.
// The first time, it also loads the serving certificate the apiserver writes
// into its cert dir, and keeps it as the CA for clients.
func (cp *ControlPlane) waitAPIServer(ctx context.Context, p *process) error {
	ca := cp.ca
	var client *http.Client
	defer func() {
		if client != nil {
			client.CloseIdleConnections()
		}
	}()
	token := cp.tokens[AdminUser]
	err := waitReady(ctx, p, "kube-apiserver at "+cp.Host(), func(ctx context.Context) error {
		if client == nil {
			if ca == nil {
				b, err := os.ReadFile(cp.path(servingCert))
				if err != nil {
					return fmt.Errorf("serving certificate not written yet: %w", err)
				}
				ca = b
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(ca) {
				// Caught between creating and writing the file.
				ca = nil
				return fmt.Errorf("no certificate in %s", cp.path(servingCert))
			}
			client = &http.Client{
				Timeout:   requestTimeout,
				Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
			}
		}
		// /readyz needs no authorization once RBAC's bootstrap roles
		// exist, but the token makes the first polls succeed too.
		if _, err := getOK(ctx, client, cp.Host()+"/readyz", token); err != nil {
			return err
		}
		_, err := getOK(ctx, client, cp.Host()+"/api/v1/namespaces/default", token)
		return err
	})
	if err != nil {
		return err
	}
	// Set only before Start returns: RESTConfig reads it without the lock.
	if cp.ca == nil {
		cp.ca = ca
	}
	return nil
}

// getOK returns the body of a GET of url that returned 200, or an error naming
// the URL and status; a failing /readyz lists only its failed checks.
func getOK(ctx context.Context, client *http.Client, url, token string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("GET %s: read body: %w", url, err)
	}
	body := strings.TrimSpace(string(b))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, failedChecks(body))
	}
	return body, nil
}

// failedChecks keeps the "[-]name failed" lines of a /readyz body, or returns
// the body unchanged if it has none.
func failedChecks(body string) string {
	var failed []string
	for line := range strings.Lines(body) {
		if strings.HasPrefix(line, "[-]") {
			failed = append(failed, strings.TrimSpace(line))
		}
	}
	if len(failed) == 0 {
		return body
	}
	return strings.Join(failed, "; ")
}
