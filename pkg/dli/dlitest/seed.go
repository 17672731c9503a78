package dlitest

// STUB: replaced by the demo data set (queues, plans, SQL jobs, Flink jobs,
// Spark batches in every interesting state). Caller holds e.mu.
func (e *Emulator) seedDemo() {}
