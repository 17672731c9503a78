package obsevent

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// SMN message types (header X-SMN-MESSAGE-TYPE and body field type).
const (
	SMNNotification             = "Notification"
	SMNSubscriptionConfirmation = "SubscriptionConfirmation"
	SMNUnsubscribeConfirmation  = "UnsubscribeConfirmation"
	// HeaderSMNType is the header naming the SMN message type.
	HeaderSMNType = "X-SMN-MESSAGE-TYPE"
)

// SMNMessage is an SMN HTTP(S) delivery (SMN user guide, "HTTP/HTTPS
// messages"): the OBS notification travels as a JSON string in Message.
type SMNMessage struct {
	// Type is Notification, SubscriptionConfirmation or
	// UnsubscribeConfirmation.
	Type string `json:"type"`
	// Signature is the base64 signature of StringToSign.
	Signature string `json:"signature"`
	// Subject is the message subject (may be empty).
	Subject string `json:"subject"`
	// TopicURN is the SMN topic.
	TopicURN string `json:"topic_urn"`
	// MessageID identifies the message (SMN may deliver it again).
	MessageID string `json:"message_id"`
	// SignatureVersion is "v1".
	SignatureVersion string `json:"signature_version"`
	// Message is the payload: the OBS notification as a JSON string.
	Message string `json:"message"`
	// UnsubscribeURL cancels the subscription.
	UnsubscribeURL string `json:"unsubscribe_url"`
	// SubscribeURL confirms a subscription (confirmation messages).
	SubscribeURL string `json:"subscribe_url"`
	// SigningCertURL is where the signing certificate is (https).
	SigningCertURL string `json:"signing_cert_url"`
	// Timestamp is when SMN sent the message.
	Timestamp string `json:"timestamp"`
}

// StringToSign is the text SMN signs: the message's signed fields sorted by
// name, each name on a line followed by its value on the next. A
// Notification signs message, message_id, subject (omitted when blank),
// timestamp, topic_urn and type; the subscription messages sign message,
// message_id, subscribe_url, timestamp, topic_urn and type.
func (m *SMNMessage) StringToSign() string {
	var pairs [][2]string
	if m.Type == SMNNotification {
		pairs = [][2]string{{"message", m.Message}, {"message_id", m.MessageID}}
		if strings.TrimSpace(m.Subject) != "" {
			pairs = append(pairs, [2]string{"subject", m.Subject})
		}
		pairs = append(pairs, [2]string{"timestamp", m.Timestamp}, [2]string{"topic_urn", m.TopicURN}, [2]string{"type", m.Type})
	} else {
		pairs = [][2]string{{"message", m.Message}, {"message_id", m.MessageID}, {"subscribe_url", m.SubscribeURL},
			{"timestamp", m.Timestamp}, {"topic_urn", m.TopicURN}, {"type", m.Type}}
	}
	var b strings.Builder
	for _, p := range pairs {
		b.WriteString(p[0])
		b.WriteByte('\n')
		b.WriteString(p[1])
		b.WriteByte('\n')
	}
	return b.String()
}

func decodeSMN(header map[string][]string, body []byte) (Result, error) {
	var m SMNMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return Result{}, fmt.Errorf("%w: SMN message: %v", ErrMalformed, err)
	}
	if ht := headerGet(header, HeaderSMNType); ht != "" && m.Type != "" && ht != m.Type {
		return Result{}, fmt.Errorf("%w: SMN header type %q differs from body type %q", ErrMalformed, ht, m.Type)
	}
	if m.Type == "" {
		m.Type = headerGet(header, HeaderSMNType)
	}
	switch m.Type {
	case SMNSubscriptionConfirmation, SMNUnsubscribeConfirmation:
		return Result{Format: FormatSMN, SMN: &m, Ignored: []Ignored{{Format: FormatSMN, EventName: m.Type, Reason: "control"}}}, nil
	case SMNNotification:
	default:
		return Result{}, fmt.Errorf("%w: SMN message type %q (want %s, %s or %s)", ErrMalformed, m.Type,
			SMNNotification, SMNSubscriptionConfirmation, SMNUnsubscribeConfirmation)
	}
	inner := []byte(strings.TrimSpace(m.Message))
	if len(inner) == 0 || inner[0] != '{' {
		return Result{}, fmt.Errorf("%w: SMN notification %s does not carry a JSON message", ErrMalformed, m.MessageID)
	}
	res, err := Decode(nil, inner)
	if err != nil {
		return Result{}, fmt.Errorf("SMN notification %s: %w", m.MessageID, err)
	}
	if res.SMN != nil {
		return Result{}, fmt.Errorf("%w: SMN message nested in an SMN message", ErrMalformed)
	}
	res.Format, res.SMN = FormatSMN, &m
	return res, nil
}

