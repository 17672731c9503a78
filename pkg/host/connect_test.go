package host

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// testPKI writes a CA, a server certificate for 127.0.0.1 and a client
// certificate as PEM files in dir.
type testPKI struct {
	caFile, certFile, keyFile string
	serverTLS                 *tls.Config
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dlibot test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(cn string, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	}
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := testPKI{caFile: write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))}
	sc, sk := issue("127.0.0.1", x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")})
	cc, ck := issue("dlibot", x509.ExtKeyUsageClientAuth, nil)
	p.certFile, p.keyFile = write("client.pem", cc), write("client-key.pem", ck)
	pair, err := tls.X509KeyPair(sc, sk)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p.serverTLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool,
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12}
	return p
}

func TestConnectWithMutualTLS(t *testing.T) {
	pki := newTestPKI(t)
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		NoLog: true, NoSigs: true, TLS: true, TLSVerify: true, TLSConfig: pki.serverTLS, TLSTimeout: 2})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	url := "tls://" + s.Addr().String()
	quiet := slog.New(slog.DiscardHandler)
	ctx := context.Background()

	good := &Config{NATSURL: url, NATSTLSCA: pki.caFile, NATSTLSCert: pki.certFile, NATSTLSKey: pki.keyFile}
	if err := good.Validate(); err != nil && !strings.Contains(err.Error(), "HTTP") {
		t.Fatal(err)
	}
	nc, js, err := good.Connect(ctx, "test", quiet)
	if err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}
	if err := NATSReady(nc, js)(ctx); err != nil {
		t.Fatal(err)
	}
	nc.Close()

	for name, c := range map[string]*Config{
		"no client certificate": {NATSURL: url, NATSTLSCA: pki.caFile},
		"unknown CA":            {NATSURL: url, NATSTLSCert: pki.certFile, NATSTLSKey: pki.keyFile},
	} {
		if nc, _, err := c.Connect(ctx, "test", quiet); err == nil {
			nc.Close()
			t.Errorf("%s: connected", name)
		}
	}
}

func TestConnectErrorsHideCredentials(t *testing.T) {
	// A closed port: the connect fails, and its error must not carry the
	// password from the URL.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := &Config{NATSURL: "nats://bob:planted-password@" + addr}
	_, _, err := c.Connect(context.Background(), "test", slog.New(slog.DiscardHandler))
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "planted-password") {
		t.Fatalf("error leaks the password: %v", err)
	}
	if _, _, err := (&Config{}).Connect(context.Background(), "test", nil); err != ErrNoNATS {
		t.Fatalf("no URL: %v", err)
	}
}
