package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/s3gate/s3gate/config"
)

// certReloader serves the S3 listener's certificate and swaps it for the
// files' current contents on reload. Handshakes read the certificate through
// an atomic pointer, so a reload never blocks or races them; connections
// already open keep the certificate they were made with.
type certReloader struct {
	files config.TLS
	log   *slog.Logger
	cert  atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the pair once; s3gate does not start without it.
func newCertReloader(files config.TLS, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{files: files, log: log}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the files again. On any error the current certificate stays.
func (r *certReloader) reload() error {
	cert, err := r.files.LoadKeyPair()
	if err != nil {
		return err
	}
	r.cert.Store(&cert)
	r.logLoaded(cert.Leaf)
	return nil
}

// logLoaded names the certificate now served, and warns when clients will
// refuse it for its dates.
func (r *certReloader) logLoaded(leaf *x509.Certificate) {
	if leaf == nil {
		return
	}
	attrs := []any{"subject", leaf.Subject.String(), "serial", hex.EncodeToString(leaf.SerialNumber.Bytes()),
		"not_after", leaf.NotAfter.UTC().Format(time.RFC3339), "file", r.files.CertFile}
	now := time.Now()
	switch {
	case now.After(leaf.NotAfter):
		r.log.Warn("tls certificate has expired; clients will refuse it", attrs...)
	case now.Before(leaf.NotBefore):
		r.log.Warn("tls certificate is not valid yet; clients will refuse it", attrs...)
	default:
		r.log.Info("tls certificate loaded", attrs...)
	}
}

func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// tlsConfig is the S3 listener's TLS configuration: TLS 1.2 or later; for
// 1.2 only forward-secret AEAD suites (1.3 has nothing else); and HTTP/1.1
// only, as S3 itself: clients' 100-continue and aws-chunked uploads are
// built for it.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		GetCertificate: r.getCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// watch reloads the certificate on every signal until ctx is done. A failed
// reload is logged and the certificate in use keeps serving.
func (r *certReloader) watch(ctx context.Context, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := r.reload(); err != nil {
				r.log.Error("tls certificate reload failed; still serving the previous certificate", "error", err)
			}
		}
	}
}
