// Package events is dlibot's event plumbing: the CloudEvent types and NATS
// subjects of the event contract, the codec between CloudEvents and NATS or
// HTTP messages, the [Outcome] a handler returns, and the JetStream consumer
// loop ([Consumer]) that runs a [Handler] with bounded concurrency, dedup on
// CloudEvent source+id, retries and a dead-letter queue.
//
// Delivery is at-least-once. The consumer turns it into "at most one
// successful handler run per source+id" with a KV claim (see [Config.Dedup]);
// handlers still make their side effects idempotent because a crash between
// the effect and the claim's completion replays the event.
//
// The wire format and its semantics are described in docs/events.md.
package events