// ErrSignature reports an SMN message whose signature does not verify.
var ErrSignature = errors.New("obsevent: SMN signature invalid")

// SMNVerifier checks SMN message signatures with the X.509 certificate
// named by signing_cert_url, fetched over HTTPS from an allowed host and
// cached. It is safe for concurrent use.
type SMNVerifier struct {
	// CertHosts are the host suffixes a signing_cert_url and a
	// subscribe_url may point to, e.g. ".myhuaweicloud.com". Required (an
	// empty list allows nothing).
	CertHosts []string
	// TopicURNs, when set, are the only topics accepted.
	TopicURNs []string
	// Client fetches certificates and confirms subscriptions; default a
	// client with a 10s timeout.
	Client *http.Client

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

// AllowedURL checks that raw is an https URL on one of CertHosts.
func (v *SMNVerifier) AllowedURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%w: URL %q is not an https URL", ErrSignature, raw)
	}
	host := strings.ToLower(u.Hostname())
	for _, suf := range v.CertHosts {
		suf = strings.ToLower(suf)
		if host == strings.TrimPrefix(suf, ".") || (strings.HasPrefix(suf, ".") && strings.HasSuffix(host, suf)) {
			return nil
		}
	}
	return fmt.Errorf("%w: host %q of %q is not one of the allowed SMN hosts %v", ErrSignature, host, raw, v.CertHosts)
}

func (v *SMNVerifier) client() *http.Client {
	if v.Client != nil {
		return v.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Verify checks m's topic and signature (base64 RSA PKCS#1 v1.5 over
// [SMNMessage.StringToSign], SHA-256, or SHA-1 for signature_version v1
// senders that use it). Errors wrap [ErrSignature].
func (v *SMNVerifier) Verify(ctx context.Context, m *SMNMessage) error {
	if len(v.TopicURNs) > 0 {
		ok := false
		for _, t := range v.TopicURNs {
			ok = ok || t == m.TopicURN
		}
		if !ok {
			return fmt.Errorf("%w: topic %q is not accepted", ErrSignature, m.TopicURN)
		}
	}
	if m.Signature == "" {
		return fmt.Errorf("%w: message %s is not signed", ErrSignature, m.MessageID)
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil {
		return fmt.Errorf("%w: signature is not base64", ErrSignature)
	}
	cert, err := v.cert(ctx, m.SigningCertURL)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return fmt.Errorf("%w: signing certificate has no RSA key", ErrSignature)
	}
	text := []byte(m.StringToSign())
	h256 := sha256.Sum256(text)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, h256[:], sig) == nil {
		return nil
	}
	h1 := sha1.Sum(text)
	if rsa.VerifyPKCS1v15(pub, crypto.SHA1, h1[:], sig) == nil {
		return nil
	}
	return fmt.Errorf("%w: message %s", ErrSignature, m.MessageID)
}

func (v *SMNVerifier) cert(ctx context.Context, raw string) (*x509.Certificate, error) {
	if err := v.AllowedURL(raw); err != nil {
		return nil, err
	}
	v.mu.Lock()
	c := v.certs[raw]
	v.mu.Unlock()
	if c != nil {
		return c, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSignature, err)
	}
	resp, err := v.client().Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch signing certificate: %v", ErrSignature, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: fetch signing certificate: HTTP %d", ErrSignature, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: read signing certificate: %v", ErrSignature, err)
	}
	der := b
	if p, _ := pem.Decode(b); p != nil {
		der = p.Bytes
	}
	c, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: parse signing certificate: %v", ErrSignature, err)
	}
	v.mu.Lock()
	if v.certs == nil {
		v.certs = map[string]*x509.Certificate{}
	}
	v.certs[raw] = c
	v.mu.Unlock()
	return c, nil
}

// Confirm answers a SubscriptionConfirmation by GETting its subscribe_url,
// which must be an https URL on an allowed host.
func (v *SMNVerifier) Confirm(ctx context.Context, m *SMNMessage) error {
	if m.Type != SMNSubscriptionConfirmation {
		return nil
	}
	if err := v.AllowedURL(m.SubscribeURL); err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.SubscribeURL, nil)
	if err != nil {
		return err
	}
	resp, err := v.client().Do(req)
	if err != nil {
		return fmt.Errorf("obsevent: confirm SMN subscription: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("obsevent: confirm SMN subscription: HTTP %d", resp.StatusCode)
	}
	return nil
}
