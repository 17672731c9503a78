// Package chaos is dlibot's system-level attack harness: it runs dlibot as
// real processes (`dlibot serve`, several replicas) against an embedded
// NATS server with JetStream, the DLI emulator (pkg/dli/dlitest) and the
// Slack fake (pkg/notify/slacktest), all on 127.0.0.1, and then breaks
// things under load — kill -9 a replica mid-burst, restart NATS, pause a
// replica past AckWait, inject DLI and Slack faults, take DLI down (20 s;
// 10 minutes in the long form) — and checks from the JetStream streams,
// the emulator's request log and the Slack fake's records that no event
// is lost, no side effect happens twice and every failure is visible.
//
// TestChaos (chaos_test.go) runs the scenario groups of the *_test.go
// files; the Benchmark functions measure load through a real `dlibot
// serve` process (ingestion, chatops, autoscale samples and its reactive
// net, jobwatch with 25,000 jobs). `go test ./chaos` runs the short form
// (part of `make test`); `make chaos` runs the long form (CHAOS_FULL=1:
// bigger bursts, a pause past the 30 s AckWait, a 10-minute DLI
// outage). Every process the harness starts is in its own process group
// and is killed when the test ends.
package chaos
