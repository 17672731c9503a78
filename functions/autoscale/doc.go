// Package autoscale is dlibot's cost-driven DLI queue scaling. Its
// algorithmic core lives in sub-packages: demand (the weekly demand model),
// plan (the plan compiler and DLI's constraints), sim (the simulator and the
// policy benchmark), trace (job traces and the generator) and chart (the
// PNG). This package holds what talks to DLI: Reconcile makes a queue's
// dlibot-owned scheduled CU changes (reference 6.6–6.10) match a compiled
// schedule.
package autoscale
