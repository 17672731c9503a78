// Package autoscale is dlibot's cost-driven DLI queue scaling. Its
// algorithmic core lives in sub-packages: demand (the weekly demand model),
// plan (the plan compiler and DLI's constraints), sim (the simulator and the
// policy benchmark), trace (job traces and the generator) and chart (the
// PNG).
//
// This package is the event-driven function on top of them:
//
//   - Autoscaler.Handle consumes Cloud Eye load samples
//     (dlibot.metrics.sample) into per-queue, per-week history in the KV
//     bucket dlibot_autoscale (revision-checked, idempotent), and runs the
//     reactive net on them: a backlog seen for NetSamples consecutive
//     samples scales the queue out now (6.5), once per cooldown (a
//     create-only claim per window), never in.
//   - On each tick it rebuilds every queue's model from KV (projected to
//     the coming week with the queue's own weekly growth once four weeks
//     are stored, demand.EstimateGrowth), chooses the
//     plan's knob (quantile, plans reserved for re-asserting firings, or
//     one size) out of sample with sim.Tune — leave-one-week-out over the
//     history, the same code the simulator's dlibot policy runs — compiles
//     the chosen and runner-up plans, backtests them against the queue's
//     current plans (backtest.go says what is replayed) and, per queue
//     mode, recommends the plan in Slack (with a chart) or applies it with
//     Reconcile, within a change budget and only when the saving beats a
//     threshold. Stale or missing samples change nothing and raise one
//     alert.
//   - Every decision is a dlibot.autoscale.decision CloudEvent (Decision).
//
// Reconcile makes a queue's dlibot-owned scheduled CU changes (reference
// 6.6–6.10) match a compiled schedule, never touching other plans.
// docs/autoscale.md is the user documentation.
package autoscale
